"""The colour work at the photo's own resolution, around the network.

The network sees L at its model resolution S and predicts ab there; the
photo keeps its own full-resolution L. This module makes that L
(:func:`lightness`) and turns L plus the network's ab into the output
(:func:`lab_to_output`):

1. ab ``[S, S, 2]`` is resized (bilinear, ``tf.image.resize``'s half-pixel
   taps) down the rows to ``[H, S, 2]``: small.
2. One fused pass per band of rows (:func:`row_bands`, about
   :data:`BAND_PIXELS` pixels: bounded memory at any size), XLA-compiled from
   :data:`XLA_MIN_PIXELS` on: ab across the width (:func:`column_taps`;
   bilinear interpolation is separable, so rows then columns is the 2-D
   resize), ``Lab(L, a, b)`` to sRGB (a ``pow``-free companding,
   ``color.linear_to_srgb_fast``), to uint8; and which pixels lie out of
   gamut.
3. Only those pixels are gathered (numpy: XLA's CPU gathers are slow) and
   fitted: ``(L, s a, s b)`` with the table scale ``s`` of
   :mod:`attention_colorization.gamut` (one pass, no search), bisection for
   the rare colours it flags; then written back.

8-bit gray photos (most inputs) skip the colour conversion of their L: a
256-entry lookup (:func:`gray_lightness`) gives it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os

import numpy as np
import tensorflow as tf

from attention_colorization import color, gamut

# From this many pixels on, the full-resolution work runs XLA-compiled (one
# compilation per band shape); below, plain graph mode, which needs none.
XLA_MIN_PIXELS = 1_000_000
# The full-resolution work runs in bands of rows of about this many pixels, so
# its memory stays bounded at any size (4096 x 4096: 16 bands).
BAND_PIXELS = 1 << 20
# Out-of-gamut pixels are fitted in groups of this many, on every core at
# once (threads: numpy and TensorFlow release the GIL); compiled (large
# photos), a last, smaller group is padded to the next of FIT_BUCKETS (one
# compilation each, about 0.2 s; never more than twice the work).
FIT_CHUNK = 1 << 18
FIT_BUCKETS = tuple(1 << k for k in range(12, 19))


def row_bands(height: int, width: int, band_pixels: int | None = None) -> list:
    """Splits ``height`` rows into bands of one height (the last may overlap).

    Args:
        height, width: the image's size.
        band_pixels: pixels per band at most (default :data:`BAND_PIXELS`);
            a band has at least one row.

    Returns:
        ``[(rows, keep, out), ...]`` slices: each band computes the image rows
        ``rows`` (all of one length, so a compiled function sees one shape) and
        writes its rows ``keep`` to the image rows ``out``; the ``out`` slices
        cover every row once, in order.
    """
    band_pixels = band_pixels or BAND_PIXELS
    count = max(1, -(-height * width // band_pixels))  # ceil
    band = -(-height // count)  # ceil: rows per band
    bands = []
    for first in range(0, height, band):
        stop = min(first + band, height)
        start = min(first, height - band)  # the last band ends at the last row
        bands.append(
            (
                slice(start, start + band),
                slice(first - start, stop - start),
                slice(first, stop),
            )
        )
    return bands


@functools.lru_cache(maxsize=16)
def column_taps(width: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps from ``size`` columns to ``width`` (``tf.image.resize``'s:
    half-pixel centres, no antialiasing).

    Returns:
        (left int32 ``[width]``, right int32 ``[width]``, frac float32
        ``[width]``): output column ``x`` is ``v[left] + (v[right] - v[left]) *
        frac``.
    """
    # In float32, as TensorFlow's kernel computes them.
    scale = np.float32(size / width)
    centre = (np.arange(width, dtype=np.float32) + np.float32(0.5)) * scale
    centre = centre - np.float32(0.5)
    floor = np.floor(centre)
    left = np.maximum(floor, 0).astype(np.int32)
    right = np.minimum(np.ceil(centre), size - 1).astype(np.int32)
    frac = (centre - floor).astype(np.float32)
    for array in (left, right, frac):
        array.setflags(write=False)
    return left, right, frac


@functools.cache
def gray_lightness() -> np.ndarray:
    """L of each 8-bit gray level ``[256]`` (float32): what
    :func:`color.rgb_to_lightness` gives for ``(v, v, v) / 255``."""
    levels = np.arange(256, dtype=np.float32) / 255.0
    rgb = np.repeat(levels[:, None], 3, axis=-1)  # [256, 3]
    lut = color.rgb_to_lightness(tf.constant(rgb)).numpy()[:, 0]
    lut.setflags(write=False)
    return lut


