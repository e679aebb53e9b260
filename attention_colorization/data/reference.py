"""Synthesis of semantically related training references (SPEC.md, "Training").

With probability ``data.related_prob`` the training reference is the target
itself, geometrically distorted so that the network cannot copy colours pixel by
pixel and must find correspondences: a random square crop at a random scale, a
horizontal flip, a small rotation and a smooth elastic warp. All four are folded
into one sampling grid and one bilinear resampling, in TensorFlow ops, keyed on a
stateless seed (equal seeds give equal references, eagerly and in ``tf.data``).

The grid, for an output pixel with centred coordinates ``q`` in [-1/2, 1/2]^2:

1. flip: ``q_x <- -q_x`` with probability 1/2;
2. warp: ``q <- q + D(q)``, ``D`` a coarse ``warp_grid x warp_grid`` field of
   uniform displacements in ``[-warp_strength, warp_strength]`` (in units of the
   crop side), upsampled bicubically (a smooth, TPS-like deformation);
3. rotation: ``q <- R(theta) q``, ``theta`` uniform in +-``max_rotation_deg``;
4. crop/scale: source pixel = crop centre + ``q`` * crop side, the side uniform in
   ``[min_crop, 1]`` times the image's short side, the centre uniform over the
   positions that keep the unrotated crop inside the image.

Samples that fall outside the image take the nearest edge pixel.
"""

from __future__ import annotations

import math

import tensorflow as tf

FLIP_PROB = 0.5  # A horizontal flip is as likely as none.


def bilinear_sample(image: tf.Tensor, y: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """Samples ``image`` at fractional pixel indices, clamping to the edges.

    Args:
        image: float ``[height, width, channels]``.
        y: float ``[out_h, out_w]`` row indices (0 = centre of the first row).
        x: float ``[out_h, out_w]`` column indices.

    Returns:
        ``[out_h, out_w, channels]``, bilinear interpolation of the four
        neighbours.
    """
    hw = tf.shape(image)[:2]
    max_y = tf.cast(hw[0] - 1, y.dtype)
    max_x = tf.cast(hw[1] - 1, x.dtype)
    y = tf.clip_by_value(y, 0.0, max_y)
    x = tf.clip_by_value(x, 0.0, max_x)
    y0 = tf.floor(y)
    x0 = tf.floor(x)
    wy = (y - y0)[..., tf.newaxis]  # [out_h, out_w, 1]
    wx = (x - x0)[..., tf.newaxis]
    y0i = tf.cast(y0, tf.int32)
    x0i = tf.cast(x0, tf.int32)
    y1i = tf.minimum(y0i + 1, hw[0] - 1)
    x1i = tf.minimum(x0i + 1, hw[1] - 1)

    def gather(yi: tf.Tensor, xi: tf.Tensor) -> tf.Tensor:
        return tf.gather_nd(image, tf.stack([yi, xi], axis=-1))  # [out_h, out_w, C]

    top = gather(y0i, x0i) * (1.0 - wx) + gather(y0i, x1i) * wx
    bottom = gather(y1i, x0i) * (1.0 - wx) + gather(y1i, x1i) * wx
    return top * (1.0 - wy) + bottom * wy


def distort_reference(
    image: tf.Tensor,
    seed: tf.Tensor,
    size: int,
    min_crop: float,
    max_rotation_deg: float,
    warp_strength: float,
    warp_grid: int,
) -> tf.Tensor:
    """A related reference: ``image`` cropped, scaled, flipped, rotated and warped.

    Args:
        image: float32 ``[height, width, 3]`` in [0, 1] (e.g. the target after
            :func:`~attention_colorization.data.decode.resize_short_side`).
        seed: int32/int64 tensor ``[2]`` of a stateless random stream.
        size: output side S in pixels.
        min_crop: smallest crop side as a fraction of the short side (in (0, 1]).
        max_rotation_deg: rotation angle range in degrees (uniform in +-range).
        warp_strength: amplitude of the elastic displacements, as a fraction of
            the crop side (0 disables the warp).
        warp_grid: control points per side of the coarse displacement field.

    Returns:
        float32 ``[size, size, 3]`` in [0, 1].
    """
    image = tf.convert_to_tensor(image, tf.float32)
    seeds = tf.random.experimental.stateless_split(seed, num=5)  # [5, 2]
    hw = tf.cast(tf.shape(image)[:2], tf.float32)  # [2]

    # Crop side and centre, in continuous pixel coordinates (pixel i spans [i, i+1)).
    scale = tf.random.stateless_uniform([], seeds[0], minval=min_crop, maxval=1.0)
    side = scale * tf.reduce_min(hw)
    corner = tf.random.stateless_uniform([2], seeds[1]) * (hw - side)  # [2]
    centre = corner + side / 2.0  # [2]: y, x

    # Output pixel centres, centred: q in (-1/2, 1/2).
    ticks = (tf.range(size, dtype=tf.float32) + 0.5) / size - 0.5  # [S]
    qy, qx = tf.meshgrid(ticks, ticks, indexing="ij")  # [S, S] each

    flip = tf.random.stateless_uniform([], seeds[2]) < FLIP_PROB
    qx = tf.where(flip, -qx, qx)

    if warp_strength > 0.0:
        coarse = tf.random.stateless_uniform(
            [1, warp_grid, warp_grid, 2],
            seeds[3],
            minval=-warp_strength,
            maxval=warp_strength,
        )  # [1, g, g, 2]
        field = tf.image.resize(coarse, [size, size], method="bicubic")[0]  # [S, S, 2]
        qy = qy + field[..., 0]
        qx = qx + field[..., 1]

    max_angle = max_rotation_deg * math.pi / 180.0
    angle = tf.random.stateless_uniform(
        [], seeds[4], minval=-max_angle, maxval=max_angle
    )
    cos, sin = tf.cos(angle), tf.sin(angle)
    ry = sin * qx + cos * qy
    rx = cos * qx - sin * qy

    # Continuous coordinates -> pixel indices (index i has its centre at i + 1/2).
    src_y = centre[0] + ry * side - 0.5  # [S, S]
    src_x = centre[1] + rx * side - 0.5
    out = bilinear_sample(image, src_y, src_x)  # [S, S, 3]
    return tf.ensure_shape(tf.clip_by_value(out, 0.0, 1.0), [size, size, 3])
