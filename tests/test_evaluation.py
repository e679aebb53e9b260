"""Tests of the evaluation package and tools/evaluate.py."""

from __future__ import annotations

import csv
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image
from skimage import color as skcolor
from skimage.metrics import structural_similarity

from attention_colorization.evaluation import (
    baselines,
    evaluate_lib,
    metrics,
    report,
    runners,
)
from attention_colorization.evaluation import pairs as pairs_lib

REPO = pathlib.Path(__file__).resolve().parents[1]
RESULT_COLUMNS = [
    "target",
    "reference",
    "kind",
    "method",
    "his_ref",
    "his_gt",
    "psnr",
    "ssim",
    "colorfulness",
]


def solid(rgb, height=16, width=16) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (height, width, 3)).copy()


def skimage_l(image) -> np.ndarray:
    """CIE L [H, W] by scikit-image (the oracle)."""
    return skcolor.rgb2lab(metrics.to_float_rgb(image))[..., 0]


# ------------------------------------------------------------------- metrics


def test_his_is_one_for_itself_and_zero_for_disjoint_colours():
    photo = synthetic_photo(40, 56, seed=3)
    assert metrics.his(photo, photo) == pytest.approx(1.0, abs=1e-5)
    # Histograms are means over pixels: the size does not matter.
    assert metrics.his(solid((200, 30, 30)), solid((200, 30, 30), 24, 40)) == (
        pytest.approx(1.0, abs=1e-5)
    )
    assert metrics.his(solid((220, 20, 20)), solid((20, 40, 220))) == pytest.approx(
        0.0, abs=1e-7
    )
    # A half-red, half-blue image shares half its histogram with the red one.
    half = np.concatenate([solid((220, 20, 20)), solid((20, 40, 220))], axis=1)
    assert metrics.his(half, solid((220, 20, 20))) == pytest.approx(0.5, abs=1e-5)


def test_psnr_of_known_mse():
    zeros = np.zeros((8, 8, 3), np.float32)
    # MSE 0.01 -> 10 log10(1 / 0.01) = 20 dB.
    assert metrics.psnr(zeros, np.full_like(zeros, 0.1)) == pytest.approx(
        20.0, abs=1e-4
    )
    # uint8: 51 / 255 = 0.2 on one channel of every pixel: MSE = 0.04 / 3.
    pred = np.zeros((8, 8, 3), np.uint8)
    pred[..., 1] = 51
    expected = 10 * math.log10(3 / 0.04)
    assert metrics.psnr(np.zeros_like(pred), pred) == pytest.approx(expected, abs=1e-4)
    assert metrics.psnr(pred, pred) == float("inf")
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(pred, pred[:4])


