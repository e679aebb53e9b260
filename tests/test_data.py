"""Tests of the tf.data input pipeline (attention_colorization/data).

Per-example ops are checked both eagerly and inside ``Dataset.map`` (the two can
differ); the assembled pipeline is checked for its element contract, bad-file
handling, determinism, TFRecord and pairs-file sources.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_photo, tiny_config
from PIL import Image

from attention_colorization import color
from attention_colorization.data import (
    PipelineStats,
    center_crop,
    decode_image,
    distort_reference,
    find_decodable,
    list_image_files,
    make_dataset,
    parse_example,
    random_crop,
    resize_short_side,
    shard_name,
    split_files,
    to_example,
    write_tfrecords,
)

# ----------------------------------------------------------------- helpers


def load_test_config(**data_overrides):
    """configs/test.py with ``data.*`` overrides."""
    return tiny_config(**{f"data.{k}": v for k, v in data_overrides.items()})


def in_map(fn, *args):
    """Runs ``fn(*args)`` inside ``Dataset.map`` and returns the single result."""
    ds = tf.data.Dataset.from_tensors(tuple(args)).map(fn)
    return tf.nest.map_structure(lambda t: t.numpy(), next(iter(ds)))


def encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def count_elements(ds) -> int:
    return sum(int(b["l"].shape[0]) for b in ds)


def solid(rgb, height=40, width=48) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (height, width, 3)).copy()


HUES = [(220, 30, 30), (30, 200, 40), (40, 60, 220), (230, 210, 20), (200, 40, 200)]


def mean_ab(batch_ab: np.ndarray) -> np.ndarray:
    """[B, S, S, 2] -> [B, 2] mean ab per image."""
    return batch_ab.reshape(batch_ab.shape[0], -1, 2).mean(axis=1)


@pytest.fixture()
def bad_dir(tmp_path, photo_dir):
    """3 good photos plus a truncated JPEG, a text .png, an empty file, a dangling link."""
    root = tmp_path / "mixed"
    root.mkdir()
    for name in ("photo_0.png", "photo_1.jpg", "photo_2.png"):
        shutil.copy(photo_dir / name, root / name)
    data = (photo_dir / "photo_3.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "notes.png").write_text("this is not an image\n")
    (root / "empty.JPG").write_bytes(b"")
    os.symlink(tmp_path / "missing.jpg", root / "dangling.jpeg")
    return root


@pytest.fixture()
def hue_dir(tmp_path):
    """Five solid-colour images of distinct hues: a reference's colour names its source."""
    root = tmp_path / "hues"
    root.mkdir()
    for i, rgb in enumerate(HUES):
        Image.fromarray(solid(rgb)).save(root / f"hue_{i}.png")
    return root


# -------------------------------------------------------- per-example ops


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP", "GIF"])
def test_decode_image_lossless_formats_eager_and_map(fmt):
    # GIF is palettised: a smooth photo would be dithered, so use few colours.
    image = synthetic_photo(24, 36, seed=3) // 64 * 64
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    data = encode(image, fmt, **kwargs)
    eager = decode_image(tf.constant(data)).numpy()
    mapped = in_map(lambda d: decode_image(d), tf.constant(data))
    assert eager.dtype == np.uint8 and eager.shape == (24, 36, 3)
    np.testing.assert_array_equal(eager, image)
    np.testing.assert_array_equal(mapped, eager)


