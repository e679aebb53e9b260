"""Joint bilateral upsampling of the fused colour, guided by the gray L."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from attention_colorization.layers.blocks import resize_to_grid

# The bundled model's values, chosen on the validation split (MODEL_CARD.md).
DEFAULT_SIGMA_RANGE = 5.0  # L units
DEFAULT_SIGMA_SPATIAL = 1.0  # attention-grid cells


def repeat_nearest(x, factor: int):
    """Nearest-neighbour ``[B, g, g, C]`` -> ``[B, g * f, g * f, C]``."""
    return ops.repeat(ops.repeat(x, factor, axis=1), factor, axis=2)


def _slice(x, axis: int, start: int, stop: int):
    """``x[..., start:stop, ...]`` along ``axis`` of a 4-D tensor."""
    index = [slice(None)] * 4
    index[axis] = slice(start, stop)
    return x[tuple(index)]


def _shift(x, dy: int, dx: int):
    """``x[:, i + dy, j + dx]`` with the border repeated: ``[B, g, g, C]``.

    Built from slices and concatenations (no pad op), so that the TFLite
    mobile graph can share it.
    """
    for axis, offset in ((1, dy), (2, dx)):
        if offset == 0:
            continue
        size = x.shape[axis]
        take = min(abs(offset), size)
        if offset > 0:  # x[i + d]: drop the first d, repeat the last
            parts = [_slice(x, axis, take, size)]
            parts += [_slice(x, axis, size - 1, size)] * take
        else:  # x[i - d]: repeat the first, drop the last d
            parts = [_slice(x, axis, 0, 1)] * take
            parts += [_slice(x, axis, 0, size - take)]
        x = ops.concatenate(parts, axis=axis)
    return x


def spatial_weights(size: int, factor: int, offset: int, sigma: float) -> np.ndarray:
    """The spatial weight along one axis ``[size]`` (float32) of the grid cell
    ``offset`` cells from each pixel's own: ``exp(-d^2 / (2 sigma^2))`` with
    ``d`` the distance (in cells) from the pixel's centre to that cell's."""
    position = (np.arange(size) + 0.5) / factor  # pixel centres, in cells
    cell = np.floor(position) + offset + 0.5  # the neighbour's centre
    return np.exp(-np.square(position - cell) / (2.0 * sigma * sigma)).astype(
        np.float32
    )


def joint_bilateral_upsample(
    color,
    guide,
    sigma_range: float = DEFAULT_SIGMA_RANGE,
    sigma_spatial: float = DEFAULT_SIGMA_SPATIAL,
    radius: int = 1,
    upsample=repeat_nearest,
):
    """Joint bilateral upsampling (Kopf et al. 2007) of a grid by a fine guide.

    Every pixel ``p`` of the output takes a weighted mean of the ``(2r + 1)^2``
    grid cells ``q`` around its own::

        c(p) = sum_q w_s(p, q) w_r(p, q) c(q) / sum_q w_s(p, q) w_r(p, q)
        w_s = exp(-|p - q|^2 / (2 sigma_s^2)),  |p - q| in grid cells
        w_r = exp(-(L(p) - L(q))^2 / (2 sigma_r^2)),  L(q) the cell's mean L

    so a colour does not bleed across an edge of L: a pixel takes the colour
    of the neighbouring cells whose lightness it shares. The output is a
    convex combination of the grid's colours (no overshoot).

    Args:
        color: ``[B, g, g, C]`` (any float dtype; computed in float32).
        guide: ``[B, S, S, 1]`` the fine guide (L in Lab units), ``S = f g``.
        sigma_range: ``sigma_r`` in the guide's units.
        sigma_spatial: ``sigma_s`` in grid cells.
        radius: ``r``, the neighbourhood's radius in cells.
        upsample: nearest-neighbour upsampling ``(x, f) -> x`` by the
            integer factor ``f`` (the TFLite mobile graph passes its own).

    Returns:
        float32 ``[B, S, S, C]``.
    """
    color = ops.cast(color, "float32")
    guide = ops.cast(guide, "float32")
    grid, size = color.shape[1], guide.shape[1]
    if size % grid:
        raise ValueError(f"the guide's side {size} is not a multiple of {grid}")
    factor = size // grid
    # L(q): the guide averaged over each cell ([B, g, g, 1]).
    cell_guide = resize_to_grid(guide, grid)  # average pooling f x f
    inv_range = 1.0 / (2.0 * sigma_range * sigma_range)
    numerator, denominator = 0.0, 0.0
    for dy in range(-radius, radius + 1):
        w_y = spatial_weights(size, factor, dy, sigma_spatial)[None, :, None, None]
        for dx in range(-radius, radius + 1):
            w_x = spatial_weights(size, factor, dx, sigma_spatial)[None, None, :, None]
            c_q = upsample(_shift(color, dy, dx), factor)  # [B, S, S, C]
            l_q = upsample(_shift(cell_guide, dy, dx), factor)  # [B, S, S, 1]
            weight = (w_y * w_x) * ops.exp(-ops.square(guide - l_q) * inv_range)
            numerator = numerator + weight * c_q
            denominator = denominator + weight
    # The pixel's own cell has w_s >= exp(-1 / (8 sigma_s^2)) and, at most,
    # w_r of a 100-unit L step: the floor only guards extreme sigmas.
    return numerator / ops.maximum(denominator, 1e-30)


@keras.saving.register_keras_serializable(package="attention_colorization")
class JointBilateralUpsampling(keras.layers.Layer):
    """Upsamples a colour grid to the guide's resolution, edge-aware.

    :func:`joint_bilateral_upsample` as a weightless layer: the decoder uses
    it to bring the fused colour ``c'`` from the attention grid to S when
    ``model.upsampling = "joint_bilateral"`` (bilinear blurs every colour
    over 4 pixels across an edge of L).

    Args:
        sigma_range: ``sigma_r`` in L units.
        sigma_spatial: ``sigma_s`` in grid cells.
        radius: the neighbourhood's radius in cells.
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        color: ``[B, g, g, C]``.
        guide: ``[B, S, S, 1]`` L in [0, 100], ``S`` a multiple of ``g``.

    Returns:
        ``[B, S, S, C]`` float32.

    References:
        Kopf, Cohen, Lischinski, Uyttendaele, "Joint Bilateral Upsampling",
        SIGGRAPH 2007.
    """

    def __init__(
        self,
        sigma_range=DEFAULT_SIGMA_RANGE,
        sigma_spatial=DEFAULT_SIGMA_SPATIAL,
        radius=1,
        **kwargs,
    ):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if not (sigma_range > 0 and sigma_spatial > 0):
            raise ValueError(
                f"sigmas must be positive, got {sigma_range} and {sigma_spatial}"
            )
        if radius < 0:
            raise ValueError(f"radius must be >= 0, got {radius}")
        self.sigma_range = float(sigma_range)
        self.sigma_spatial = float(sigma_spatial)
        self.radius = int(radius)

    def call(self, color, guide):
        return joint_bilateral_upsample(
            color, guide, self.sigma_range, self.sigma_spatial, self.radius
        )

    def compute_output_shape(self, color_shape, guide_shape):
        return tuple(guide_shape[:3]) + (color_shape[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sigma_range": self.sigma_range,
                "sigma_spatial": self.sigma_spatial,
                "radius": self.radius,
            }
        )
        return config
