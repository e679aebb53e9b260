"""The inference API on numpy and PIL inputs, references, palettes and maps."""

import io

import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_photo
from PIL import Image
from skimage import data

from attention_colorization import Colorizer, color, full_resolution, gamut, imageio
from attention_colorization import colorizer as colorizer_lib
from attention_colorization.colorizer import parse_palette
from attention_colorization.full_resolution import row_bands


@pytest.fixture(scope="session")
def colorizer(tiny_workdir):
    return Colorizer.load(tiny_workdir)


def _gray(h, w, seed=0):
    return synthetic_photo(h, w, seed).mean(axis=-1).astype(np.uint8)


def test_numpy_gray_odd_size(colorizer):
    out = colorizer.colorize(_gray(37, 53), reference=synthetic_photo(40, 40, 3))
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8


def test_pil_colour_input_is_reduced_to_luminance(colorizer):
    photo = Image.fromarray(synthetic_photo(45, 29, 1))
    out = colorizer.colorize(
        photo, reference=Image.fromarray(synthetic_photo(30, 30, 2))
    )
    assert out.shape == (45, 29, 3)
    # Same result as giving the luminance-only version of the photo.
    lab = color.rgb_to_lab(np.asarray(photo, np.float32) / 255.0).numpy()
    rgb_gray = color.lab_to_rgb(
        np.concatenate([lab[..., :1], np.zeros_like(lab[..., 1:])], -1)
    ).numpy()
    out_gray = colorizer.colorize(
        rgb_gray, reference=Image.fromarray(synthetic_photo(30, 30, 2))
    )
    assert np.abs(out.astype(int) - out_gray.astype(int)).max() <= 2


def test_lightness_preserved_before_rounding(colorizer):
    gray = _gray(41, 67, seed=4)
    rgb, alpha, _ = colorizer.colorize_float(gray, reference=synthetic_photo(32, 32, 5))
    assert alpha is None
    l_in = color.rgb_to_lab(
        np.repeat(gray[..., None], 3, -1).astype(np.float32) / 255.0
    )
    l_out = color.rgb_to_lab(rgb)
    np.testing.assert_allclose(l_out.numpy()[..., 0], l_in.numpy()[..., 0], atol=0.02)


@pytest.mark.parametrize(
    "height, width, band_pixels", [(10, 7, 70), (10, 7, 30), (1, 5, 2), (9, 4, 1000)]
)
def test_row_bands_cover_every_row_once_with_one_band_height(
    height, width, band_pixels
):
    bands = row_bands(height, width, band_pixels)
    band = bands[0][0].stop - bands[0][0].start
    rows = np.arange(height)
    delivered = []
    for compute, keep, out in bands:
        assert compute.stop - compute.start == band  # one shape for every band
        assert 0 <= compute.start and compute.stop <= height
        # The kept part of the computed rows is exactly the rows written.
        np.testing.assert_array_equal(rows[compute][keep], rows[out])
        delivered += list(rows[out])
    assert delivered == list(range(height))
    assert band * width <= band_pixels or band == 1


def test_banded_full_resolution_work_equals_one_band(colorizer, monkeypatch):
    gray = _gray(53, 38, seed=9)
    reference = synthetic_photo(40, 40, 3)
    # One network output for both calls: the comparison is of the banded
    # colour work alone (two network runs may differ in the last float bits
    # when threads are busy).
    network, outputs = colorizer._run, []

    def run_once(*args, **kwargs):
        if not outputs:
            outputs.append(network(*args, **kwargs))
        return outputs[0]

    monkeypatch.setattr(colorizer, "_run", run_once)
    whole, _, _ = colorizer.colorize_float(gray, reference=reference)
    monkeypatch.setattr(
        full_resolution, "BAND_PIXELS", 38 * 7
    )  # 8 bands, last overlaps
    bands = row_bands(53, 38)
    assert len(bands) == 8 and bands[-1][0].start < bands[-2][2].stop  # overlap
    banded, _, _ = colorizer.colorize_float(gray, reference=reference)
    np.testing.assert_allclose(banded, whole, atol=1e-5)


