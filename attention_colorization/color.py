"""Colour science in TensorFlow ops: sRGB <-> CIE Lab, the 313 ab bins, histograms.

Everything here is built from TensorFlow ops that TFLite has as builtins
(elementwise arithmetic, ``pow``, ``where``, ``matmul``, ``top_k``), so the same
functions run eagerly, inside ``tf.data``, under ``tf.function``/XLA, in the
model and in an exported graph. Gradients are finite everywhere: every ``pow``
with a fractional exponent sees an argument bounded away from zero.

Conventions (SPEC.md, "Colour science"):

* sRGB in [0, 1], D65 white, the standard sRGB companding.
* Lab units: L in [0, 100], a and b roughly in [-110, 110].
* Network units: ``L / 50 - 1`` and ``ab / 110`` (:func:`l_to_net`, :func:`ab_to_net`).
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import tensorflow as tf

L_SCALE = 50.0  # Network L = L / 50 - 1.
AB_SCALE = 110.0  # Network ab = ab / 110.
NUM_BINS = 313  # Q, the database colours of Zhang et al. 2016.
AB_GRID_STEP = 10.0  # Spacing of the ab bins in Lab units.
SOFT_ENCODE_K = 5  # Nearest bins per soft encoding (Zhang et al. 2016).
SOFT_ENCODE_SIGMA = 5.0  # Gaussian width of the soft encoding, Lab units.
HIST441_SIZE = 21  # 21 x 21 = 441 bins of the HIS metric (Gray2ColorNet).
HIST441_STEP = 0.1  # Bin spacing on ab / 110 in [-1, 1].
HISTOGRAM_GRID = 32  # reference_histogram: area-average to at most 32 x 32 first.
GAMUT_TOLERANCE = 1e-4  # fit_to_gamut: how far outside [0, 1] still counts as in.

# sRGB (D65) <-> XYZ, the matrix scikit-image uses, and the D65 (2 degree) white.
_XYZ_FROM_RGB = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
_RGB_FROM_XYZ = np.linalg.inv(_XYZ_FROM_RGB)
_D65_WHITE = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
_LAB_EPSILON = 0.008856  # (6/29)^3, CIE's linear-segment threshold.
_LAB_KAPPA = 7.787  # Slope of the linear segment.
_LAB_DELTA = 6.0 / 29.0  # f(t) threshold in the inverse direction.
_SRGB_THRESHOLD = 0.04045
_LINEAR_THRESHOLD = 0.0031308
# The companding's x^(1 / 2.4) above the threshold as a degree-7 polynomial in
# t = (2 x^(1/4) - (1 + z0)) / (1 - z0), z0 = threshold^(1/4): within 5e-7 of the
# power in float32 (1e-4 of an 8-bit level), at a tenth of ``pow``'s cost.
_COMPAND_Z0 = _LINEAR_THRESHOLD**0.25
_COMPAND_POLY = (
    0.4487105763696158,
    0.46173133850955606,
    0.0950341015017282,
    -0.006526310253620199,
    0.0013016843806733615,
    -0.0003613115091959104,
    0.00019025419936641926,
    -8.056528794443555e-05,
)


def _channel_matmul(x: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """``y[..., i] = sum_j matrix[i, j] * x[..., j]`` for ``x`` of shape ``[..., 3]``."""
    m = tf.constant(matrix.T, dtype=x.dtype)  # [3 (in), 3 (out)]
    shape = tf.shape(x)
    flat = tf.reshape(x, [-1, 3])  # [P, 3]
    return tf.reshape(tf.matmul(flat, m), shape)  # [..., 3]


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """sRGB in [0, 1] to CIE Lab (D65).

    Args:
        rgb: float tensor ``[..., 3]``; values are clipped to [0, 1].

    Returns:
        Lab tensor ``[..., 3]`` of the same float dtype: L in [0, 100], a, b in
        Lab units.
    """
    rgb = tf.convert_to_tensor(rgb)
    if not rgb.dtype.is_floating:
        raise TypeError(f"rgb_to_lab expects a float tensor in [0, 1], got {rgb.dtype}")
    linear = _srgb_to_linear(rgb)
    xyz = _channel_matmul(linear, _XYZ_FROM_RGB)
    xyz = xyz / tf.constant(_D65_WHITE, dtype=rgb.dtype)
    fx, fy, fz = tf.unstack(_lab_f(xyz), axis=-1)
    lightness = 116.0 * fy - 16.0
    a = 500.0 * (fx - fy)
    b = 200.0 * (fy - fz)
    return tf.stack([lightness, a, b], axis=-1)


def rgb_to_lightness(rgb: tf.Tensor) -> tf.Tensor:
    """The L channel of :func:`rgb_to_lab`, at about a third of its work.

    L depends on the luminance Y alone, so only Y is computed.

    Args:
        rgb: float tensor ``[..., 3]`` in [0, 1] (clipped).

    Returns:
        L ``[..., 1]`` in [0, 100].
    """
    linear = _srgb_to_linear(tf.convert_to_tensor(rgb))
    weights = tf.constant(_XYZ_FROM_RGB[1] / _D65_WHITE[1], dtype=linear.dtype)  # [3]
    y = tf.reduce_sum(linear * weights, axis=-1, keepdims=True)  # [..., 1]
    return 116.0 * _lab_f(y) - 16.0


def _srgb_to_linear(rgb: tf.Tensor) -> tf.Tensor:
    """sRGB (clipped to [0, 1]) to linear RGB: the inverse companding."""
    rgb = tf.clip_by_value(rgb, 0.0, 1.0)
    # The pow branch sees values >= the threshold only (finite gradients).
    gamma = tf.pow((tf.maximum(rgb, _SRGB_THRESHOLD) + 0.055) / 1.055, 2.4)
    return tf.where(rgb > _SRGB_THRESHOLD, gamma, rgb / 12.92)


def _lab_f(t: tf.Tensor) -> tf.Tensor:
    """CIE's f(t): the cube root above epsilon, linear below (bounded argument)."""
    cube_root = tf.pow(tf.maximum(t, _LAB_EPSILON), 1.0 / 3.0)
    return tf.where(t > _LAB_EPSILON, cube_root, _LAB_KAPPA * t + 16.0 / 116.0)


