r"""What an app does around the TFLite model: a reference in numpy (no TensorFlow).

The TFLite model written by ``attention-colorize-export tflite`` (the default
``--interface=lab``) runs the network only; the colour work around it is the
app's, in a few lines of arithmetic per pixel that port to Kotlin, Swift or C.
This module is that work, written to be read and ported, and it is what the
tests compare against the SavedModel (``serving_default``): the same result.

    import numpy as np
    from attention_colorization.export import mobile_reference as ref

    rgb = ref.colorize("colorizer.tflite", gray, reference)  # uint8 [H, W, 3]

Step by step (``S``: the model's input size, from its input shape; ``Q = 313``):

1. **Target L at full resolution** (:func:`rgb_to_lightness`): the gray photo
   (``uint8 [H, W]``, or a colour photo, of which only the luminance counts)
   to CIE L in [0, 100]: sRGB to linear (``((v + 0.055) / 1.055) ** 2.4`` above
   0.04045, ``v / 12.92`` below), luminance ``Y = 0.212671 R + 0.715160 G +
   0.072169 B``, ``L = 116 f(Y) - 16`` with ``f(t) = t ** (1/3)`` above
   0.008856, ``7.787 t + 16/116`` below. For a uint8 gray photo this is a
   256-entry lookup table.
2. **Model inputs** (:func:`model_inputs`), all float32:

   * ``l`` ``[1, S, S, 1]``: L of step 1 area-averaged to S x S
     (:func:`resize_area`; exact box averaging, what ``tf.image.resize(...,
     "area")`` does; for a size that is a multiple of S, the mean of each
     block).
   * ``ref_lab`` ``[1, S, S, 3]``: the reference photo area-averaged to S x S
     in sRGB (values in [0, 1]), then to CIE Lab, D65 (:func:`rgb_to_lab`).
   * ``ref_hist`` ``[1, Q]``: the reference's colour histogram
     (:func:`reference_histogram`): ``ref_lab``'s ab area-averaged to at most
     32 x 32, each pixel's ab spread over its 5 nearest of the Q bin centres
     (:func:`ab_bins`) with weights ``exp(-d^2 / 50)`` normalised to 1, the
     mean over pixels. (The model adds its floor of 1e-4 and renormalises
     itself.)
3. **Run** the model's ``serving_default`` signature: ``ab`` ``[1, S, S, 2]``
   float32 in Lab units.
4. **Output** (:func:`postprocess`): ab upsampled bilinearly to H x W
   (:func:`resize_bilinear`: half-pixel centres, edges clamped), joined to
   the full-resolution L of step 1, brought into the sRGB gamut by scaling
   ab down (:func:`fit_to_gamut`: 10 bisection steps; L and hue are kept),
   Lab to sRGB (:func:`lab_to_rgb`), rounded to uint8.

Shapes are numpy's ``[H, W, C]`` without a batch axis except for the model's
inputs and output.
"""

from __future__ import annotations

import functools
import importlib.resources
import os

import numpy as np

NUM_BINS = 313  # Q
HISTOGRAM_GRID = 32  # ab area-averaged to at most 32 x 32 before the histogram
SOFT_ENCODE_K = 5  # nearest bins per pixel
SOFT_ENCODE_SIGMA = 5.0  # Gaussian width, Lab units
GAMUT_BISECTION_STEPS = 10
GAMUT_TOLERANCE = 1e-4

# sRGB (D65) -> XYZ (scikit-image's matrix) and the D65 white: color.py's values.
XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ]
)
RGB_FROM_XYZ = np.linalg.inv(XYZ_FROM_RGB)
D65_WHITE = np.array([0.95047, 1.0, 1.08883])
LAB_EPSILON = 0.008856
LAB_KAPPA = 7.787
LAB_DELTA = 6.0 / 29.0
SRGB_THRESHOLD = 0.04045
LINEAR_THRESHOLD = 0.0031308


@functools.cache
def ab_bins() -> np.ndarray:
    """The Q = 313 bin centres ``[313, 2]`` (a, b) in Lab units, float32.

    A table the app ships (``attention_colorization/weights/ab_bins.npy``):
    the ab grid of step 10 inside the sRGB gamut, grown by one step.
    """
    path = (
        importlib.resources.files("attention_colorization") / "weights" / "ab_bins.npy"
    )
    with importlib.resources.as_file(path) as file:
        bins = np.load(file).astype(np.float32)
    bins.setflags(write=False)
    return bins


# ------------------------------------------------------------------ colour