def _across(rows: tf.Tensor, left, right, frac) -> tf.Tensor:
    """Bilinear across the width with :func:`column_taps`: ``[h, S]`` -> ``[h, W]``."""
    first = tf.gather(rows, left, axis=1)
    return first + (tf.gather(rows, right, axis=1) - first) * frac


def _rgb_to_lightness(rgb):
    """Float RGB rows ``[h, W, 3]`` -> their L ``[h, W]``."""
    return color.rgb_to_lightness(rgb)[..., 0]


def _band(lightness, ab_rows, left, right, frac, as_uint8):
    """L rows ``[h, W]`` + their ab ``[h, S, 2]`` -> (sRGB ``[h, W, 3]``,
    outside ``[h, W]``).

    ``ab_rows`` is interpolated across to the width with the
    :func:`column_taps` and converted to sRGB as it is (``pow``-free
    companding, clipped); ``outside`` marks the pixels out of gamut, which
    :func:`_fit_outside` redoes.

    Returns:
        (uint8 ``[h, W, 3]`` when ``as_uint8``, else float32 in [0, 1];
        bool ``[h, W]``).
    """
    a = _across(ab_rows[..., 0], left, right, frac)  # [h, W]
    b = _across(ab_rows[..., 1], left, right, frac)
    lab = tf.stack([lightness, a, b], axis=-1)  # [h, W, 3]
    rgb = color.lab_to_rgb(lab, fast=True)  # [h, W, 3] in [0, 1]
    outside = gamut.outside_gamut(lab)  # XLA shares the Lab -> linear work
    if as_uint8:
        rgb = tf.cast(tf.round(rgb * 255.0), tf.uint8)
    return rgb, outside


def _fit(lightness, a, b, corners, fh, fl, as_uint8):
    """Out-of-gamut colours ``[n]`` (only those) and their table cells'
    corners ``[8, n]`` -> (fitted sRGB ``[n, 3]``, flagged ``[n]``, scale
    ``[n]``).

    :func:`gamut.gamut_scale_of_cell` (L and hue kept), then Lab -> sRGB.
    ``flagged`` colours go on to :func:`_refine`. The corners come planar
    (``[8, n]``): XLA's loops over gathered or strided values are not
    vectorised.
    """
    scale, flagged = gamut.gamut_scale_of_cell(
        lightness, a, b, tf.unstack(corners), fh, fl, known_outside=True
    )
    lab = tf.stack([lightness, a * scale, b * scale], axis=-1)  # [n, 3]
    rgb = color.lab_to_rgb(lab, fast=True)
    if as_uint8:
        rgb = tf.cast(tf.round(rgb * 255.0), tf.uint8)
    return rgb, flagged, scale


def _refine(lightness, a, b, scale, as_uint8):
    """The rare colours :func:`_fit` flags ``[m]`` -> sRGB ``[m, 3]``
    (:func:`gamut.refine_gamut_scale`)."""
    scale = gamut.refine_gamut_scale(
        lightness, a, b, scale, tf.ones_like(lightness, tf.bool)
    )
    lab = tf.stack([lightness, a * scale, b * scale], axis=-1)
    rgb = color.lab_to_rgb(lab, fast=True)
    return tf.cast(tf.round(rgb * 255.0), tf.uint8) if as_uint8 else rgb


# Any size in graph mode (one trace with unknown sizes); XLA per shape.
_LIGHTNESS = {
    False: tf.function(_rgb_to_lightness, reduce_retracing=True),
    True: tf.function(_rgb_to_lightness, jit_compile=True),
}
_BAND = {
    False: tf.function(_band, reduce_retracing=True),
    True: tf.function(_band, jit_compile=True),
}
_FIT = {
    False: tf.function(_fit, reduce_retracing=True),
    True: tf.function(_fit, jit_compile=True),
}
_REFINE = tf.function(_refine, reduce_retracing=True)


def lightness(pixels: np.ndarray, size: int) -> tuple[np.ndarray, tf.Tensor]:
    """Full-res pixels (``imageio.to_pixels``) -> (L ``[H, W]`` float32 numpy,
    its area average ``[1, S, S, 1]``, the network's input).

    8-bit gray ``[H, W]``: a 256-entry lookup; float RGB ``[H, W, 3]``: the
    luminance's L (:func:`color.rgb_to_lightness`), in bands.
    """
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint8:
        out = np.take(gray_lightness(), pixels)  # [H, W] float32
    else:
        out = np.empty((height, width), np.float32)
        pre = _LIGHTNESS[height * width >= XLA_MIN_PIXELS]
        for rows, keep, band in row_bands(height, width):
            out[band] = pre(tf.constant(pixels[rows])).numpy()[keep]
    small = tf.image.resize(out[None, :, :, None], [size, size], method="area")
    return out, small