def test_prepared_references_give_the_same_result(colorizer):
    refs = [synthetic_photo(40, 40, 3), Image.fromarray(synthetic_photo(30, 50, 4))]
    prepared = colorizer.prepare_references(refs)
    assert prepared.lab.shape == (2, 32, 32, 3) and prepared.hist.shape == (2, 313)
    direct, maps = colorizer.colorize(_gray(37, 29), references=refs, return_maps=True)
    again, maps_again = colorizer.colorize(
        _gray(37, 29), references=prepared, return_maps=True
    )
    np.testing.assert_array_equal(again, direct)
    np.testing.assert_array_equal(maps_again["match"], maps["match"])
    with pytest.raises(ValueError, match="not both"):
        colorizer.colorize(_gray(8, 8), references=prepared, palette="#ff0000")
    with pytest.raises(ValueError, match="at least one"):
        colorizer.prepare_references([])


def test_output_is_coloured_not_gray(colorizer):
    # Even an untrained model puts some chroma in: the output is not the gray input.
    rgb, _, _ = colorizer.colorize_float(
        _gray(32, 32), reference=synthetic_photo(32, 32, 6)
    )
    assert np.abs(color.rgb_to_lab(rgb).numpy()[..., 1:]).max() > 0.1


def test_several_references_give_k_plus_one_sources(colorizer):
    refs = [synthetic_photo(32, 40, 7), synthetic_photo(50, 30, 8)]
    out, maps = colorizer.colorize(_gray(33, 35), references=refs, return_maps=True)
    assert out.shape == (33, 35, 3)
    assert maps["alpha"].shape == (33, 35, 3)
    np.testing.assert_allclose(maps["alpha"].sum(-1), 1.0, atol=1e-5)
    assert maps["match"].shape == (2, 33, 35, 3) and maps["match"].dtype == np.uint8


def test_match_map_takes_colours_from_the_reference(colorizer):
    ref = np.zeros((32, 32, 3), np.uint8)
    ref[..., 0] = 200  # A red reference: every matched colour is that red.
    _, maps = colorizer.colorize(_gray(32, 32), reference=ref, return_maps=True)
    match = maps["match"][0].reshape(-1, 3)
    assert (np.abs(match.astype(int) - [200, 0, 0]).max(axis=1) <= 3).all()


def test_palette_and_automatic_modes(colorizer):
    gray = _gray(30, 34)
    by_palette = colorizer.colorize(gray, palette="#d8a47f,#6b8f71")
    automatic, maps = colorizer.colorize(gray, return_maps=True)
    assert by_palette.shape == automatic.shape == (30, 34, 3)
    assert maps["alpha"].shape == (30, 34, 1)
    with pytest.raises(ValueError, match="not both"):
        colorizer.colorize(gray, reference=gray, palette="#ffffff")


def test_palette_changes_the_result(colorizer):
    gray = _gray(32, 32, seed=9)
    red = colorizer.colorize_float(gray, palette=["#ff0000"])[0]
    blue = colorizer.colorize_float(gray, palette=["#0000ff"])[0]
    assert np.abs(red - blue).mean() > 1e-4


def test_rgba_keeps_alpha(colorizer):
    rgba = np.dstack([synthetic_photo(24, 28, 2), np.full((24, 28), 77, np.uint8)])
    out = colorizer.colorize(
        Image.fromarray(rgba, "RGBA"), reference=synthetic_photo(20, 20, 1)
    )
    assert out.shape == (24, 28, 4)
    assert (out[..., 3] == 77).all()


def test_sixteen_bit_input(colorizer):
    gray16 = _gray(26, 30).astype(np.uint16) * 257
    out16 = colorizer.colorize(
        Image.fromarray(gray16), reference=synthetic_photo(20, 20, 3)
    )
    out8 = colorizer.colorize(_gray(26, 30), reference=synthetic_photo(20, 20, 3))
    assert np.abs(out16.astype(int) - out8.astype(int)).max() <= 2


