"""Evaluation metrics of the paper's Table 1 and the image helpers they share.

Images are ``[H, W, 3]`` RGB arrays, uint8 (0-255) or float in [0, 1]. A 2-D
array is a gray image and is repeated over the three channels.

* :func:`his` - histogram intersection similarity (HIS, Gray2ColorNet / the
  paper's Table 1): ``HIS(x, y) = sum_i min(h_x[i], h_y[i])`` over the 441-bin ab
  histogram (:func:`attention_colorization.color.ab_histogram441`). 1 for equal
  colour distributions, 0 for disjoint ones. Images may differ in size.
* :func:`psnr` - ``10 log10(1 / MSE)`` in dB on RGB in [0, 1].
* :func:`ssim` - ``tf.image.ssim`` on RGB in [0, 1] with ``max_val = 1``: an
  11 x 11 Gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03, valid-mode
  filtering, averaged over the three channels (Wang et al. 2004). This equals
  scikit-image's ``structural_similarity(..., channel_axis=-1, data_range=1,
  gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``.
* :func:`colorfulness` - Hasler & Suesstrunk 2003, "Measuring colourfulness in
  natural images": on the 0-255 scale, ``rg = R - G``, ``yb = (R + G) / 2 - B``,
  ``C = sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2)`` (s: standard
  deviation, m: mean over pixels).
* :func:`mean_hue` / :func:`hue_shift` - reference following (SPEC.md,
  "Evaluation"): the chroma-weighted mean hue of an image is the angle of its
  mean ab vector, ``atan2(mean b, mean a)`` (the mean of the unit hue vectors
  weighted by chroma, since ``(a, b) = C (cos h, sin h)``); the hue shift of
  two images is the absolute difference of their mean hues, wrapped to
  [0, 180] degrees. :func:`has_cast`: an image whose mean ab vector is longer
  than :data:`CAST_CHROMA` has a colour cast, so its mean hue is meaningful.
* The paper's aesthetics score (AS) needs a pretrained aesthetics model that
  cannot be had offline; :class:`AestheticsScorer` is a plug-in for one
  (:func:`load_aesthetics_scorer`, ``--aesthetics_scorer=module:function``).
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib
from typing import Protocol, runtime_checkable

import numpy as np
import tensorflow as tf
from PIL import Image

from attention_colorization import color, imageio

# A colour cast: the mean ab vector is longer than this (Lab units).
CAST_CHROMA = 5.0
# A mean ab vector shorter than this (Lab units) has no hue: a hue shift
# involving such an image is 0 (an output without a mean colour did not move).
HUE_MIN_CHROMA = 1.0
# Reference following: the output "moved" when its mean hue shifted this much.
MOVED_DEG = 60.0

AS_NOTE = (
    "The paper's aesthetics score (AS) needs a pretrained aesthetics model, which "
    "cannot be had offline here; it is reported only when a scorer is plugged in "
    "with --aesthetics_scorer=module:function (a callable rgb_uint8 -> float)."
)

# ------------------------------------------------------------ image helpers


def to_float_rgb(image) -> np.ndarray:
    """An image array -> float64 RGB ``[H, W, 3]`` in [0, 1].

    :func:`attention_colorization.imageio.to_float_rgb` in float64 (alpha
    dropped) for images of any size: metrics score crops under 8 px too.

    Args:
        image: ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]``;
            uint8 (0-255), uint16 (0-65535) or float in [0, 1].
    """
    rgb, _ = imageio.to_float_rgb(image, min_side=1, dtype=np.float64)
    return rgb


def to_uint8(rgb) -> np.ndarray:
    """An image (see :func:`to_float_rgb`) -> uint8 RGB ``[H, W, 3]``, rounded."""
    array = np.asarray(rgb)
    if array.dtype == np.uint8 and array.ndim == 3 and array.shape[-1] == 3:
        return array
    return np.round(to_float_rgb(array) * 255.0).astype(np.uint8)


def load_rgb(path) -> np.ndarray:
    """An image file -> uint8 RGB ``[H, W, 3]`` (EXIF-rotated; alpha dropped).

    Raises:
        attention_colorization.imageio.ImageError: unreadable or unusable file.
    """
    rgb, _ = imageio.to_float_rgb(imageio.load_image(path))
    return to_uint8(rgb)


def resize_center_crop(image, size: int) -> np.ndarray:
    """Resizes so the short side is ``size`` (bicubic), then centre-crops a square.

    The paper evaluates at 256 x 256. Returns uint8 ``[size, size, 3]``.
    """
    rgb = to_uint8(image)
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_h = max(size, int(round(height * scale)))
    new_w = max(size, int(round(width * scale)))
    if (new_h, new_w) != (height, width):
        resized = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BICUBIC)
        rgb = np.asarray(resized)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def resize_long_side(image, long_side: int, min_side: int = 16) -> np.ndarray:
    """Resizes (bicubic, up or down) so the long side is ``long_side``, aspect kept.

    The whole photo is kept (no crop). The short side is rounded and at least
    ``min_side`` pixels (SSIM needs 11). Returns uint8 ``[h, w, 3]`` with
    ``max(h, w) == long_side``.
    """
    rgb = to_uint8(image)
    height, width = rgb.shape[:2]
    scale = long_side / max(height, width)
    new_h = min(long_side, max(min_side, int(round(height * scale))))
    new_w = min(long_side, max(min_side, int(round(width * scale))))
    if (new_h, new_w) == (height, width):
        return rgb
    resized = Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BICUBIC)
    return np.asarray(resized)


# Compiled once per dtype and rank; shapes vary, so the signatures are relaxed.
_rgb_to_lab = tf.function(color.rgb_to_lab, reduce_retracing=True)
_ab_histogram441 = tf.function(color.ab_histogram441, reduce_retracing=True)


@tf.function(reduce_retracing=True)
def _lab_to_rgb_in_gamut(lab):
    return color.lab_to_rgb(color.fit_to_gamut(lab))


def rgb_to_lab(image) -> np.ndarray:
    """An image (see :func:`to_float_rgb`) -> float64 Lab ``[H, W, 3]`` (color.rgb_to_lab)."""
    return _rgb_to_lab(tf.constant(to_float_rgb(image))).numpy()


def lab_to_rgb(lightness, ab) -> np.ndarray:
    """L ``[H, W]`` and ab ``[H, W, 2]`` (Lab units) -> float64 RGB ``[H, W, 3]``.

    Out-of-gamut colours first lose chroma (``color.fit_to_gamut``), so the
    output's L is the given L (up to the gamut tolerance of 1e-4 in RGB), unlike
    clipping RGB, which changes L.
    """
    lightness = np.asarray(lightness, np.float64)
    ab = np.broadcast_to(np.asarray(ab, np.float64), lightness.shape + (2,))
    lab = tf.constant(np.concatenate([lightness[..., None], ab], axis=-1))
    return _lab_to_rgb_in_gamut(lab).numpy()


# ------------------------------------------------------------------ metrics


def ab_histogram(image) -> np.ndarray:
    """The 441-bin ab histogram ``[441]`` of an image (sums to 1)."""
    ab = rgb_to_lab(image)[..., 1:]  # [H, W, 2]
    return _ab_histogram441(tf.constant(ab, tf.float32)).numpy().astype(np.float64)


def his(image, other) -> float:
    """Histogram intersection similarity of two images' 441-bin ab histograms.

    ``HIS = sum_i min(h_image[i], h_other[i])`` in [0, 1]; the histograms are
    means over pixels, so the images may differ in size.

    Args:
        image, other: images ``[H, W, 3]`` / ``[h, w, 3]``, or histograms
            ``[441]`` already computed with :func:`ab_histogram`.
    """
    h1, h2 = _histogram(image), _histogram(other)
    return float(color.histogram_intersection(tf.constant(h1), tf.constant(h2)))


def _histogram(image_or_hist) -> np.ndarray:
    array = np.asarray(image_or_hist)
    if array.shape == (color.HIST441_SIZE**2,) and np.issubdtype(
        array.dtype, np.floating
    ):
        return array
    return ab_histogram(array)


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def psnr(gt_rgb, pred_rgb) -> float:
    """Peak signal-to-noise ratio in dB on RGB in [0, 1]: ``10 log10(1 / MSE)``.

    Returns ``inf`` for identical images.
    """
    gt, pred = to_float_rgb(gt_rgb), to_float_rgb(pred_rgb)
    _check_same_shape(gt, pred)
    mse = float(np.mean((gt - pred) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(1.0 / mse))


def ssim(gt_rgb, pred_rgb) -> float:
    """Structural similarity (Wang et al. 2004) on RGB in [0, 1], via ``tf.image.ssim``.

    ``max_val = 1``, 11 x 11 Gaussian window with sigma 1.5, K1 = 0.01,
    K2 = 0.03, mean over the valid-filtered map and the three channels. Both
    sides of the image must be at least 11 pixels. ``tf.image.ssim`` works in
    float32, where the local variances lose ~1e-7 to cancellation: results
    differ from a float64 SSIM by up to ~2e-4.
    """
    gt, pred = to_float_rgb(gt_rgb), to_float_rgb(pred_rgb)
    _check_same_shape(gt, pred)
    if min(gt.shape[:2]) < 11:
        raise ValueError(f"SSIM needs images of at least 11 x 11, got {gt.shape[:2]}")
    value = tf.image.ssim(
        tf.constant(gt, tf.float32), tf.constant(pred, tf.float32), max_val=1.0
    )
    return float(value)


def colorfulness(rgb) -> float:
    """Colourfulness of Hasler & Suesstrunk 2003 (0 for a gray image).

    On the 0-255 scale: ``rg = R - G``, ``yb = 0.5 (R + G) - B``,
    ``C = sqrt(std(rg)^2 + std(yb)^2) + 0.3 sqrt(mean(rg)^2 + mean(yb)^2)``
    (population standard deviation over the ``H * W`` pixels).
    """
    image = to_float_rgb(rgb) * 255.0  # [H, W, 3]
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    spread = np.sqrt(np.std(rg) ** 2 + np.std(yb) ** 2)
    centre = np.sqrt(np.mean(rg) ** 2 + np.mean(yb) ** 2)
    return float(spread + 0.3 * centre)


def mean_ab(image) -> np.ndarray:
    """The mean ab vector ``[2]`` (Lab units, float64) of an image ``[H, W, 3]``."""
    return rgb_to_lab(image)[..., 1:].reshape(-1, 2).mean(axis=0)


def _as_mean_ab(image_or_ab) -> np.ndarray:
    array = np.asarray(image_or_ab)
    if array.shape == (2,):
        return array.astype(np.float64)
    return mean_ab(array)


def mean_hue(image_or_ab) -> float:
    """The chroma-weighted mean hue in degrees, ``atan2(mean b, mean a)`` in (-180, 180].

    Args:
        image_or_ab: an image ``[H, W, 3]`` or its mean ab vector ``[2]``.

    Returns:
        The angle of the mean ab vector; NaN when it is shorter than
        :data:`HUE_MIN_CHROMA` (no mean colour, no hue).
    """
    ab = _as_mean_ab(image_or_ab)
    if np.hypot(*ab) < HUE_MIN_CHROMA:
        return float("nan")
    return float(np.degrees(np.arctan2(ab[1], ab[0])))


def hue_shift(image_or_ab, other_or_ab) -> float:
    """How far the mean hue moved between two images, degrees in [0, 180].

    ``|wrap(mean_hue(other) - mean_hue(image))|``; 0 when either has no mean
    colour (a mean ab vector shorter than :data:`HUE_MIN_CHROMA`).

    Args:
        image_or_ab, other_or_ab: images ``[H, W, 3]`` (any sizes) or their
            mean ab vectors ``[2]``.
    """
    h1, h2 = mean_hue(image_or_ab), mean_hue(other_or_ab)
    if not (np.isfinite(h1) and np.isfinite(h2)):
        return 0.0
    return float(abs((h2 - h1 + 180.0) % 360.0 - 180.0))


def has_cast(image_or_ab, threshold: float = CAST_CHROMA) -> bool:
    """Whether the mean ab vector (image ``[H, W, 3]`` or ``[2]``) is longer than
    ``threshold`` Lab units."""
    ab = _as_mean_ab(image_or_ab)
    return bool(np.hypot(*ab) > threshold)


# --------------------------------------------------------------- aesthetics


@runtime_checkable
class AestheticsScorer(Protocol):
    """A callable that rates an image: uint8 RGB ``[H, W, 3]`` -> a float score."""

    def __call__(self, rgb_uint8: np.ndarray) -> float: ...


def load_aesthetics_scorer(spec: str | None) -> AestheticsScorer | None:
    """Imports a user scorer from ``'module:function'`` or ``'path/to/file.py:function'``.

    Returns None for an empty ``spec``.

    Raises:
        ValueError: a malformed spec, a missing module or attribute, or an
            attribute that is not callable.
    """
    if not spec:
        return None
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"--aesthetics_scorer={spec!r}: use module:function")
    try:
        if module_name.endswith(".py"):
            path = pathlib.Path(module_name)
            if not path.is_file():
                raise ValueError(f"--aesthetics_scorer: no such file {path}")
            loader_spec = importlib.util.spec_from_file_location(path.stem, path)
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(
            f"--aesthetics_scorer: cannot import {module_name!r} ({error})"
        ) from None
    scorer = getattr(module, attr, None)
    if scorer is None:
        raise ValueError(f"--aesthetics_scorer: {module_name!r} has no {attr!r}")
    if not callable(scorer):
        raise ValueError(f"--aesthetics_scorer: {spec!r} is not callable")
    return scorer