def test_decode_image_gray_rgba_and_gif_first_frame():
    gray = synthetic_photo(16, 20, seed=1)[..., 0]
    out = decode_image(tf.constant(encode(gray, "PNG"))).numpy()
    assert out.shape == (16, 20, 3)
    np.testing.assert_array_equal(out[..., 2], gray)
    rgba = np.concatenate(
        [synthetic_photo(16, 20, seed=2), np.full((16, 20, 1), 7, np.uint8)], -1
    )
    out = decode_image(tf.constant(encode(rgba, "PNG"))).numpy()
    np.testing.assert_array_equal(out, rgba[..., :3])
    frames = [Image.fromarray(solid(c, 16, 20)) for c in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    data = tf.constant(buffer.getvalue())
    for out in (decode_image(data).numpy(), in_map(decode_image, data)):
        assert out.shape == (16, 20, 3)
        np.testing.assert_array_equal(out[0, 0], [255, 0, 0])


def test_decode_image_downscales_large_jpeg():
    data = tf.constant(encode(synthetic_photo(200, 160, seed=4), "JPEG", quality=95))
    full = decode_image(data).numpy()
    assert full.shape == (200, 160, 3)
    # Long side 200 > 64: ratio 4 gives 50 x 40 (ratio 2 would give 100 > 64).
    small = decode_image(data, max_decode_side=64).numpy()
    assert small.shape == (50, 40, 3)
    np.testing.assert_array_equal(in_map(lambda d: decode_image(d, 64), data), small)
    # ... unless that short side would fall under min_short_side: ratio 2.
    assert decode_image(data, 64, min_short_side=48).shape == (100, 80, 3)
    # A downscaled decode still shows the same picture.
    reference = tf.image.resize(full[None].astype(np.float32), [50, 40], antialias=True)
    assert np.abs(small - reference[0].numpy()).mean() < 8.0
    # PNGs are never decoded downscaled.
    png = tf.constant(encode(synthetic_photo(200, 160, seed=4), "PNG"))
    assert decode_image(png, max_decode_side=64).shape == (200, 160, 3)


@pytest.mark.parametrize("kind", ["truncated", "text", "empty"])
def test_decode_image_raises_on_corrupt_bytes(kind):
    jpeg = encode(synthetic_photo(64, 64, seed=5), "JPEG")
    data = {"truncated": jpeg[: len(jpeg) // 2], "text": b"hello", "empty": b""}[kind]
    with pytest.raises(tf.errors.InvalidArgumentError):
        decode_image(tf.constant(data), max_decode_side=32)


@pytest.mark.parametrize("shape", [(40, 60), (90, 30), (20, 20)])
def test_resize_short_side_eager_and_map(shape):
    image = tf.constant(synthetic_photo(*shape, seed=6))
    eager = resize_short_side(image, 24).numpy()
    mapped = in_map(lambda x: resize_short_side(x, 24), image)
    h, w = shape
    expected = (24, round(w * 24 / h)) if h <= w else (round(h * 24 / w), 24)
    assert eager.shape == (*expected, 3) and eager.dtype == np.float32
    assert eager.min() >= 0.0 and eager.max() <= 1.0
    np.testing.assert_allclose(mapped, eager, atol=1e-6)
    # uint8 input is scaled to [0, 1]: a white image stays exactly white.
    white = resize_short_side(tf.fill([30, 50, 3], tf.constant(255, tf.uint8)), 10)
    np.testing.assert_allclose(white.numpy(), 1.0, atol=1e-6)


def test_random_crop_is_a_seeded_window_eager_and_map():
    image = tf.constant(np.random.default_rng(0).random((30, 40, 3)), tf.float32)
    seed = tf.constant([7, 11], tf.int64)
    eager = random_crop(image, 16, seed).numpy()
    mapped = in_map(lambda x, s: random_crop(x, 16, s), image, seed)
    np.testing.assert_array_equal(mapped, eager)
    np.testing.assert_array_equal(random_crop(image, 16, seed).numpy(), eager)
    windows = {
        (y, x)
        for y in range(30 - 15)
        for x in range(40 - 15)
        if np.array_equal(image.numpy()[y : y + 16, x : x + 16], eager)
    }
    assert len(windows) == 1
    crops = {
        random_crop(image, 16, tf.constant([s, 1])).numpy().tobytes() for s in range(8)
    }
    assert len(crops) > 1


def test_center_crop_eager_and_map():
    image = tf.constant(np.random.default_rng(1).random((31, 44, 3)), tf.float32)
    eager = center_crop(image, 16).numpy()
    np.testing.assert_array_equal(eager, image.numpy()[7:23, 14:30])
    np.testing.assert_array_equal(in_map(lambda x: center_crop(x, 16), image), eager)


DISTORT = dict(min_crop=0.6, max_rotation_deg=10.0, warp_strength=0.05, warp_grid=4)


def test_distort_reference_seeded_eager_and_map():
    image = resize_short_side(tf.constant(synthetic_photo(48, 64, seed=8)), 40)
    seed = tf.constant([3, 4], tf.int64)
    eager = distort_reference(image, seed, size=32, **DISTORT).numpy()
    mapped = in_map(
        lambda x, s: distort_reference(x, s, size=32, **DISTORT), image, seed
    )
    assert eager.shape == (32, 32, 3) and eager.dtype == np.float32
    assert eager.min() >= 0.0 and eager.max() <= 1.0
    np.testing.assert_allclose(mapped, eager, atol=1e-5)
    again = distort_reference(image, seed, size=32, **DISTORT).numpy()
    np.testing.assert_array_equal(again, eager)
    other = distort_reference(image, tf.constant([3, 5], tf.int64), size=32, **DISTORT)
    assert np.abs(other.numpy() - eager).mean() > 1e-3


def test_distort_reference_without_distortion_is_the_image_or_its_mirror():
    image = tf.constant(np.random.default_rng(2).random((24, 24, 3)), tf.float32)
    flips = []
    for s in range(6):
        out = distort_reference(
            image, tf.constant([s, 0]), 24, 1.0, 0.0, 0.0, 4
        ).numpy()
        same = np.allclose(out, image.numpy(), atol=1e-5)
        mirrored = np.allclose(out, image.numpy()[:, ::-1], atol=1e-5)
        assert same or mirrored
        flips.append(mirrored)
    assert any(flips) and not all(flips)


def test_distort_reference_differs_from_target_but_correlates():
    photo = resize_short_side(tf.constant(synthetic_photo(72, 96, seed=9)), 40)
    target = center_crop(photo, 32)
    unrelated = center_crop(
        resize_short_side(tf.constant(synthetic_photo(72, 96, seed=10)), 40), 32
    )

    def hist(rgb):
        return color.ab_histogram(color.rgb_to_lab(rgb)[..., 1:])

    for s in range(4):
        ref = distort_reference(photo, tf.constant([s, 9]), size=32, **DISTORT)
        assert np.abs(ref.numpy() - target.numpy()).mean() > 0.01  # not a copy
        related_his = color.histogram_intersection(hist(ref), hist(target)).numpy()
        unrelated_his = color.histogram_intersection(
            hist(unrelated), hist(target)
        ).numpy()
        assert related_his > 0.6 and related_his > unrelated_his + 0.2


def test_warp_is_smooth_and_bounded():
    ramp = np.stack(
        np.meshgrid(np.linspace(0, 1, 64), np.linspace(0, 1, 64), indexing="ij"), -1
    )
    image = tf.constant(np.concatenate([ramp, np.zeros((64, 64, 1))], -1), tf.float32)
    seed = tf.constant([1, 2])
    plain = distort_reference(image, seed, 64, 1.0, 0.0, 0.0, 4).numpy()
    warped = distort_reference(image, seed, 64, 1.0, 0.0, 0.05, 4).numpy()
    # On a ramp of slope 1/63 per pixel, a displacement of d pixels shifts the
    # value by d/63; amplitude 0.05 x 64 px bounds d by ~3.2 (bicubic overshoot).
    shift = np.abs(warped - plain)[..., :2] * 63
    assert shift.max() > 0.5  # it warps
    assert shift.max() < 0.05 * 64 * 1.5  # within the amplitude
    # Smooth: neighbouring pixels move almost alike (away from the clamped border).
    moved = (warped[..., 0] - plain[..., 0])[8:-8, 8:-8] * 63  # [48, 48] pixels
    assert np.abs(np.diff(moved, axis=0)).max() < 0.5
    assert np.abs(np.diff(moved, axis=1)).max() < 0.5


def test_to_example_eager_and_map():
    target = tf.constant(np.random.default_rng(3).random((16, 16, 3)), tf.float32)
    ref = tf.constant(np.random.default_rng(4).random((16, 16, 3)), tf.float32)
    floor = 1e-3
    eager = to_example(target, ref, floor)
    mapped = in_map(lambda t, r: to_example(t, r, floor), target, ref)
    shapes = {
        "l": (16, 16, 1),
        "ab": (16, 16, 2),
        "ref_lab": (16, 16, 3),
        "ref_hist": (313,),
    }
    for key, shape in shapes.items():
        assert eager[key].shape == shape and eager[key].dtype == tf.float32
        np.testing.assert_allclose(mapped[key], eager[key].numpy(), atol=1e-4)
    lab = color.rgb_to_lab(target).numpy()
    np.testing.assert_allclose(eager["l"].numpy(), lab[..., :1], atol=1e-5)
    np.testing.assert_allclose(eager["ab"].numpy(), lab[..., 1:], atol=1e-5)
    hist = eager["ref_hist"].numpy()
    assert abs(hist.sum() - 1.0) < 1e-5
    assert hist.min() >= floor / (1 + 313 * floor) * (1 - 1e-4)


# ------------------------------------------------------------- sources


def test_list_and_split_files(photo_dir):
    paths = list_image_files(str(photo_dir))
    assert len(paths) == 8 and any("sub" in p for p in paths)
    train, val = split_files(paths, str(photo_dir), 0.3)
    assert val and train and sorted(train + val) == paths and not set(train) & set(val)
    assert split_files(paths, str(photo_dir), 0.3) == (train, val)
    # The split depends on names under the root, not on where the root is.
    moved = [p.replace(str(photo_dir), "/elsewhere") for p in paths]
    assert split_files(moved, "/elsewhere", 0.3)[1] == [
        p.replace(str(photo_dir), "/elsewhere") for p in val
    ]
    # A tiny fraction still holds out one file.
    train, val = split_files(paths, str(photo_dir), 1e-6)
    assert len(val) == 1 and len(train) == 7


def test_find_decodable_reports_sizes(bad_dir, tmp_path):
    # Unreadable paths too: a folder where a file should be, a missing file.
    (tmp_path / "folder.jpg").mkdir()
    unreadable = [str(tmp_path / "folder.jpg"), str(tmp_path / "gone.png")]
    paths = list_image_files(str(bad_dir)) + unreadable
    found = find_decodable(paths)
    assert sorted(os.path.basename(paths[i]) for i in found) == [
        "photo_0.png",
        "photo_1.jpg",
        "photo_2.png",
    ]
    for i, hw in found.items():
        assert hw == Image.open(paths[i]).size[::-1]


# ------------------------------------------------------------ pipeline


def test_train_batches_follow_the_element_contract(photo_dir):
    config = load_test_config(train_dir=str(photo_dir))
    ds = make_dataset(config, "train")
    b, s = config.train.batch_size, config.data.image_size
    expected = {
        "l": [b, s, s, 1],
        "ab": [b, s, s, 2],
        "ref_lab": [b, s, s, 3],
        "ref_hist": [b, 313],
    }
    for key, shape in expected.items():
        assert ds.element_spec[key].shape.as_list() == shape
        assert ds.element_spec[key].dtype == tf.float32
    floor = config.data.hist_floor
    for batch in ds.take(3):
        batch = {k: v.numpy() for k, v in batch.items()}
        assert 0.0 <= batch["l"].min() and batch["l"].max() <= 100.0
        assert np.abs(batch["ab"]).max() <= 110.0
        assert (
            0.0 <= batch["ref_lab"][..., 0].min()
            and batch["ref_lab"][..., 0].max() <= 100.0
        )
        assert np.abs(batch["ref_lab"][..., 1:]).max() <= 110.0
        np.testing.assert_allclose(batch["ref_hist"].sum(-1), 1.0, atol=1e-5)
        assert batch["ref_hist"].min() >= floor / (1 + 313 * floor) * (1 - 1e-3)
        assert batch["ab"].std() > 1.0  # colourful targets, not gray
        # The histogram is the one of the reference delivered with it.
        hist = color.ab_histogram(batch["ref_lab"][..., 1:], floor=floor).numpy()
        np.testing.assert_allclose(batch["ref_hist"], hist, atol=1e-5)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_global_batch_size(photo_dir, batch_size):
    config = load_test_config(train_dir=str(photo_dir))
    ds = make_dataset(config, "train", batch_size=batch_size)
    assert ds.element_spec["l"].shape[0] == batch_size
    for batch in ds.take(4):  # more than one epoch of 7 training images
        assert batch["l"].shape[0] == batch_size
    default = next(iter(make_dataset(config, "train")))
    assert default["l"].shape[0] == config.train.batch_size


def test_deterministic_mode_repeats_batches_exactly(photo_dir):
    config = load_test_config(
        train_dir=str(photo_dir), deterministic=True, related_prob=0.5
    )

    def batches(cfg):
        return [
            {k: v.numpy() for k, v in b.items()}
            for b in make_dataset(cfg, "train").take(5)
        ]

    first, second = batches(config), batches(config)
    for a, b in zip(first, second, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
    config.seed = config.seed + 1
    third = batches(config)
    assert any(
        not np.array_equal(a["ref_lab"], c["ref_lab"])
        for a, c in zip(first, third, strict=True)
    )


def test_related_prob_picks_the_reference_source(hue_dir, tmp_path):
    # Solid hues: a related reference has the target's colour, an unrelated one not.
    def target_and_ref_colours(folder, prob):
        config = load_test_config(
            train_dir=str(folder), related_prob=prob, val_fraction=0.0
        )
        config.data.deterministic = True
        batch = next(iter(make_dataset(config, "train", batch_size=12)))
        return mean_ab(batch["ab"].numpy()), mean_ab(batch["ref_lab"].numpy()[..., 1:])

    target, ref = target_and_ref_colours(hue_dir, 1.0)
    np.testing.assert_allclose(ref, target, atol=1.0)
    target, ref = target_and_ref_colours(hue_dir, 0.5)
    same = np.linalg.norm(ref - target, axis=-1) < 1.0
    assert 0 < same.sum() < len(same)
    # Unrelated references are never the target, even with two images (where
    # independent shuffles would pair an image with itself half of the time).
    two = tmp_path / "two"
    two.mkdir()
    for name in ("hue_0.png", "hue_1.png"):
        shutil.copy(hue_dir / name, two / name)
    for folder in (hue_dir, two):
        target, ref = target_and_ref_colours(folder, 0.0)
        assert (np.linalg.norm(ref - target, axis=-1) > 20.0).all()


def test_validation_is_centre_cropped_and_reproducible(photo_dir):
    config = load_test_config(val_dir=str(photo_dir), train_dir=str(photo_dir))
    runs = [list(make_dataset(config, "val", batch_size=3)) for _ in range(2)]
    assert [b["l"].shape[0] for b in runs[0]] == [3, 3, 2]
    for a, b in zip(*runs, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key].numpy(), b[key].numpy())
    # Repeated (as the trainer uses it): full, static batches; every pass is equal.
    repeated = make_dataset(config, "val", batch_size=4, repeat=True)
    assert repeated.element_spec["l"].shape[0] == 4
    batches = [b["ref_lab"].numpy() for b in repeated.take(4)]  # two passes of 8
    np.testing.assert_array_equal(batches[0], batches[2])
    np.testing.assert_array_equal(batches[1], batches[3])
    np.testing.assert_array_equal(batches[0][:3], runs[0][0]["ref_lab"].numpy())
    # Element 0 is the first file by name, centre-cropped.
    first = list_image_files(str(photo_dir))[0]
    image = decode_image(tf.io.read_file(first), config.data.max_decode_side)
    crop = center_crop(
        resize_short_side(image, config.data.resize_short), config.data.image_size
    )
    lab = color.rgb_to_lab(crop).numpy()
    np.testing.assert_allclose(runs[0][0]["l"][0].numpy(), lab[..., :1], atol=1e-3)


def test_train_and_val_hold_out_disjoint_shares(photo_dir):
    config = load_test_config(train_dir=str(photo_dir), val_fraction=0.3)
    stats = PipelineStats()
    train = make_dataset(config, "train", batch_size=1, repeat=False, stats=stats)
    val = make_dataset(config, "val", batch_size=1, stats=stats)
    n_train, n_val = count_elements(train), count_elements(val)
    _, expected_val = split_files(list_image_files(str(photo_dir)), str(photo_dir), 0.3)
    assert n_val == len(expected_val) and n_train + n_val == 8
    assert stats.num_files == 8 and stats.skipped == 0


def test_corrupt_files_are_skipped_counted_and_logged(bad_dir, caplog):
    config = load_test_config(train_dir=str(bad_dir), val_fraction=0.0)
    stats = PipelineStats()
    with caplog.at_level(logging.WARNING):
        ds = make_dataset(config, "train", batch_size=1, repeat=False, stats=stats)
    assert stats.skipped == 4
    assert sorted(os.path.basename(p) for p in stats.skipped_files) == [
        "dangling.jpeg",
        "empty.JPG",
        "notes.png",
        "truncated.jpg",
    ]
    assert stats.num_files == 3
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Skipped 4 " in m and str(bad_dir) in m for m in warnings)
    assert count_elements(ds) == 3  # the good images all come through


def test_file_going_bad_after_start_is_skipped_at_run_time(bad_dir):
    # Every reference is a distorted copy of its target (related_prob 1), so
    # exactly the one element whose target went bad is dropped. With unrelated
    # references the bad file would also drop the elements that drew it as
    # their reference, a random number of them.
    config = load_test_config(
        train_dir=str(bad_dir), val_fraction=0.0, related_prob=1.0
    )
    ds = make_dataset(config, "train", batch_size=1, repeat=False)
    (bad_dir / "photo_1.jpg").write_bytes(b"\xff\xd8\xff garbage")
    assert count_elements(ds) == 2


def test_folder_without_decodable_image_is_a_clear_error(tmp_path):
    folder = tmp_path / "junk"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"")
    (folder / "b.png").write_text("text")
    config = load_test_config(train_dir=str(folder), val_fraction=0.0)
    with pytest.raises(ValueError, match=r"No decodable image found in .*junk"):
        make_dataset(config, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images here")
    with pytest.raises(ValueError, match=r"No image files .* found in .*empty"):
        make_dataset(load_test_config(train_dir=str(empty)), "train")
    with pytest.raises(ValueError, match="does not exist"):
        make_dataset(load_test_config(train_dir=str(tmp_path / "nope")), "train")
    with pytest.raises(ValueError, match="No training data"):
        make_dataset(load_test_config(), "train")


def test_tfrecord_round_trip(bad_dir, tmp_path):
    pattern = str(tmp_path / "records" / "train")
    result = write_tfrecords(str(bad_dir), pattern, num_shards=2)
    assert result.shards == [shard_name(pattern, i, 2) for i in range(2)]
    assert result.shards[0].endswith("train-00000-of-00002.tfrecord")
    assert result.written == 3 and result.skipped == 4
    assert sorted(os.listdir(tmp_path / "records")) == [
        "train-00000-of-00002.tfrecord",
        "train-00001-of-00002.tfrecord",
    ]  # no temporary files left behind
    records = [parse_example(r) for r in tf.data.TFRecordDataset(result.shards)]
    names = sorted(r["filename"].numpy().decode() for r in records)
    assert names == ["photo_0.png", "photo_1.jpg", "photo_2.png"]
    for r in records:
        path = bad_dir / r["filename"].numpy().decode()
        assert r["image"].numpy() == path.read_bytes()
        assert (int(r["height"]), int(r["width"])) == Image.open(path).size[::-1]

    config = load_test_config(
        train_tfrecords=str(tmp_path / "records" / "train-*-of-*.tfrecord"),
        val_fraction=0.0,
        deterministic=True,
    )
    assert (
        count_elements(make_dataset(config, "train", batch_size=1, repeat=False)) == 3
    )
    runs = [list(make_dataset(config, "train").take(2)) for _ in range(2)]
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a["ref_lab"].numpy(), b["ref_lab"].numpy())
    # Without val_tfrecords, validation is the hashed share of the training records.
    config.data.val_fraction = 0.5
    n_train = count_elements(make_dataset(config, "train", batch_size=1, repeat=False))
    n_val = count_elements(make_dataset(config, "val", batch_size=1))
    assert n_train + n_val == 3
    # A damaged shard loses its broken record, not the run.
    shard = pathlib.Path(result.shards[0])
    shard.write_bytes(shard.read_bytes()[:-10])
    config.data.val_fraction = 0.0
    assert (
        count_elements(make_dataset(config, "train", batch_size=1, repeat=False)) == 2
    )


def test_pairs_csv_gives_the_listed_references(photo_dir, hue_dir, tmp_path):
    # Solid gray targets: a random crop of either has its exact lightness.
    grays = {"dark.png": (60, 60, 60), "light.png": (200, 200, 200)}
    for name, rgb in grays.items():
        Image.fromarray(solid(rgb)).save(tmp_path / name)
    csv_path = tmp_path / "pairs.csv"
    rows = [
        ("dark.png", str(hue_dir / "hue_0.png")),
        (str(tmp_path / "light.png"), str(hue_dir / "hue_1.png")),
        (str(photo_dir / "photo_1.jpg"), str(tmp_path / "missing.png")),  # dropped
    ]
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["target", "reference"])
        writer.writerows(rows)
    config = load_test_config(pairs_csv=str(csv_path), val_fraction=0.0)
    stats = PipelineStats()
    batches = list(
        make_dataset(config, "train", batch_size=1, repeat=False, stats=stats)
    )
    assert len(batches) == 2 and stats.skipped == 1
    hue_ab = color.rgb_to_lab(np.array(HUES[:2], np.float32) / 255.0).numpy()[:, 1:]
    gray_l = color.rgb_to_lab(np.array(list(grays.values()), np.float32) / 255.0)
    gray_l = gray_l.numpy()[:, 0]  # [2]: about 25 and 81
    seen = set()
    for batch in batches:
        ref_ab = mean_ab(batch["ref_lab"].numpy()[..., 1:])[0]
        k = int(np.argmin(np.linalg.norm(hue_ab - ref_ab, axis=-1)))
        seen.add(k)
        # A solid reference, untouched ...
        np.testing.assert_allclose(ref_ab, hue_ab[k], atol=0.5)
        # ... that travels with its own target.
        np.testing.assert_allclose(batch["l"].numpy(), gray_l[k], atol=0.5)
    assert seen == {0, 1}


def test_tfrecords_are_read_once_per_epoch(photo_dir, tmp_path, monkeypatch):
    from attention_colorization.data import pipeline

    result = write_tfrecords(str(photo_dir), str(tmp_path / "rec" / "t"), num_shards=2)
    opened = []
    real = tf.data.TFRecordDataset

    def counting(path, *args, **kwargs):
        def note(p):
            opened.append(p.numpy().decode())
            return p

        path = tf.py_function(note, [path], tf.string)
        path.set_shape([])
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline.tf.data, "TFRecordDataset", counting)
    config = load_test_config(
        train_tfrecords=str(tmp_path / "rec" / "t-*-of-*.tfrecord"),
        val_tfrecords=str(tmp_path / "rec" / "t-*-of-*.tfrecord"),
        related_prob=0.0,
        deterministic=True,
    )
    n = count_elements(make_dataset(config, "train", batch_size=1, repeat=False))
    assert n == 8
    # One training epoch with unrelated references opens each shard once.
    assert sorted(opened) == sorted(result.shards)
    opened.clear()
    batches = list(make_dataset(config, "val", batch_size=1))
    assert len(batches) == 8 and sorted(opened) == sorted(result.shards)
    # Unrelated references come from the same pass: each is another photo's.
    for b in batches:
        assert not np.allclose(b["ref_lab"].numpy()[..., 0], b["l"].numpy()[..., 0])
