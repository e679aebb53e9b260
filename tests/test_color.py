"""Colour science against scikit-image, bins, soft encoding and histograms."""

import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from attention_colorization import color


def _dense_rgb(levels=33):
    v = np.linspace(0.0, 1.0, levels)
    return np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)


def test_rgb_to_lab_matches_skimage():
    rgb = _dense_rgb()
    ours = color.rgb_to_lab(tf.constant(rgb, tf.float32)).numpy()
    ref = skcolor.rgb2lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    assert np.abs(ours - ref).max() <= 0.01


def test_rgb_to_lightness_is_the_l_of_rgb_to_lab():
    rgb = np.concatenate([_dense_rgb(), [[-0.2, 0.5, 1.3]]])  # and one to clip
    lightness = color.rgb_to_lightness(tf.constant(rgb, tf.float32)).numpy()
    lab = color.rgb_to_lab(tf.constant(rgb, tf.float32)).numpy()
    assert lightness.shape == (len(rgb), 1)
    np.testing.assert_allclose(lightness[:, 0], lab[:, 0], atol=1e-4)
    ref = skcolor.rgb2lab(np.clip(rgb, 0, 1).reshape(-1, 1, 3)).reshape(-1, 3)
    assert np.abs(lightness[:, 0] - ref[:, 0]).max() <= 0.01


def test_lab_to_rgb_matches_skimage():
    rgb = _dense_rgb()
    lab = skcolor.rgb2lab(rgb.reshape(-1, 1, 3)).reshape(-1, 3)
    ours = color.lab_to_rgb(tf.constant(lab, tf.float32)).numpy()
    ref = skcolor.lab2rgb(lab.reshape(-1, 1, 3)).reshape(-1, 3)
    assert np.abs(ours - ref).max() <= 0.01 / 100  # in RGB units, far below 1/255


def test_lab_to_rgb_out_of_gamut_clipped():
    lab = tf.constant([[50.0, 120.0, -120.0], [100.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    rgb = color.lab_to_rgb(lab).numpy()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(rgb[1], [1, 1, 1], atol=2e-3)
    np.testing.assert_allclose(rgb[2], [0, 0, 0], atol=1e-6)


def test_round_trip_within_one_level():
    rgb = _dense_rgb(levels=41).astype(np.float32)
    back = color.lab_to_rgb(color.rgb_to_lab(tf.constant(rgb))).numpy()
    assert np.abs(back - rgb).max() <= 1.0 / 255


def test_lab_conversion_inside_dataset_map_and_xla():
    rgb = np.random.default_rng(0).uniform(size=(4, 5, 3)).astype(np.float32)
    eager = color.rgb_to_lab(rgb).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(rgb).map(color.rgb_to_lab))).numpy()
    xla = tf.function(color.rgb_to_lab, jit_compile=True)(rgb).numpy()
    np.testing.assert_allclose(mapped, eager, atol=1e-5)
    np.testing.assert_allclose(xla, eager, atol=1e-3)
    back_xla = tf.function(color.lab_to_rgb, jit_compile=True)(eager).numpy()
    np.testing.assert_allclose(back_xla, rgb, atol=1e-3)


def test_gradients_finite_at_zero_and_edges():
    rgb = tf.constant(
        [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.04045, 0.0, 1.0], [1e-8, 0.5, 0.0]]
    )
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(rgb)
        lab = color.rgb_to_lab(rgb)
        back = color.lab_to_rgb(lab)
        loss_lab = tf.reduce_sum(lab)
        loss_back = tf.reduce_sum(back)
    g1 = tape.gradient(loss_lab, rgb).numpy()
    g2 = tape.gradient(loss_back, rgb).numpy()
    assert np.isfinite(g1).all() and np.isfinite(g2).all()
    lab0 = tf.constant([[0.0, 0.0, 0.0], [50.0, 0.0, 0.0], [8.0, 0.0, 0.0]])
    with tf.GradientTape() as tape:
        tape.watch(lab0)
        out = tf.reduce_sum(color.lab_to_rgb(lab0))
    assert np.isfinite(tape.gradient(out, lab0).numpy()).all()


def test_ab_bins_count_and_ranges():
    bins = color.ab_bins()
    assert bins.shape == (313, 2)
    assert bins[:, 0].min() == -90 and bins[:, 0].max() == 100
    assert bins[:, 1].min() == -110 and bins[:, 1].max() == 100
    assert np.all(np.mod(bins, 10) == 0)
    assert len({tuple(b) for b in bins}) == 313


def test_packaged_bins_equal_fresh_derivation():
    np.testing.assert_array_equal(color.derive_ab_bins(), color.ab_bins())


def test_bins_cover_the_gamut():
    # Every in-gamut ab value lies within one grid cell of a bin.
    lab = color.rgb_to_lab(tf.constant(_dense_rgb(17), tf.float32)).numpy()
    d = np.linalg.norm(lab[:, None, 1:] - color.ab_bins()[None], axis=-1).min(axis=1)
    assert d.max() <= 10 * np.sqrt(2) / 2 + 1e-3