def to_float_rgb(image: np.ndarray) -> np.ndarray:
    """uint8 ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` -> float ``[H, W, 3]`` in [0, 1]."""
    x = np.asarray(image, np.float64) / 255.0
    if x.ndim == 2:
        x = x[..., None]
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``[..., 3]`` in [0, 1] (clipped) -> linear RGB."""
    rgb = np.clip(rgb, 0.0, 1.0)
    gamma = ((np.maximum(rgb, SRGB_THRESHOLD) + 0.055) / 1.055) ** 2.4
    return np.where(rgb > SRGB_THRESHOLD, gamma, rgb / 12.92)


def _lab_f(t: np.ndarray) -> np.ndarray:
    cube_root = np.maximum(t, LAB_EPSILON) ** (1.0 / 3.0)
    return np.where(t > LAB_EPSILON, cube_root, LAB_KAPPA * t + 16.0 / 116.0)


def rgb_to_lightness(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``[..., 3]`` in [0, 1] -> L ``[..., 1]`` in [0, 100] (from the luminance)."""
    y = srgb_to_linear(rgb) @ (XYZ_FROM_RGB[1] / D65_WHITE[1])  # [...]
    return (116.0 * _lab_f(y) - 16.0)[..., None]


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB ``[..., 3]`` in [0, 1] -> CIE Lab (D65) ``[..., 3]``."""
    xyz = srgb_to_linear(rgb) @ XYZ_FROM_RGB.T / D65_WHITE
    fx, fy, fz = np.moveaxis(_lab_f(xyz), -1, 0)
    return np.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], -1)


def lab_to_linear(lab: np.ndarray) -> np.ndarray:
    """CIE Lab ``[..., 3]`` -> linear RGB ``[..., 3]`` (not clipped)."""
    fy = (lab[..., 0] + 16.0) / 116.0
    fx = lab[..., 1] / 500.0 + fy
    fz = np.maximum(fy - lab[..., 2] / 200.0, 0.0)
    f = np.stack([fx, fy, fz], axis=-1)
    xyz = np.where(f > LAB_DELTA, f**3, (f - 16.0 / 116.0) / LAB_KAPPA)
    return (xyz * D65_WHITE) @ RGB_FROM_XYZ.T


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab ``[..., 3]`` -> sRGB ``[..., 3]`` clipped to [0, 1]."""
    linear = lab_to_linear(lab)
    gamma = 1.055 * np.maximum(linear, LINEAR_THRESHOLD) ** (1.0 / 2.4) - 0.055
    return np.clip(np.where(linear > LINEAR_THRESHOLD, gamma, 12.92 * linear), 0, 1)


def fit_to_gamut(lab: np.ndarray, steps: int = GAMUT_BISECTION_STEPS) -> np.ndarray:
    """Scales each pixel's ab by the largest ``s`` in [0, 1] that is in gamut.

    Bisection on ``s``; "in gamut": linear RGB within the sRGB cube (with a
    tolerance of 1e-4 in sRGB). L and the hue are kept.

    Args:
        lab: ``[..., 3]`` Lab units.

    Returns:
        ``[..., 3]``.
    """
    low_linear = -GAMUT_TOLERANCE / 12.92
    high_linear = ((1.0 + GAMUT_TOLERANCE + 0.055) / 1.055) ** 2.4
    lightness, ab = lab[..., :1], lab[..., 1:]

    def in_gamut(scale):
        linear = lab_to_linear(np.concatenate([lightness, ab * scale], axis=-1))
        return np.all(
            (linear >= low_linear) & (linear <= high_linear), -1, keepdims=True
        )

    inside = in_gamut(1.0)
    low, high = np.zeros_like(lightness), np.ones_like(lightness)
    for _ in range(steps):
        mid = 0.5 * (low + high)
        ok = in_gamut(mid)
        low, high = np.where(ok, mid, low), np.where(ok, high, mid)
    scale = np.where(inside, 1.0, low)
    return np.concatenate([lightness, ab * scale], axis=-1)


# ---------------------------------------------------------------- resizing


def _area_weights(in_size: int, out_size: int) -> np.ndarray:
    """``[out, in]``: each output cell's share of every input cell (rows sum to 1)."""
    scale = in_size / out_size
    weights = np.zeros((out_size, in_size))
    for o in range(out_size):
        start, end = o * scale, (o + 1) * scale
        for i in range(int(np.floor(start)), min(int(np.ceil(end)), in_size)):
            weights[o, i] = min(i + 1, end) - max(i, start)
    return weights / scale