def lab_to_linear(lab: tf.Tensor) -> tf.Tensor:
    """CIE Lab ``[..., 3]`` to linear (not yet companded) sRGB ``[..., 3]``."""
    lightness, a, b = tf.unstack(lab, axis=-1)
    fy = (lightness + 16.0) / 116.0
    fx = a / 500.0 + fy
    fz = tf.maximum(fy - b / 200.0, 0.0)
    f = tf.stack([fx, fy, fz], axis=-1)
    cube = f * f * f  # used above the threshold only
    xyz = tf.where(f > _LAB_DELTA, cube, (f - 16.0 / 116.0) / _LAB_KAPPA)
    xyz = tf.unstack(xyz, axis=-1)
    # The 3 x 3 product written out: elementwise work that XLA fuses.
    matrix = _RGB_FROM_XYZ * _D65_WHITE[None, :]
    return tf.stack(
        [sum(float(matrix[i, j]) * xyz[j] for j in range(3)) for i in range(3)],
        axis=-1,
    )


def lab_to_rgb(lab: tf.Tensor, clip: bool = True, fast: bool = False) -> tf.Tensor:
    """CIE Lab (D65) to sRGB, clipped to [0, 1] (out-of-gamut colours are clamped).

    Args:
        lab: float tensor ``[..., 3]`` in Lab units.
        clip: clip to [0, 1]; ``False`` shows how far a colour lies out of gamut.
        fast: the companding by a polynomial instead of ``pow`` (within 5e-7;
            for full-resolution work); needs ``clip``.

    Returns:
        sRGB tensor ``[..., 3]``, in [0, 1] when ``clip``.
    """
    lab = tf.convert_to_tensor(lab)
    if not lab.dtype.is_floating:
        raise TypeError(f"lab_to_rgb expects a float tensor, got {lab.dtype}")
    linear = lab_to_linear(lab)
    if fast:
        if not clip:
            raise ValueError("lab_to_rgb(fast=True) needs clip=True")
        return linear_to_srgb_fast(linear)
    # sRGB companding: the pow branch sees values >= the threshold only.
    gamma = 1.055 * tf.pow(tf.maximum(linear, _LINEAR_THRESHOLD), 1.0 / 2.4) - 0.055
    rgb = tf.where(linear > _LINEAR_THRESHOLD, gamma, 12.92 * linear)
    return tf.clip_by_value(rgb, 0.0, 1.0) if clip else rgb