def test_soft_encode_properties():
    ab = tf.constant([[[3.0, -7.0], [53.0, 14.0]]])  # [1, 2, 2]
    enc = color.soft_encode(ab).numpy()
    assert enc.shape == (1, 2, 313)
    np.testing.assert_allclose(enc.sum(-1), 1.0, atol=1e-5)
    assert ((enc > 0).sum(-1) == 5).all()
    # The heaviest bin is the nearest bin.
    nearest = np.linalg.norm(
        ab.numpy()[..., None, :] - color.ab_bins(), axis=-1
    ).argmin(-1)
    np.testing.assert_array_equal(enc.argmax(-1), nearest)


def test_soft_encode_weights_are_gaussian():
    bins = color.ab_bins()
    ab = bins[100] + np.array([2.0, 1.0], np.float32)
    enc = color.soft_encode(tf.constant(ab[None])).numpy()[0]
    idx = np.nonzero(enc)[0]
    d2 = ((bins[idx] - ab) ** 2).sum(-1)
    expected = np.exp(-d2 / (2 * 5.0**2))
    np.testing.assert_allclose(enc[idx], expected / expected.sum(), rtol=1e-4)


def test_solid_colour_histogram_peaks_at_its_bin():
    for rgb in ([0.8, 0.1, 0.1], [0.1, 0.6, 0.2], [0.2, 0.3, 0.9]):
        img = tf.fill([8, 8, 3], 1.0) * tf.constant(rgb)
        ab = color.rgb_to_lab(img)[..., 1:]
        hist = color.ab_histogram(ab).numpy()
        np.testing.assert_allclose(hist.sum(), 1.0, atol=1e-5)
        bin_ab = color.ab_bins()[hist.argmax()]
        assert np.linalg.norm(bin_ab - ab.numpy()[0, 0]) <= 10 * np.sqrt(2) / 2 + 1e-3


def test_histogram_floor_and_batch_shape():
    ab = tf.random.uniform([2, 3, 6, 6, 2], -40, 40, seed=1)
    hist = color.ab_histogram(ab, floor=1e-4).numpy()
    assert hist.shape == (2, 3, 313)
    np.testing.assert_allclose(hist.sum(-1), 1.0, atol=1e-5)
    assert hist.min() >= 1e-4 / (1 + 313 * 1e-4) - 1e-9


def test_histogram441_sums_to_one_and_is_differentiable():
    ab = tf.Variable(tf.random.uniform([2, 5, 7, 2], -120, 120, seed=2))
    with tf.GradientTape() as tape:
        h = color.ab_histogram441(ab)
        loss = tf.reduce_sum(h * tf.range(441, dtype=tf.float32))
    assert h.shape == (2, 441)
    np.testing.assert_allclose(h.numpy().sum(-1), 1.0, atol=1e-5)
    grad = tape.gradient(loss, ab).numpy()
    assert np.isfinite(grad).all() and np.abs(grad).sum() > 0


def test_histogram441_grid_placement():
    # ab = (0, 0) falls on the centre bin (10, 10); ab = (110, -110) on (20, 0).
    ab = tf.constant([[[[0.0, 0.0]]], [[[110.0, -110.0]]]])
    h = color.ab_histogram441(ab).numpy()
    assert h[0].argmax() == 10 * 21 + 10 and h[0].max() == pytest.approx(1.0)
    assert h[1].argmax() == 20 * 21 + 0
    # Half-way between two a-bins splits the vote.
    h_half = color.ab_histogram441(tf.constant([[[[5.5, 0.0]]]])).numpy()[0]
    assert h_half[10 * 21 + 10] == pytest.approx(0.5, abs=1e-5)
    assert h_half[11 * 21 + 10] == pytest.approx(0.5, abs=1e-5)


def test_his_identity_and_disjoint():
    rng = np.random.default_rng(0)
    img = tf.constant(rng.uniform(-60, 60, size=(6, 6, 2)), tf.float32)
    h = color.ab_histogram441(img)
    assert float(color.histogram_intersection(h, h)) == pytest.approx(1.0, abs=1e-5)
    red = color.ab_histogram441(tf.fill([4, 4, 2], 60.0))
    blue = color.ab_histogram441(tf.fill([4, 4, 2], -60.0))
    assert float(color.histogram_intersection(red, blue)) == 0.0


def test_palette_histogram_peaks_at_palette_colours():
    palette = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], np.float32)
    hist = color.palette_histogram(palette, floor=0.0).numpy()
    assert hist.shape == (313,)
    top2 = set(np.argsort(hist)[-2:])
    ab = color.rgb_to_lab(tf.constant(palette)).numpy()[:, 1:]
    nearest = {int(np.linalg.norm(color.ab_bins() - x, axis=-1).argmin()) for x in ab}
    assert top2 == nearest


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match="float"):
        color.rgb_to_lab(tf.zeros([2, 3], tf.uint8))