def lab_to_output(lightness: np.ndarray, ab: tf.Tensor, as_uint8: bool) -> np.ndarray:
    """Full-res L ``[H, W]`` + the network's ab ``[1, S, S, 2]`` (Lab units)
    -> sRGB ``[H, W, 3]``, gamut-fitted: uint8 when ``as_uint8``, else
    float32 in [0, 1].

    The band pass, then the out-of-gamut pixels fitted (see the module
    docstring): bands of :data:`BAND_PIXELS`, fit groups of :data:`FIT_CHUNK`
    on every core.
    """
    height, width = lightness.shape
    size = int(ab.shape[2])
    ab_rows = tf.image.resize(ab, [height, size], method="bilinear")[0]  # [H, S, 2]
    taps = column_taps(width, size)
    xla = height * width >= XLA_MIN_PIXELS
    out = np.empty((height, width, 3), np.uint8 if as_uint8 else np.float32)
    outside = np.empty((height, width), bool)
    band_fn, tap_tensors = _BAND[xla], [tf.constant(t) for t in taps]
    for rows, keep, band_out in row_bands(height, width):
        rgb, band_outside = band_fn(
            tf.constant(lightness[rows]), ab_rows[rows], *tap_tensors, as_uint8
        )
        out[band_out] = rgb.numpy()[keep]
        outside[band_out] = band_outside.numpy()[keep]
    indices = np.flatnonzero(outside)
    if indices.size:
        flat_out = out.reshape(-1, 3)
        flat_l = lightness.reshape(-1)
        planes = np.ascontiguousarray(np.moveaxis(ab_rows.numpy(), -1, 0))
        planes = planes.reshape(2, -1)  # [2, H * S]

        def fit(start: int) -> None:
            chunk = indices[start : start + FIT_CHUNK]  # disjoint pixels
            flat_out[chunk] = _fit_outside(
                flat_l, planes, taps, width, size, chunk, as_uint8, xla
            )

        starts = range(0, indices.size, FIT_CHUNK)
        workers = min(len(starts), os.cpu_count() or 1)
        if workers > 1:
            with concurrent.futures.ThreadPoolExecutor(workers) as pool:
                list(pool.map(fit, starts))
        else:
            fit(0)
    return out


def _fit_outside(flat_l, planes, taps, width, size, indices, as_uint8, xla):
    """The out-of-gamut pixels at flat ``indices`` ``[n]`` -> their fitted
    sRGB ``[n, 3]`` (numpy).

    The gathers in numpy: each pixel's L from ``flat_l`` ``[H * W]``, its ab
    interpolated as in :func:`_band` from ``planes`` ``[2, H * S]`` (the rows'
    ab, planar), its table cell (:func:`gamut.np_gamut_cell`) and the cell's
    corners; then :func:`_fit`, compiled with ``xla`` on one of
    :data:`FIT_BUCKETS` pixels (the indices padded with the group's last):
    seven compilations at most serve every photo; then :func:`_refine` for the
    rare flagged colours.
    """
    count = indices.size
    if xla:  # padded with a pixel of the group: static shapes, all outside
        bucket = next((b for b in FIT_BUCKETS if b >= count), count)
        indices = np.pad(indices, (0, bucket - count), mode="edge")
    rows, cols = np.divmod(indices, width)
    values = flat_l[indices]
    left, right, frac = taps
    base = rows * size
    lo, hi, t = base + left[cols], base + right[cols], frac[cols]
    a, b = (p[lo] + (p[hi] - p[lo]) * t for p in planes)
    cell, fh, fl = gamut.np_gamut_cell(values, a, b)
    corners = np.take(gamut.gamut_cells_planar(), cell, axis=1)  # [8, n]
    arrays = [values, a, b, corners, fh, fl]
    rgb, flagged, scale = _FIT[xla](*map(tf.constant, arrays), as_uint8)
    rgb = rgb.numpy()[:count]
    rare = np.flatnonzero(flagged.numpy()[:count])
    if rare.size:
        picked = [tf.constant(v[rare]) for v in (values, a, b, scale.numpy())]
        rgb[rare] = _REFINE(*picked, as_uint8).numpy()
    return rgb