def linear_to_srgb_fast(linear: tf.Tensor) -> tf.Tensor:
    """Linear RGB, clipped to [0, 1], to sRGB in [0, 1], without ``pow``.

    The companding ``1.055 x^(1/2.4) - 0.055`` is a polynomial in ``x^(1/4)``
    (two square roots), within 5e-7 of the power: what the full-resolution
    colour work of the colorizer uses (XLA's ``pow`` costs ten times more).

    Args:
        linear: float tensor, any shape.

    Returns:
        sRGB of the same shape, in [0, 1].
    """
    linear = tf.clip_by_value(linear, 0.0, 1.0)
    t = (2.0 * tf.sqrt(tf.sqrt(linear)) - (1.0 + _COMPAND_Z0)) / (1.0 - _COMPAND_Z0)
    power = _COMPAND_POLY[-1]
    for coefficient in _COMPAND_POLY[-2::-1]:
        power = power * t + coefficient
    return tf.where(linear > _LINEAR_THRESHOLD, 1.055 * power - 0.055, 12.92 * linear)


def lightness_to_gray_rgb(lightness: tf.Tensor) -> tf.Tensor:
    """L ``[..., 1]`` in [0, 100] to the sRGB gray of that lightness, ``[..., 3]``.

    The inverse of :func:`rgb_to_lightness` on neutral colours: ``Y = f^-1(L)``
    then the sRGB companding, repeated to three channels (values in [0, 1]).
    """
    lightness = tf.cast(lightness, tf.float32)
    fy = (lightness + 16.0) / 116.0
    luminance = tf.where(
        fy > _LAB_DELTA, fy * fy * fy, (fy - 16.0 / 116.0) / _LAB_KAPPA
    )
    luminance = tf.clip_by_value(luminance, 0.0, 1.0)
    gamma = 1.055 * tf.pow(tf.maximum(luminance, _LINEAR_THRESHOLD), 1.0 / 2.4) - 0.055
    gray = tf.where(luminance > _LINEAR_THRESHOLD, gamma, 12.92 * luminance)
    return tf.concat([gray, gray, gray], axis=-1)


def fit_to_gamut(lab: tf.Tensor) -> tf.Tensor:
    """Brings Lab colours ``[..., 3]`` into the sRGB gamut by reducing chroma,
    keeping L and hue: :func:`attention_colorization.gamut.fit_to_gamut`
    (a table lookup, not a search; that module has the method)."""
    from attention_colorization import gamut  # gamut imports this module

    return gamut.fit_to_gamut(lab)


def l_to_net(lightness):
    """L in [0, 100] to network units in [-1, 1]."""
    return lightness / L_SCALE - 1.0


def net_to_l(x):
    """Network units back to L in [0, 100]."""
    return (x + 1.0) * L_SCALE


def ab_to_net(ab):
    """ab in Lab units to network units (about [-1, 1])."""
    return ab / AB_SCALE


def net_to_ab(x):
    """Network units back to ab in Lab units."""
    return x * AB_SCALE


def lab_to_net(lab):
    """Lab ``[..., 3]`` in Lab units to network units ``[..., 3]``."""
    return tf.concat([l_to_net(lab[..., :1]), ab_to_net(lab[..., 1:])], axis=-1)