def test_colour_ops_convert_to_tflite_builtins(tmp_path):
    from ai_edge_litert.interpreter import Interpreter

    module = tf.Module()
    module.round_trip = tf.function(
        lambda rgb: {
            "lab": color.rgb_to_lab(rgb),
            "rgb": color.lab_to_rgb(color.rgb_to_lab(rgb)),
        },
        input_signature=[tf.TensorSpec([1, 8, 8, 3], tf.float32, name="rgb")],
    )
    tf.saved_model.save(
        module, str(tmp_path), signatures={"serving_default": module.round_trip}
    )
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    model = converter.convert()  # Raises if any op would need Flex.
    interpreter = Interpreter(model_content=model)
    runner = interpreter.get_signature_runner()
    rgb = np.random.default_rng(3).uniform(size=(1, 8, 8, 3)).astype(np.float32)
    out = runner(rgb=rgb)
    np.testing.assert_allclose(out["lab"], color.rgb_to_lab(rgb).numpy(), atol=1e-3)
    np.testing.assert_allclose(out["rgb"], rgb, atol=1 / 255)


def test_fit_to_gamut_keeps_lightness_and_hue():
    lab = tf.constant([[60.0, 90.0, -100.0], [50.0, 10.0, 10.0], [95.0, -80.0, 90.0]])
    fitted = color.fit_to_gamut(lab).numpy()
    np.testing.assert_array_equal(fitted[:, 0], lab.numpy()[:, 0])
    rgb = color.lab_to_rgb(tf.constant(fitted), clip=False).numpy()
    assert rgb.min() >= -1e-3 and rgb.max() <= 1 + 1e-3
    # In-gamut colours are unchanged; others keep their hue (ab direction).
    np.testing.assert_allclose(fitted[1], lab.numpy()[1], atol=1e-5)
    for i in (0, 2):
        a0, b0 = lab.numpy()[i, 1:]
        a1, b1 = fitted[i, 1:]
        assert np.hypot(a1, b1) < np.hypot(a0, b0)
        assert np.isclose(np.arctan2(b1, a1), np.arctan2(b0, a0), atol=1e-4)


def test_reference_histogram_summarises_large_images():
    rng = np.random.default_rng(4)
    # Blocky colours: area-averaging to 32 x 32 keeps them, so the histograms agree.
    blocks = rng.uniform(-50, 50, size=(1, 8, 8, 2)).astype(np.float32)
    ab = tf.image.resize(blocks, [128, 128], method="nearest")
    full = color.ab_histogram(ab, floor=1e-4).numpy()
    fast = color.reference_histogram(ab, floor=1e-4).numpy()
    assert fast.shape == (1, 313)
    np.testing.assert_allclose(fast, full, atol=1e-6)
    small = tf.constant(rng.uniform(-50, 50, (10, 12, 2)), tf.float32)
    np.testing.assert_allclose(
        color.reference_histogram(small).numpy(),
        color.ab_histogram(small).numpy(),
        atol=1e-6,
    )


def test_reference_histogram_pooling_equals_area_resize():
    rng = np.random.default_rng(5)
    ab = tf.constant(rng.uniform(-60, 60, (128, 96, 2)), tf.float32)
    pooled = color.reference_histogram(ab).numpy()  # static shape: pooling path
    area = color.ab_histogram(tf.image.resize(ab, [32, 24], method="area")).numpy()
    np.testing.assert_allclose(pooled, area, atol=1e-6)
    dynamic = tf.function(
        color.reference_histogram,
        input_signature=[tf.TensorSpec([None, None, 2], tf.float32)],
    )
    np.testing.assert_allclose(dynamic(ab).numpy(), area, atol=1e-6)


def test_soft_encode_far_from_every_bin_stays_finite():
    # Out-of-gamut ab (e.g. after colour augmentation) lies tens of units from
    # the nearest bin: Gaussian weights of sigma 5 underflow unless taken
    # relative to the nearest one.
    ab = tf.constant([[110.0, -110.0], [-110.0, 110.0], [300.0, 0.0], [0.0, 0.0]])
    enc = color.soft_encode(ab).numpy()
    assert np.all(np.isfinite(enc))
    np.testing.assert_allclose(enc.sum(-1), 1.0, atol=1e-5)
    bins = color.ab_bins()
    nearest = np.argmin(((ab.numpy()[:, None] - bins[None]) ** 2).sum(-1), axis=-1)
    np.testing.assert_array_equal(enc.argmax(-1), nearest)
    hist = color.reference_histogram(tf.fill([8, 8, 2], 110.0), floor=1e-4)
    assert np.all(np.isfinite(hist.numpy()))


def test_fast_companding_matches_the_power():
    lab = color.rgb_to_lab(tf.constant(_dense_rgb(), tf.float32))
    exact = color.lab_to_rgb(lab).numpy()
    fast = color.lab_to_rgb(lab, fast=True).numpy()
    assert np.abs(fast - exact).max() < 2e-6
    with pytest.raises(ValueError, match="clip"):
        color.lab_to_rgb(lab, clip=False, fast=True)
