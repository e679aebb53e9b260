"""Gamut fitting by table lookup against an exact float64 bisection; the table's
derivation and its tool."""

import importlib.util
import pathlib

import numpy as np
import pytest
import tensorflow as tf

from attention_colorization import color, gamut

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _np_srgb(lab: np.ndarray) -> np.ndarray:
    """Exact (float64) unclipped sRGB of Lab ``[..., 3]``."""
    linear = gamut.np_lab_to_linear(lab)
    return np.where(
        linear > 0.0031308,
        1.055 * np.abs(linear) ** (1 / 2.4) - 0.055,
        12.92 * linear,
    )


def _inside(lab: np.ndarray, scale: np.ndarray) -> np.ndarray:
    low, high = gamut._gamut_bounds()
    scaled = np.concatenate([lab[:, :1], lab[:, 1:] * scale[:, None]], -1)
    linear = gamut.np_lab_to_linear(scaled)
    return ((linear >= low) & (linear <= high)).all(-1)


def _bisection(lab: np.ndarray, steps: int = 40) -> np.ndarray:
    """The exact bisection: the old ``fit_to_gamut`` in float64, 40 steps."""
    low, high = np.zeros(len(lab)), np.ones(len(lab))
    for _ in range(steps):
        mid = 0.5 * (low + high)
        ok = _inside(lab, mid)
        low, high = np.where(ok, mid, low), np.where(ok, high, mid)
    return np.where(_inside(lab, np.ones(len(lab))), 1.0, low)


def _first_exit(lab: np.ndarray, steps: int = 40) -> np.ndarray:
    """The first exit along the ray (sampled at 1/512, then bisected): below
    it every scale is in gamut."""
    samples = np.linspace(0.0, 1.0, 513)
    low, high = np.zeros(len(lab)), np.ones(len(lab))
    found = np.zeros(len(lab), bool)
    for a, b in zip(samples[:-1], samples[1:], strict=True):
        out = ~_inside(lab, np.full(len(lab), b)) & ~found
        low[out], high[out] = a, b
        found |= out
    for _ in range(steps):
        mid = 0.5 * (low + high)
        ok = _inside(lab, mid)
        low, high = np.where(ok, mid, low), np.where(ok, high, mid)
    return np.where(found, low, 1.0)