# --------------------------------------------------------------------------- bins


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull ``[V, 2]`` of ``points [P, 2]`` (monotone chain)."""
    pts = sorted(set(map(tuple, np.round(points, 4))))

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1], dtype=np.float64)


def derive_ab_bins(levels: int = 64) -> np.ndarray:
    """Derives the 313 database colours v^d from first principles (SPEC.md).

    The ab grid of step 10 over [-110, 110]^2 is intersected with the convex hull
    of the sRGB gamut's ab projection, then grown by one grid step in the 8
    directions. This reproduces Zhang et al. 2016: 313 bins, a in [-90, 100],
    b in [-110, 100].

    Args:
        levels: samples per RGB channel used to trace the gamut.

    Returns:
        float32 array ``[313, 2]`` of bin centres (a, b) in Lab units, sorted by
        a then b.
    """
    v = np.linspace(0.0, 1.0, levels)
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(-1, 3)
    ab = rgb_to_lab(tf.constant(rgb, tf.float64)).numpy()[:, 1:]  # [P, 2]
    hull = _convex_hull(ab)  # [V, 2], counter-clockwise
    ticks = np.arange(-AB_SCALE, AB_SCALE + 1e-6, AB_GRID_STEP)  # [23]
    grid = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), axis=-1)  # [23, 23, 2]
    flat = grid.reshape(-1, 2)
    inside = np.ones(len(flat), dtype=bool)
    for i in range(len(hull)):
        p, q = hull[i], hull[(i + 1) % len(hull)]
        side = (q[0] - p[0]) * (flat[:, 1] - p[1]) - (q[1] - p[1]) * (flat[:, 0] - p[0])
        inside &= side >= -1e-9
    inside = inside.reshape(grid.shape[:2])  # [23, 23]
    padded = np.pad(inside, 1)
    grown = np.zeros_like(inside)
    n = inside.shape[0]
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= padded[1 + dy : 1 + dy + n, 1 + dx : 1 + dx + n]
    return grid[grown].astype(np.float32)  # [313, 2]


@functools.cache
def _cached_bins() -> np.ndarray:
    path = (
        importlib.resources.files("attention_colorization") / "weights" / "ab_bins.npy"
    )
    with importlib.resources.as_file(path) as file:
        bins = np.load(file)
    bins.setflags(write=False)
    return bins


def ab_bins() -> np.ndarray:
    """The Q = 313 database colours ``[313, 2]`` (a, b) in Lab units (package data)."""
    return _cached_bins()


# ------------------------------------------------------------------- histograms


def soft_encode(
    ab: tf.Tensor, k: int = SOFT_ENCODE_K, sigma: float = SOFT_ENCODE_SIGMA
) -> tf.Tensor:
    """Soft-encodes ab values onto the 313 bins (Zhang et al. 2016).

    Each value spreads over its ``k`` nearest bins with Gaussian weights
    ``exp(-d^2 / 2 sigma^2)``, normalised to sum to 1.

    Args:
        ab: float tensor ``[..., 2]`` in Lab units.
        k: nearest bins per value.
        sigma: Gaussian width in Lab units.

    Returns:
        ``[..., 313]`` weights, each row summing to 1.
    """
    ab = tf.convert_to_tensor(ab)
    dtype = ab.dtype if ab.dtype.is_floating else tf.float32
    ab = tf.cast(ab, dtype)
    bins = tf.constant(ab_bins(), dtype=dtype)  # [313, 2]
    flat = tf.reshape(ab, [-1, 2])  # [P, 2]
    # Squared distances [P, 313] via |x|^2 - 2 x.y + |y|^2 (one matmul).
    d2 = (
        tf.reduce_sum(flat**2, axis=-1, keepdims=True)
        - 2.0 * tf.matmul(flat, bins, transpose_b=True)
        + tf.reduce_sum(bins**2, axis=-1)[tf.newaxis, :]
    )
    d2 = tf.maximum(d2, 0.0)
    neg_d2, idx = tf.math.top_k(-d2, k=k)  # [P, k] each, nearest first
    # Relative to the nearest bin: the same weights after normalisation, but a
    # value far from every bin (out of gamut) cannot underflow them all to 0.
    weights = tf.exp((neg_d2 - neg_d2[:, :1]) / (2.0 * sigma**2))  # [P, k]
    weights = weights / tf.reduce_sum(weights, axis=-1, keepdims=True)
    # Scatter the k weights of each row into its 313 bins: segment ids p * 313 + bin.
    rows = tf.shape(flat)[0]
    segments = idx + NUM_BINS * tf.range(rows)[:, tf.newaxis]  # [P, k]
    dense = tf.math.unsorted_segment_sum(
        tf.reshape(weights, [-1]), tf.reshape(segments, [-1]), rows * NUM_BINS
    )  # [P * 313]
    out_shape = tf.concat([tf.shape(ab)[:-1], [NUM_BINS]], axis=0)
    return tf.reshape(dense, out_shape)  # [..., 313]


def ab_histogram(ab: tf.Tensor, floor: float = 0.0) -> tf.Tensor:
    """The reference histogram R_H: mean soft encoding over the spatial axes.

    Args:
        ab: float tensor ``[..., H, W, 2]`` in Lab units.
        floor: a small epsilon added to every bin before renormalising, so a
            colour absent from the reference is unlikely, not impossible (the
            prior p(v) of Eq. 2-4).

    Returns:
        ``[..., 313]`` histogram summing to 1.
    """
    encoded = soft_encode(ab)  # [..., H, W, 313]
    hist = tf.reduce_mean(encoded, axis=[-3, -2])  # [..., 313]
    if floor > 0.0:
        hist = hist + floor
        hist = hist / tf.reduce_sum(hist, axis=-1, keepdims=True)
    return hist


def reference_histogram(ab: tf.Tensor, floor: float = 0.0) -> tf.Tensor:
    """R_H of a reference: :func:`ab_histogram` of its ab, area-averaged to at most
    ``HISTOGRAM_GRID`` pixels a side first.

    R_H is a global colour distribution, so a 32 x 32 summary of the reference
    gives the same prior at a fraction of the cost (the soft encoding is a
    313-way nearest-bin search per pixel). The data pipeline, the colorizer and
    the exported graphs all call this one function.

    Args:
        ab: ``[H, W, 2]`` or ``[B, H, W, 2]`` in Lab units.
        floor: see :func:`ab_histogram`.

    Returns:
        ``[313]`` or ``[B, 313]``.
    """
    ab = tf.convert_to_tensor(ab)
    height, width = ab.shape[-3], ab.shape[-2]
    if height is not None and width is not None:
        factor = -(-max(height, width) // HISTOGRAM_GRID)  # ceil
        if factor > 1 and height % factor == 0 and width % factor == 0:
            # Average pooling = area resizing for an integer factor, and a TFLite builtin.
            batched = ab if ab.shape.rank == 4 else ab[tf.newaxis]
            pooled = tf.nn.avg_pool2d(batched, factor, factor, "VALID")
            small = pooled if ab.shape.rank == 4 else pooled[0]
            return ab_histogram(small, floor=floor)
        if factor <= 1:
            return ab_histogram(ab, floor=floor)
    size = tf.shape(ab)[-3:-1]
    factor = tf.maximum((tf.reduce_max(size) + HISTOGRAM_GRID - 1) // HISTOGRAM_GRID, 1)
    small = tf.image.resize(ab, tf.maximum(size // factor, 1), method="area")
    return ab_histogram(tf.cast(small, ab.dtype), floor=floor)


def palette_histogram(colors_rgb, floor: float = 1e-4) -> tf.Tensor:
    """A histogram ``[313]`` from a palette of sRGB colours ``[C, 3]`` in [0, 1].

    Each colour counts equally; used as the database prior when the user gives a
    palette instead of a reference photo.
    """
    rgb = tf.reshape(tf.cast(colors_rgb, tf.float32), [1, -1, 3])  # [1, C, 3]
    ab = rgb_to_lab(rgb)[..., 1:]  # [1, C, 2]
    return ab_histogram(ab, floor=floor)


def ab_histogram441(ab: tf.Tensor) -> tf.Tensor:
    """The differentiable 441-bin ab histogram of Gray2ColorNet (SPEC.md, HIS).

    A 21 x 21 grid on ``ab / 110`` in [-1, 1] with step 0.1; each pixel votes with
    triangular weights per channel, the a and b weights multiplied; the mean is
    taken over pixels.

    Args:
        ab: float tensor ``[..., H, W, 2]`` in Lab units.

    Returns:
        ``[..., 441]`` histogram summing to 1 (a-major: index = 21 * i_a + i_b).
    """
    ab = tf.convert_to_tensor(ab)
    x = tf.clip_by_value(ab / AB_SCALE, -1.0, 1.0)  # [..., H, W, 2]
    centres = tf.linspace(-1.0, 1.0, HIST441_SIZE)  # [21]
    centres = tf.cast(centres, x.dtype)
    shape = tf.shape(x)
    batch_shape = shape[:-3]
    flat = tf.reshape(x, tf.concat([[-1], shape[-3:-1], [2]], axis=0))  # [B, H, W, 2]
    flat = tf.reshape(flat, [tf.shape(flat)[0], -1, 2])  # [B, P, 2]
    # Triangular weights [B, P, 21] per channel.
    w = tf.maximum(
        0.0, 1.0 - tf.abs(flat[..., tf.newaxis] - centres) / HIST441_STEP
    )  # [B, P, 2, 21]
    wa, wb = w[:, :, 0, :], w[:, :, 1, :]  # [B, P, 21] each
    joint = tf.matmul(wa, wb, transpose_a=True)  # [B, 21, 21]
    pixels = tf.cast(tf.shape(flat)[1], x.dtype)
    hist = tf.reshape(joint, [-1, HIST441_SIZE * HIST441_SIZE]) / pixels  # [B, 441]
    return tf.reshape(hist, tf.concat([batch_shape, [HIST441_SIZE**2]], axis=0))


def histogram_intersection(h1: tf.Tensor, h2: tf.Tensor) -> tf.Tensor:
    """HIS = sum over bins of min(h1, h2): 1 for equal, 0 for disjoint histograms."""
    return tf.reduce_sum(tf.minimum(h1, h2), axis=-1)