def test_ssim_by_hand_and_against_skimage():
    # Constant images: SSIM = (2 mx my + C1) / (mx^2 + my^2 + C1), C1 = 0.01^2.
    a = np.full((16, 16, 3), 0.5, np.float32)
    b = np.full((16, 16, 3), 0.25, np.float32)
    by_hand = (2 * 0.5 * 0.25 + 1e-4) / (0.5**2 + 0.25**2 + 1e-4)
    # tf.image.ssim computes in float32: the variances cancel to ~1e-4 of C2.
    assert metrics.ssim(a, b) == pytest.approx(by_hand, abs=3e-4)
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)

    rng = np.random.default_rng(0)
    gt = synthetic_photo(40, 48, seed=1)
    noise = rng.normal(0, 25, gt.shape)
    pred = np.clip(gt + noise, 0, 255).astype(np.uint8)
    oracle = structural_similarity(
        gt / 255.0,
        pred / 255.0,
        channel_axis=-1,
        data_range=1.0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    value = metrics.ssim(gt, pred)
    assert value == pytest.approx(oracle, abs=3e-4)
    assert 0.1 < value < 0.95  # Not trivially 0 or 1.


def test_colorfulness_by_hand():
    gray = np.repeat(np.linspace(0, 255, 64).astype(np.uint8)[None, :, None], 3, -1)
    assert metrics.colorfulness(np.repeat(gray, 8, axis=0)) == pytest.approx(0.0)
    # Half pure red (rg = 255, yb = 127.5), half pure blue (rg = 0, yb = -255):
    # mean_rg = 127.5, std_rg = 127.5; mean_yb = -63.75, std_yb = 191.25.
    image = np.concatenate([solid((255, 0, 0)), solid((0, 0, 255))], axis=1)
    by_hand = math.sqrt(127.5**2 + 191.25**2) + 0.3 * math.sqrt(127.5**2 + 63.75**2)
    assert metrics.colorfulness(image) == pytest.approx(by_hand, rel=1e-9)
    assert metrics.colorfulness(image.astype(np.float32) / 255) == pytest.approx(
        by_hand, rel=1e-6
    )


def test_metrics_take_images_under_eight_pixels():
    tiny = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    rgb = metrics.to_float_rgb(tiny)
    assert rgb.dtype == np.float64 and rgb.shape == (4, 4, 3)
    np.testing.assert_array_equal(rgb, tiny / 255.0)
    assert metrics.to_float_rgb(np.ones((4, 4, 4), np.float32)).shape == (4, 4, 3)
    assert metrics.colorfulness(tiny) >= 0.0


def test_aesthetics_scorer_plugin(tmp_path):
    (tmp_path / "my_scorer.py").write_text(
        "def score(rgb):\n    return float(rgb.mean())\n"
    )
    scorer = metrics.load_aesthetics_scorer(f"{tmp_path / 'my_scorer.py'}:score")
    assert isinstance(scorer, metrics.AestheticsScorer)
    assert scorer(solid((10, 20, 30))) == pytest.approx(20.0)
    assert metrics.load_aesthetics_scorer(None) is None
    assert metrics.load_aesthetics_scorer("math:sqrt")(4.0) == 2.0
    with pytest.raises(ValueError, match="module:function"):
        metrics.load_aesthetics_scorer("no_colon")
    with pytest.raises(ValueError, match="has no 'nope'"):
        metrics.load_aesthetics_scorer("math:nope")
    with pytest.raises(ValueError, match="cannot import"):
        metrics.load_aesthetics_scorer("not_a_module_xyz:f")


# ----------------------------------------------------------------- baselines


@pytest.mark.parametrize("method", ["gray", "welsh", "reinhard"])
def test_baselines_keep_the_lightness(method):
    target = synthetic_photo(40, 52, seed=5)
    reference = synthetic_photo(36, 30, seed=6)
    out = baselines.BASELINES[method](target, reference)  # float, before rounding
    assert out.shape == target.shape and out.dtype == np.float64
    assert np.abs(skimage_l(out) - skimage_l(target)).max() < 0.02
    # The L input form gives the same result as the RGB one.
    lum = baselines.lightness(target)
    np.testing.assert_allclose(baselines.BASELINES[method](lum, reference), out)
    if method != "gray":
        assert metrics.colorfulness(out) > 5.0


def test_reinhard_spreads_the_reference_mean_ab():
    ramp = np.linspace(0.4, 0.6, 24 * 24, dtype=np.float32).reshape(24, 24, 1)
    target = np.repeat(ramp, 3, axis=-1)
    # Two warm colours of moderate chroma: their mean stays in gamut for the ramp.
    reference = np.concatenate([solid((200, 150, 120)), solid((170, 160, 90))], 1)
    ref_ab = skcolor.rgb2lab(reference / 255.0)[..., 1:].reshape(-1, 2).mean(0)
    out_ab = skcolor.rgb2lab(baselines.reinhard(target, reference))[..., 1:]
    assert np.hypot(*ref_ab) > 15  # Clearly coloured.
    np.testing.assert_allclose(
        out_ab.reshape(-1, 2), np.broadcast_to(ref_ab, (576, 2)), atol=0.05
    )


def test_welsh_transfers_colour_by_luminance():
    # Reference: dark blue on the left, bright red on the right.
    blue, red = (20, 30, 140), (250, 90, 80)
    reference = np.concatenate([solid(blue, 40, 30), solid(red, 40, 30)], 1)
    # Target: a horizontal gray ramp, dark to bright.
    ramp = np.linspace(0.1, 0.8, 64, dtype=np.float32)
    target = np.repeat(np.repeat(ramp[None, :, None], 48, axis=0), 3, axis=-1)
    # The transferred ab: the darker half takes blue's, the brighter half red's.
    ab = baselines.welsh_ab(baselines.lightness(target), reference)  # [48, 64, 2]
    blue_ab = skcolor.rgb2lab(np.array([[blue]]) / 255.0)[0, 0, 1:]
    red_ab = skcolor.rgb2lab(np.array([[red]]) / 255.0)[0, 0, 1:]
    np.testing.assert_allclose(
        ab[:, :28], np.broadcast_to(blue_ab, (48, 28, 2)), atol=0.02
    )
    np.testing.assert_allclose(
        ab[:, -28:], np.broadcast_to(red_ab, (48, 28, 2)), atol=0.02
    )
    out = baselines.welsh(target, reference)
    assert (out[:, :16, 2] > out[:, :16, 0] + 0.1).all()  # Dark pixels come out blue.
    assert (out[:, -16:, 0] > out[:, -16:, 2] + 0.1).all()  # Bright ones red.
    # Chunking does not change the result; the jitter is seeded.
    np.testing.assert_array_equal(baselines.welsh(target, reference, chunk=7), out)


def test_local_std_matches_brute_force():
    rng = np.random.default_rng(1)
    lum = rng.uniform(0, 100, (9, 11))
    padded = np.pad(lum, 2, mode="reflect")
    brute = np.array(
        [[padded[y : y + 5, x : x + 5].std() for x in range(11)] for y in range(9)]
    )
    np.testing.assert_allclose(baselines.local_std(lum, 5), brute, atol=1e-9)


def test_jittered_grid_covers_the_reference():
    ys, xs = baselines.jittered_grid(100, 200, 200, np.random.default_rng(0))
    assert 180 <= len(ys) <= 220
    assert ys.min() >= 0 and ys.max() < 100 and xs.min() >= 0 and xs.max() < 200
    # One sample per cell: every quarter of the image gets about a quarter.
    quarter = ((ys < 50) & (xs < 100)).sum()
    assert abs(quarter - len(ys) / 4) <= 2


# --------------------------------------------------------------------- pairs


def write_csv(path: pathlib.Path, rows, header=("target", "reference", "kind")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_pairs_csv_relative_and_absolute_paths(photo_dir, tmp_path):
    path = write_csv(
        tmp_path / "pairs.csv",
        [
            (str(photo_dir / "photo_0.png"), str(photo_dir / "photo_1.jpg"), "related"),
            (str(photo_dir / "photo_2.png"), "#ff0000;#00ff00", "palette"),
        ],
    )
    pairs = pairs_lib.read_pairs_csv(path)
    assert [p.kind for p in pairs] == ["related", "palette"]
    assert pairs[0].reference == photo_dir / "photo_1.jpg"
    assert pairs[1].reference is None and pairs[1].palette == "#ff0000;#00ff00"
    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    for name in ("photo_0.png", "sub/photo_7.jpg"):
        (folder / name).write_bytes((photo_dir / name).read_bytes())
    rel = write_csv(
        folder / "rel.csv", [("photo_0.png", "sub/photo_7.jpg", "Independent")]
    )
    (pair,) = pairs_lib.read_pairs_csv(rel)
    assert pair.target == folder / "photo_0.png" and pair.kind == "independent"
    assert pair.reference == folder / "sub" / "photo_7.jpg"
    assert (pair.target_label, pair.reference_label) == (
        "photo_0.png",
        "sub/photo_7.jpg",
    )


@pytest.mark.parametrize(
    "header, row, message",
    [
        (
            ("target", "reference"),
            ("photo_0.png", "photo_1.jpg"),
            "missing column.*kind",
        ),
        (
            ("target", "reference", "kind"),
            ("photo_0.png", "nope.png", "related"),
            r":2: reference 'nope.png' not found",
        ),
        (
            ("target", "reference", "kind"),
            ("photo_0.png", "photo_1.jpg", "similar"),
            "unknown kind 'similar'",
        ),
        (
            ("target", "reference", "kind"),
            ("photo_0.png", "#zzzzzz", "palette"),
            "bad palette",
        ),
        (
            ("target", "reference", "kind"),
            ("", "photo_1.jpg", "related"),
            "empty target",
        ),
    ],
)
def test_bad_pairs_csv_fails_clearly(photo_dir, tmp_path, header, row, message):
    folder = tmp_path / "csv"
    folder.mkdir()
    for name in ("photo_0.png", "photo_1.jpg"):
        (folder / name).write_bytes((photo_dir / name).read_bytes())
    path = write_csv(folder / "pairs.csv", [row], header=header)
    with pytest.raises(pairs_lib.PairsError, match=message):
        pairs_lib.read_pairs_csv(path)


def test_pairs_csv_without_rows_or_file(tmp_path):
    with pytest.raises(pairs_lib.PairsError, match="no pairs"):
        pairs_lib.read_pairs_csv(write_csv(tmp_path / "empty.csv", []))
    with pytest.raises(pairs_lib.PairsError, match="no such pairs CSV"):
        pairs_lib.read_pairs_csv(tmp_path / "missing.csv")
    with pytest.raises(pairs_lib.PairsError, match="exactly one"):
        pairs_lib.load_pairs(None, None, tmp_path)


def test_nearest_and_farthest():
    distance = np.array([[0, 1, 5, 3], [1, 0, 2, 9], [5, 2, 0, 4], [3, 9, 4, 0]], float)
    nearest, farthest = pairs_lib.nearest_and_farthest(distance)
    np.testing.assert_array_equal(nearest, [1, 0, 1, 0])
    np.testing.assert_array_equal(farthest, [2, 3, 0, 1])


def test_distorted_copy_mirrors_crops_and_keeps_size():
    image = np.concatenate([solid((255, 0, 0), 40, 30), solid((0, 0, 255), 40, 30)], 1)
    copy = pairs_lib.distorted_copy(image)
    assert copy.shape == image.shape and copy.dtype == np.uint8
    assert (copy[:, :20, 2] > 200).all() and (copy[:, -20:, 0] > 200).all()  # Mirrored.
    np.testing.assert_array_equal(pairs_lib.distorted_copy(image), copy)


def test_pairs_from_dir_without_vgg(photo_dir, tmp_path):
    pairs, source = pairs_lib.load_pairs(
        None, photo_dir, tmp_path / "out", palettes="#ff0000,#00ff00;#0000ff"
    )
    targets = sorted({p.target for p in pairs})
    assert len(targets) == 8 and len(pairs) == 24
    assert "distorted copy" in source and "2 palette(s)" in source
    images = {t: metrics.load_rgb(t) for t in targets}
    hists = {
        t: metrics.ab_histogram(metrics.resize_center_crop(im, 64))
        for t, im in images.items()
    }
    for target in targets:
        mine = {p.kind: p for p in pairs if p.target == target}
        assert set(mine) == {"related", "independent", "palette"}
        related = mine["related"].reference
        assert related.is_file() and related.parent == tmp_path / "out" / "references"
        np.testing.assert_array_equal(
            metrics.load_rgb(related), pairs_lib.distorted_copy(images[target])
        )
        # Independent: the other photo with the least similar colour histogram.
        others = [t for t in targets if t != target]
        sims = [np.minimum(hists[target], hists[o]).sum() for o in others]
        assert mine["independent"].reference == others[int(np.argmin(sims))]
    palettes = [p.palette for p in pairs if p.kind == "palette"]
    assert palettes[:3] == ["#ff0000,#00ff00", "#0000ff", "#ff0000,#00ff00"]


def test_pairs_from_dir_with_vgg_weights_file(photo_dir, tmp_path):
    import keras

    weights = tmp_path / "vgg19_notop.weights.h5"
    keras.utils.set_random_seed(0)
    keras.applications.VGG19(
        include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg"
    ).save_weights(str(weights))
    pairs, source = pairs_lib.build_pairs_from_dir(
        photo_dir, tmp_path / "out", vgg_weights=str(weights), feature_size=32
    )
    assert "VGG19 feature space" in source
    assert not (tmp_path / "out" / "references").exists()
    images = [p.target for p in pairs if p.kind == "related"]
    for pair in pairs:
        assert pair.reference in images and pair.reference != pair.target
    # Related = nearest, independent = farthest by the features themselves.
    feats = pairs_lib.vgg_features(
        [metrics.load_rgb(t) for t in images], str(weights), 32
    )
    distance = 1.0 - feats @ feats.T
    for i, target in enumerate(images):
        kinds = {p.kind: p.reference for p in pairs if p.target == target}
        others = [j for j in range(len(images)) if j != i]
        assert kinds["related"] == images[min(others, key=lambda j: distance[i, j])]
        assert kinds["independent"] == images[max(others, key=lambda j: distance[i, j])]


def test_vgg_imagenet_offline_says_what_to_do(monkeypatch, photo_dir, tmp_path):
    import keras

    def offline(**kwargs):
        raise Exception("URL fetch failure on https://storage.googleapis.com/x.h5")

    monkeypatch.setattr(keras.applications, "VGG19", offline)
    with pytest.raises(pairs_lib.PairsError, match="--vgg_weights=none") as info:
        pairs_lib.build_pairs_from_dir(photo_dir, tmp_path, vgg_weights="imagenet")
    assert "URL fetch failure" in str(info.value) and "--vgg_weights=/path" in str(
        info.value
    )
    with pytest.raises(pairs_lib.PairsError, match="neither 'imagenet'"):
        pairs_lib.build_pairs_from_dir(photo_dir, tmp_path, vgg_weights="/no/such.h5")


# ---------------------------------------------------------------- evaluation


def test_palette_swatch_has_equal_stripes():
    swatch = runners.palette_swatch("#ff0000,#0000ff", 32)
    assert swatch.shape == (32, 32, 3)
    np.testing.assert_array_equal(swatch[:, :16], solid((255, 0, 0), 32, 16))
    np.testing.assert_array_equal(swatch[:, 16:], solid((0, 0, 255), 32, 16))


def test_parse_methods():
    assert runners.parse_methods("ours, Welsh,ours") == ("ours", "welsh")
    with pytest.raises(ValueError, match="unknown method.*zhang"):
        runners.parse_methods("ours,zhang")


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, "tools/evaluate.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_evaluate_tool_on_a_csv(photo_dir, tiny_workdir, tmp_path):
    pairs_csv = write_csv(
        tmp_path / "pairs.csv",
        [
            (str(photo_dir / "photo_0.png"), str(photo_dir / "photo_1.jpg"), "related"),
            (
                str(photo_dir / "photo_2.png"),
                str(photo_dir / "sub" / "photo_7.jpg"),
                "independent",
            ),
        ],
    )
    out = tmp_path / "eval"
    result = run_tool(
        f"--pairs={pairs_csv}",
        f"--weights={tiny_workdir}",
        f"--output_dir={out}",
        "--size=48",
        "--precision=bfloat16",
    )
    assert result.returncode == 0, result.stderr
    assert "evaluate" in result.stderr  # The tqdm bar.
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[: len(RESULT_COLUMNS)] == RESULT_COLUMNS
    assert [(r["kind"], r["method"]) for r in rows] == [
        (k, m) for k in ("related", "independent") for m in runners.METHODS
    ]
    for row in rows:
        assert (
            0.0 <= float(row["his_ref"]) <= 1.0 and 0.0 <= float(row["his_gt"]) <= 1.0
        )
        assert 0.0 < float(row["ssim"]) <= 1.0 and float(row["psnr"]) > 0.0
    gray = [r for r in rows if r["method"] == "gray"]
    welsh = [r for r in rows if r["method"] == "welsh"]
    assert all(float(g["colorfulness"]) < 1.0 for g in gray)
    assert all(float(w["colorfulness"]) > 5.0 for w in welsh)
    summary = (out / "summary.md").read_text()
    assert f"model (ours): {tiny_workdir}, bfloat16" in summary
    assert "pairs: 2 (related: 1, independent: 1)" in summary
    assert "read from" in summary and "aesthetics score (AS)" in summary
    for kind in ("related", "independent", "all"):
        for method in runners.METHODS:
            assert f"| {kind} | {method} |" in summary
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size == (6 * report.THUMB, 16 + 2 * report.THUMB)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # No temp files.


def test_evaluate_tool_fails_clearly_on_a_bad_csv(tmp_path):
    bad = write_csv(
        tmp_path / "bad.csv", [("a.png", "b.png")], header=("target", "ref")
    )
    result = run_tool(f"--pairs={bad}", f"--output_dir={tmp_path / 'eval'}")
    assert result.returncode == 1
    assert (
        "error:" in result.stderr
        and "missing column(s) reference, kind" in result.stderr
    )
    assert not (tmp_path / "eval" / "results.csv").exists()


def test_evaluate_on_a_data_dir(photo_dir, tiny_workdir, tmp_path):
    out = tmp_path / "eval"
    summary = evaluate_lib.evaluate(
        out,
        data_dir=photo_dir,
        weights=tiny_workdir,
        size=32,
        max_pairs=5,
        palettes="#d8a47f,#6b8f71",
        aesthetics_scorer=lambda rgb: float(rgb.std()),
        progress=False,
        precision="float32",
    )
    assert summary["precision"] == "float32"
    assert summary["num_pairs"] == 5
    assert summary["pairs_by_kind"] == {"related": 2, "independent": 2, "palette": 1}
    assert "distorted copy" in summary["pairs_source"]
    assert summary["metrics"][-1] == "aesthetics"
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 5 * 4 and "aesthetics" in rows[0]
    assert rows[0]["reference"].startswith("references/")
    palette_rows = [r for r in rows if r["kind"] == "palette"]
    assert {r["reference"] for r in palette_rows} == {"#d8a47f,#6b8f71"}
    assert (out / rows[0]["reference"]).is_file()
    means = summary["means"]
    assert set(means) == {"related", "independent", "palette", "all"}
    # The related copy shares the target's colours: Welsh's HIS vs the ground truth
    # is higher on related pairs than on independent ones.
    assert means["related"]["welsh"]["his_gt"] > means["independent"]["welsh"]["his_gt"]
    assert means["all"]["gray"]["colorfulness"] < 1.0
    assert "Aesthetics scored" in (out / "summary.md").read_text()
    assert Image.open(out / "contact_sheet.png").size[1] == 16 + 5 * report.THUMB