def _random_lab(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Uniform Lab in [0, 100] x [-128, 128]^2, then as many near the yellow
    cusp (L 85-100, hue 85-115 degrees), then a few edge cases; and a mask of
    the uniform ones."""
    rng = np.random.default_rng(seed)
    uniform = np.stack(
        [rng.uniform(0, 100, count), *rng.uniform(-128, 128, (2, count))], -1
    )
    hue = np.radians(rng.uniform(85, 115, count))
    chroma = rng.uniform(10, 130, count)
    yellow = np.stack(
        [rng.uniform(85, 100, count), chroma * np.cos(hue), chroma * np.sin(hue)], -1
    )
    edges = [[0, 50, 50], [100, 20, -20], [100, 0, 0], [0, 0, 0], [99.99, 1, 1]]
    lab = np.concatenate([uniform, yellow, edges]).astype(np.float32)
    return lab, np.arange(len(lab)) < count


def _rgb8(lab: np.ndarray, scale: np.ndarray) -> np.ndarray:
    scaled = lab.astype(np.float64)
    scaled[:, 1:] *= np.minimum(scale, 1.0)[:, None]
    return np.round(np.clip(_np_srgb(scaled), 0.0, 1.0) * 255.0)


@pytest.fixture(scope="module")
def fitted():
    lab, uniform = _random_lab(10000, seed=11)
    out = color.fit_to_gamut(tf.constant(lab)).numpy()
    chroma = np.hypot(lab[:, 1], lab[:, 2]).astype(np.float64)
    scale = np.where(
        chroma > 0, np.hypot(out[:, 1], out[:, 2]) / np.maximum(chroma, 1e-9), 1.0
    )
    return lab, uniform, out, scale, chroma


def test_fit_keeps_lightness_and_hue_and_lands_in_gamut(fitted):
    lab, _, out, scale, chroma = fitted
    np.testing.assert_array_equal(out[:, 0], lab[:, 0])  # L exactly
    moved = chroma > 1.0
    hue_in = np.arctan2(lab[moved, 2], lab[moved, 1])
    hue_out = np.arctan2(out[moved, 2], out[moved, 1])
    assert np.abs(np.angle(np.exp(1j * (hue_out - hue_in)))).max() < 1e-4
    rgb = _np_srgb(out.astype(np.float64))
    excess = np.maximum(rgb - 1.0, -rgb).max()
    assert excess < gamut.GAMUT_REFINE_EXCESS + 1e-5, excess * 255
    assert np.all(scale <= 1.0 + 1e-6)
    inside = _inside(lab.astype(np.float64), np.ones(len(lab)))
    np.testing.assert_allclose(scale[inside], 1.0, atol=1e-6)  # in gamut: kept


def test_fit_matches_the_exact_bisection_in_8_bit(fitted):
    """Against a float64 bisection of 40 steps, in 8-bit sRGB output levels.

    Uniform Lab: within 1 level but for 1 in 10^4, at most 3 levels, and
    closer on average than the 10-step bisection the table replaced. Near the
    yellow cusp, rays graze a face of the RGB cube (leave the gamut by less
    than a level, come back); there the fit is ill-conditioned for every
    method, and at most 2 % of those colours differ by more than a level.
    """
    lab, uniform, _, scale, _ = fitted
    exact = _rgb8(lab, _bisection(lab.astype(np.float64)))
    error = np.abs(_rgb8(lab, scale) - exact).max(-1)
    old = gamut.bisect_gamut_scale(lab[:, 0], lab[:, 1], lab[:, 2], steps=10)
    old_error = np.abs(_rgb8(lab, old.numpy()) - exact).max(-1)
    assert error[uniform].max() <= 3, error[uniform].max()
    assert np.mean(error[uniform] > 1) < 5e-4
    assert error[uniform].mean() < 0.5 * old_error[uniform].mean()
    assert np.mean(error[~uniform] > 1) < 0.02
    assert error[~uniform].mean() < old_error[~uniform].mean()


def test_fit_never_desaturates_past_the_first_exit(fitted):
    """Below the first exit along the ray every chroma is in gamut: the table
    gives at least that chroma, less at most 0.5 (it may give more where the
    ray comes back into the gamut)."""
    lab, _, _, scale, chroma = fitted
    deficit = (_first_exit(lab.astype(np.float64)) - scale) * chroma
    assert deficit.max() < 0.5, deficit.max()
    assert np.percentile(deficit, 99.9) < 0.2


def test_table_lookup_alone_under_xla():
    v = np.linspace(0.0, 1.0, 9)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    lab = color.rgb_to_lab(tf.constant(rgb, tf.float32))
    scale = tf.function(gamut.gamut_scale)(lab[:, 0], lab[:, 1], lab[:, 2])
    np.testing.assert_array_equal(scale.numpy(), 1.0)  # in gamut: exactly 1
    compiled = tf.function(gamut.gamut_scale_table, jit_compile=True)
    table_scale, flagged = compiled(lab[:, 0], lab[:, 1], lab[:, 2])
    np.testing.assert_array_equal(table_scale.numpy(), 1.0)
    assert not flagged.numpy().any()
    out, _ = compiled(tf.constant([60.0]), tf.constant([90.0]), tf.constant([-100.0]))
    assert 0.0 < float(out[0]) < 1.0


def test_packaged_table_rows_equal_a_fresh_derivation():
    table = gamut.gamut_table()
    assert table.shape == (gamut.GAMUT_LEVELS, gamut.GAMUT_HUES, 6)
    rows = [0, 57, 140, 200]
    derived = gamut.pack_gamut_table(gamut.derive_gamut_table(rows=rows))
    np.testing.assert_array_equal(derived.astype(np.float32), table[rows])


def test_packing_rounds_the_reciprocals_up():
    table = gamut.derive_gamut_table(rows=[90])
    packed = gamut.pack_gamut_table(table).astype(np.float32)
    assert np.all(packed >= table)  # a larger 1 / chroma: never more chroma
    assert np.all(packed <= table * (1 + 2**-10) + 1e-7)


def test_make_gamut_table_tool_writes_the_derivation(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "make_gamut_table", ROOT / "tools" / "make_gamut_table.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    # A coarse grid stands in for the full one (minutes).
    monkeypatch.setattr(
        tool, "derive_gamut_table", lambda: gamut.derive_gamut_table(levels=5)
    )
    out = tmp_path / "table.npy"
    assert tool.main(["make_gamut_table", f"--output={out}"]) == 0
    written = np.load(out)
    assert written.dtype == np.float16 and written.shape == (5, gamut.GAMUT_HUES, 6)
    expected = gamut.pack_gamut_table(gamut.derive_gamut_table(levels=5))
    np.testing.assert_array_equal(written, expected)
    assert not list(tmp_path.glob("*.tmp*"))