def resize_area(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Exact box averaging ``[H, W, C]`` -> ``[height, width, C]`` (downscaling)."""
    rows = _area_weights(image.shape[0], height)  # [height, H]
    cols = _area_weights(image.shape[1], width)  # [width, W]
    return _separable(rows, np.asarray(image, np.float64), cols)


def _bilinear_weights(in_size: int, out_size: int) -> np.ndarray:
    """``[out, in]`` linear interpolation with half-pixel centres, edges clamped."""
    scale = in_size / out_size
    weights = np.zeros((out_size, in_size))
    for o in range(out_size):
        x = (o + 0.5) * scale - 0.5
        lower = int(np.floor(x))
        frac = x - lower
        weights[o, min(max(lower, 0), in_size - 1)] += 1.0 - frac
        weights[o, min(max(lower + 1, 0), in_size - 1)] += frac
    return weights


def resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear ``[h, w, C]`` -> ``[height, width, C]`` (``tf.image.resize``'s)."""
    rows = _bilinear_weights(image.shape[0], height)
    cols = _bilinear_weights(image.shape[1], width)
    return _separable(rows, np.asarray(image, np.float64), cols)


def _separable(rows: np.ndarray, image: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``out[o, p] = sum_h sum_w rows[o, h] cols[p, w] image[h, w]`` per channel."""
    h, w, c = image.shape
    x = (rows @ image.reshape(h, w * c)).reshape(-1, w, c)  # [height, W, C]
    return np.einsum("pw,owc->opc", cols, x, optimize=True)


# --------------------------------------------------------------- histogram


def soft_encode(ab: np.ndarray) -> np.ndarray:
    """ab ``[P, 2]`` -> weights ``[P, Q]`` over the 5 nearest bins (rows sum to 1)."""
    bins = ab_bins().astype(np.float64)  # [Q, 2]
    d2 = ((ab[:, None, :] - bins[None]) ** 2).sum(-1)  # [P, Q]
    nearest = np.argsort(d2, axis=1, kind="stable")[:, :SOFT_ENCODE_K]  # [P, 5]
    near_d2 = np.take_along_axis(d2, nearest, axis=1)
    # Relative to the nearest bin (no underflow far from every bin).
    w = np.exp(-(near_d2 - near_d2[:, :1]) / (2.0 * SOFT_ENCODE_SIGMA**2))
    w /= w.sum(axis=1, keepdims=True)
    out = np.zeros((len(ab), NUM_BINS))
    np.put_along_axis(out, nearest, w, axis=1)
    return out


def reference_histogram(ab: np.ndarray) -> np.ndarray:
    """The reference's ab ``[h, w, 2]`` (Lab units) -> its histogram ``[Q]`` (sums to 1).

    The ab is area-averaged by ``ceil(max(h, w) / 32)`` first (to at most
    32 x 32; a global colour distribution needs no more), then every pixel
    is soft-encoded and the encodings averaged.
    """
    h, w = ab.shape[:2]
    factor = -(-max(h, w) // HISTOGRAM_GRID)
    if factor > 1:
        ab = resize_area(ab, max(h // factor, 1), max(w // factor, 1))
    return soft_encode(ab.reshape(-1, 2)).mean(axis=0)


# --------------------------------------------------------------- pipeline


def model_inputs(lightness: np.ndarray, reference: np.ndarray, size: int) -> dict:
    """The model's inputs (step 2 of the module docstring).

    Args:
        lightness: the target's L ``[H, W, 1]`` in [0, 100] (:func:`rgb_to_lightness`).
        reference: the reference photo, uint8 ``[h, w, 3]``.
        size: the model's S.

    Returns:
        ``{"l": [1, S, S, 1], "ref_lab": [1, S, S, 3], "ref_hist": [1, Q]}``,
        float32.
    """
    l_small = resize_area(lightness, size, size)  # [S, S, 1]
    ref_small = resize_area(to_float_rgb(reference), size, size)  # [S, S, 3]
    ref_lab = rgb_to_lab(np.clip(ref_small, 0.0, 1.0))
    hist = reference_histogram(ref_lab[..., 1:])
    return {
        "l": l_small[None].astype(np.float32),
        "ref_lab": ref_lab[None].astype(np.float32),
        "ref_hist": hist[None].astype(np.float32),
    }


def postprocess(lightness: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """The model's ab and the full-resolution L -> the colour photo (step 4).

    Args:
        lightness: ``[H, W, 1]`` in [0, 100].
        ab: the model's output ``[1, S, S, 2]`` (or ``[S, S, 2]``), Lab units.

    Returns:
        uint8 ``[H, W, 3]``.
    """
    ab = np.asarray(ab, np.float64).reshape(ab.shape[-3:])
    ab = resize_bilinear(ab, *lightness.shape[:2])  # [H, W, 2]
    lab = fit_to_gamut(np.concatenate([lightness, ab], axis=-1))
    return np.round(lab_to_rgb(lab) * 255.0).astype(np.uint8)


def colorize(model: os.PathLike | bytes, gray: np.ndarray, reference: np.ndarray):
    """The whole app side around a ``--interface=lab`` TFLite model.

    Args:
        model: the ``.tflite`` file (path or bytes).
        gray: uint8 ``[H, W]``, ``[H, W, 1]`` or ``[H, W, 3]`` (luminance used).
        reference: uint8 ``[h, w, 3]``.

    Returns:
        uint8 ``[H, W, 3]``.
    """
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, bytes | bytearray):
        interpreter = Interpreter(model_content=bytes(model))
    else:
        interpreter = Interpreter(model_path=str(model))
    runner = interpreter.get_signature_runner("serving_default")
    size = int(runner.get_input_details()["l"]["shape"][1])
    lightness = rgb_to_lightness(to_float_rgb(gray))  # [H, W, 1]
    ab = runner(**model_inputs(lightness, reference, size))["ab"]
    return postprocess(lightness, ab)