def test_exif_rotation_is_applied(tmp_path, colorizer):
    image = Image.fromarray(synthetic_photo(20, 40, 4))
    exif = Image.Exif()
    exif[0x0112] = 6  # Rotate 90 degrees clockwise on display.
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes())
    out = colorizer.colorize(str(path), reference=synthetic_photo(20, 20, 1))
    assert out.shape == (40, 20, 3)


def test_palette_image_mode_p(colorizer):
    pal = Image.fromarray(synthetic_photo(24, 24, 5)).convert("P")
    out = colorizer.colorize(pal, reference=synthetic_photo(20, 20, 1))
    assert out.shape == (24, 24, 3)


def test_bad_arrays_are_clear_errors(colorizer):
    with pytest.raises(imageio.ImageError, match="shape"):
        colorizer.colorize(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(imageio.ImageError, match="too small"):
        colorizer.colorize(np.zeros((4, 40), np.uint8))


def test_to_float_rgb_refuses_tiny_images_unless_told():
    tiny = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(imageio.ImageError, match="too small"):
        imageio.to_float_rgb(tiny)
    with pytest.raises(imageio.ImageError, match="too small"):
        imageio.to_float_rgb(Image.fromarray(tiny))
    rgb, alpha = imageio.to_float_rgb(tiny, min_side=1)
    assert rgb.shape == (4, 4, 3) and rgb.dtype == np.float32 and alpha is None


@pytest.mark.parametrize(
    "text,expected",
    [
        ("#ff0000", [[1, 0, 0]]),
        ("#f00, #00ff00", [[1, 0, 0], [0, 1, 0]]),
        ([(0, 0, 255)], [[0, 0, 1]]),
        ([(0.5, 0.5, 0.5)], [[0.5, 0.5, 0.5]]),
        # One scale for the palette: (1, 1, 1) beside (255, 0, 0) is near black.
        ([(255, 0, 0), (1, 1, 1)], [[1, 0, 0], [1 / 255, 1 / 255, 1 / 255]]),
    ],
)
def test_parse_palette(text, expected):
    np.testing.assert_allclose(parse_palette(text), expected, atol=1e-6)


@pytest.mark.parametrize("bad", ["", "#12", "#gggggg", [(1, 2)]])
def test_parse_palette_rejects(bad):
    with pytest.raises(ValueError):
        parse_palette(bad)


def test_reference_histogram_reaches_the_model(colorizer, monkeypatch):
    seen = {}
    original = colorizer._run

    def spy(inputs, return_maps, **kwargs):
        seen.update(inputs)
        return original(inputs, return_maps=return_maps, **kwargs)

    monkeypatch.setattr(colorizer, "_run", spy)
    colorizer.colorize(
        _gray(32, 32), reference=np.full((16, 16, 3), [0, 0, 255], np.uint8)
    )
    hist = seen["ref_hist"].numpy()[0, 0]
    blue_ab = color.rgb_to_lab(tf.constant([[0.0, 0.0, 1.0]])).numpy()[0, 1:]
    peak = color.ab_bins()[hist.argmax()]
    assert np.linalg.norm(peak - blue_ab) < 10
    assert seen["ref_lab"].shape == (1, 1, 32, 32, 3)


def test_save_image_atomic_leaves_nothing_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.png"

    def broken_save(self, fp, *args, **kwargs):
        fp.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(imageio.ImageError, match="disk full"):
        imageio.save_image_atomic(np.zeros((8, 8, 3), np.uint8), target)
    assert list(tmp_path.iterdir()) == []


def test_save_image_atomic_refuses_overwrite(tmp_path):
    target = tmp_path / "out.png"
    imageio.save_image_atomic(np.zeros((8, 8, 3), np.uint8), target)
    with pytest.raises(imageio.ImageError, match="overwrite"):
        imageio.save_image_atomic(np.ones((8, 8, 3), np.uint8), target)
    imageio.save_image_atomic(np.ones((8, 8, 3), np.uint8), target, overwrite=True)
    assert np.asarray(Image.open(target)).max() == 1


def test_load_image_errors(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(64, 64, 1)).save(buf, format="JPEG")
    (tmp_path / "trunc.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    Image.fromarray(synthetic_photo(100, 100, 1)).save(tmp_path / "big.png")
    cases = {
        "missing.png": "no such file",
        "empty.png": "empty file",
        "text.png": "not a readable image",
        "trunc.jpg": "truncated",
    }
    for name, message in cases.items():
        with pytest.raises(imageio.ImageError, match=message):
            imageio.load_image(tmp_path / name)
    with pytest.raises(imageio.ImageError, match="too large"):
        imageio.load_image(tmp_path / "big.png", max_pixels=5000)


def test_max_pixels_decides_not_pillows_own_limit(tmp_path, monkeypatch):
    # Pillow's fixed guard (89.5 MP) stands in here at 1000 pixels: an image of
    # 100 x 100 is above it, yet within max_pixels, so it loads.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    Image.fromarray(synthetic_photo(100, 100, 1)).save(tmp_path / "big.png")
    image = imageio.load_image(tmp_path / "big.png", max_pixels=20_000)
    assert image.size == (100, 100)
    assert Image.MAX_IMAGE_PIXELS == 1000  # restored
    with pytest.raises(imageio.ImageError, match="too large"):
        imageio.load_image(tmp_path / "big.png", max_pixels=5000)
    assert Image.MAX_IMAGE_PIXELS == 1000


@pytest.mark.parametrize("name", ["out.psd", "out.xyz", "out"])
def test_output_format_needs_a_writable_suffix(tmp_path, name):
    with pytest.raises(imageio.ImageError, match="cannot write image format"):
        imageio.save_image_atomic(np.zeros((8, 8, 3), np.uint8), tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    assert imageio.output_format(tmp_path / "x.JPG") == "JPEG"


def test_written_files_get_normal_permissions(tmp_path):
    import os
    import stat

    target = tmp_path / "out.png"
    imageio.save_image_atomic(np.zeros((8, 8, 3), np.uint8), target)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask


# ------------------------------------------------- full-resolution colour work


@pytest.mark.parametrize("width, size", [(7, 32), (128, 32), (1000, 32), (2560, 256)])
def test_column_taps_equal_tf_resize(width, size):
    rows = np.random.default_rng(width).uniform(-50, 50, (3, size)).astype(np.float32)
    left, right, frac = full_resolution.column_taps(width, size)
    ours = rows[:, left] + (rows[:, right] - rows[:, left]) * frac
    ref = tf.image.resize(rows[None, :, :, None], [3, width], method="bilinear")
    np.testing.assert_allclose(ours, ref.numpy()[0, ..., 0], atol=1e-5)


def _yellow_ab(size: int) -> np.ndarray:
    """ab ``[1, S, S, 2]`` (network units) across the yellow cusp: hues 85-115
    degrees down the rows, chroma 10-130 across, where rays graze the gamut."""
    hue = np.radians(np.linspace(85, 115, size))[:, None]
    chroma = np.linspace(10, 130, size)[None, :]
    ab = np.stack([chroma * np.cos(hue), chroma * np.sin(hue)], -1)
    return (ab / color.AB_SCALE).astype(np.float32)[None]


@pytest.mark.parametrize("xla, yellow", [(False, False), (True, False), (True, True)])
def test_fused_work_equals_the_plain_pipeline(colorizer, monkeypatch, xla, yellow):
    """Band kernel + gathered gamut fitting == resize, fit_to_gamut, lab_to_rgb."""
    monkeypatch.setattr(full_resolution, "XLA_MIN_PIXELS", 0 if xla else 10**12)
    monkeypatch.setattr(full_resolution, "BAND_PIXELS", 40 * 57)  # several bands
    monkeypatch.setattr(full_resolution, "FIT_CHUNK", 257)  # groups, in threads
    gray = _gray(121, 57, seed=3)
    if yellow:  # bright: L 85-100
        gray = (gray.astype(np.float32) * (40 / 255) + 215).astype(np.uint8)
    reference = synthetic_photo(48, 48, 8)  # saturated: many pixels out of gamut
    seen = {}
    original = colorizer._run

    def spy(inputs, return_maps, **kwargs):
        out = dict(original(inputs, return_maps=return_maps, **kwargs))
        if yellow:
            out["ab"] = tf.constant(_yellow_ab(out["ab"].shape[1]))
        else:  # The untrained model's colours are faint: stretch them.
            out["ab"] = out["ab"] * (1.2 / tf.reduce_max(tf.abs(out["ab"])))
        seen["out"] = out
        return out

    monkeypatch.setattr(colorizer, "_run", spy)
    refined = []
    refine = full_resolution._REFINE

    def refine_spy(lightness, *args):
        refined.append(int(lightness.shape[0]))
        return refine(lightness, *args)

    monkeypatch.setattr(full_resolution, "_REFINE", refine_spy)
    rgb, _, _ = colorizer.colorize_float(gray, reference=reference)
    ab = color.net_to_ab(seen["out"]["ab"])  # [1, S, S, 2]
    ab_full = tf.image.resize(ab, [121, 57], method="bilinear")[0]
    lightness = color.rgb_to_lightness(
        np.repeat(gray[..., None], 3, -1).astype(np.float32) / 255.0
    )
    lab = tf.concat([lightness, ab_full], -1)
    outside = gamut.outside_gamut(lab).numpy()
    assert 0.05 < outside.mean() < 0.95  # both paths are exercised
    expected = color.lab_to_rgb(color.fit_to_gamut(lab)).numpy()
    np.testing.assert_allclose(rgb, expected, atol=2e-4)
    as_uint8 = colorizer.colorize(gray, reference=reference)
    assert np.abs(as_uint8.astype(int) - np.round(expected * 255)).max() <= 1
    if yellow:  # colours the table cannot settle were bisected
        assert refined


# -------------------------------------------------------------- references


def _old_prepared(colorizer, path):
    """Today's reference path before this change: full decode, then area."""
    rgb, _ = imageio.to_float_rgb(imageio.load_image(path))
    size = [colorizer.image_size] * 2
    small = tf.image.resize(tf.constant(rgb)[None], size, method="area")[0]
    lab = color.rgb_to_lab(tf.clip_by_value(small, 0.0, 1.0))
    hist = color.reference_histogram(lab[..., 1:], floor=colorizer.hist_floor)
    return colorizer_lib.PreparedReferences(lab[None], hist[None])


def test_large_jpeg_reference_decodes_small_with_the_same_output(
    tmp_path, colorizer, monkeypatch
):
    photo = np.asarray(Image.fromarray(data.astronaut()).resize((1600, 1200)))
    path = tmp_path / "reference.jpg"
    Image.fromarray(photo).save(path, quality=90)
    from PIL import JpegImagePlugin

    drafts = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        result = original(self, mode, size)
        drafts.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    gray = _gray(60, 64, seed=5)
    new = colorizer.colorize(gray, reference=path)
    # 8 x S (the test model: 32 px) = 256: decoded at 1/4, 400 x 300.
    assert drafts == [(400, 300)]
    old = colorizer.colorize(gray, references=_old_prepared(colorizer, path))
    assert np.abs(new.astype(int) - old.astype(int)).max() <= 1
    prepared = colorizer.prepare_references([path])
    np.testing.assert_allclose(
        prepared.lab.numpy(), _old_prepared(colorizer, path).lab.numpy(), atol=1.0
    )


def test_area_to_model_size_in_bands_equals_one_resize(colorizer, monkeypatch):
    rgb = synthetic_photo(301, 203, 4)
    whole = tf.image.resize(rgb[None].astype(np.float32) / 255, [32, 32], "area")
    monkeypatch.setattr(full_resolution, "BAND_PIXELS", 203 * 17)
    calls = []
    resize = tf.image.resize
    monkeypatch.setattr(
        tf.image, "resize", lambda *a, **k: calls.append(1) or resize(*a, **k)
    )
    banded = colorizer._area_to_model_size(rgb)
    assert len(calls) == 19  # 18 bands across the width, then down the height
    np.testing.assert_allclose(banded.numpy(), whole.numpy()[0], atol=1e-5)
