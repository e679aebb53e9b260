"""Colour augmentation of training pairs (SPEC.md, "Small-data recipe").

A network trained on a few hundred photos can learn each photo's colours from
its gray values and then ignore the reference. Rotating the ab plane by a random
angle and scaling the chroma by a random factor, with one transform for the
target and its reference, makes that recall useless: the colours to predict
exist only in the reference, so copying them from it is what pays.

Everything here is TensorFlow ops with stateless randomness, so it runs eagerly
and inside ``tf.data.Dataset.map`` alike and is reproducible from a seed.
"""

from __future__ import annotations

import math

import tensorflow as tf


def rotate_ab(ab: tf.Tensor, angle: tf.Tensor, chroma_scale: tf.Tensor) -> tf.Tensor:
    """Rotates ab by ``angle`` radians and scales its chroma by ``chroma_scale``.

    ``(a, b) -> s * R(angle) (a, b)``: hue moves by ``angle``, chroma is
    multiplied by ``s``, lightness is untouched (it is not an input).

    Args:
        ab: ``[..., 2]`` float32 ab (Lab units).
        angle: scalar float32, radians.
        chroma_scale: scalar float32, > 0.

    Returns:
        ``[..., 2]`` float32.
    """
    angle = tf.cast(angle, tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    a, b = ab[..., 0], ab[..., 1]
    rotated = tf.stack([cos * a - sin * b, sin * a + cos * b], axis=-1)  # [..., 2]
    return rotated * tf.cast(chroma_scale, tf.float32)


def draw_color_transform(
    seed: tf.Tensor,
    probability: float,
    max_angle_deg: float,
    chroma_range: tuple[float, float],
) -> tuple[tf.Tensor, tf.Tensor]:
    """Draws one ``(angle, chroma_scale)`` from a stateless seed.

    With probability ``1 - probability`` the identity ``(0, 1)`` is returned.

    Args:
        seed: int ``[2]`` stateless seed.
        probability: chance that the pair is transformed.
        max_angle_deg: the angle is uniform in ``[-max_angle_deg, max_angle_deg]``.
        chroma_range: ``(low, high)``: the chroma scale is uniform in it.

    Returns:
        ``(angle, chroma_scale)``, scalar float32 tensors (radians, factor).
    """
    seeds = tf.random.experimental.stateless_split(seed, num=3)  # [3, 2]
    apply = tf.random.stateless_uniform([], seeds[0]) < probability
    max_angle = max_angle_deg * math.pi / 180.0
    angle = tf.random.stateless_uniform([], seeds[1], -max_angle, max_angle)
    low, high = chroma_range
    scale = tf.random.stateless_uniform([], seeds[2], low, high)
    return (
        tf.where(apply, angle, 0.0),
        tf.where(apply, scale, 1.0),
    )


def augment_pair_colors(
    target_lab: tf.Tensor,
    ref_lab: tf.Tensor,
    seed: tf.Tensor,
    probability: float,
    max_angle_deg: float,
    chroma_range: tuple[float, float],
) -> tuple[tf.Tensor, tf.Tensor]:
    """Applies one random ab rotation and chroma scale to target and reference.

    Args:
        target_lab: ``[S, S, 3]`` float32 Lab.
        ref_lab: ``[S', S', 3]`` float32 Lab.
        seed: int ``[2]`` stateless seed.
        probability, max_angle_deg, chroma_range: see
            :func:`draw_color_transform`.

    Returns:
        ``(target_lab, ref_lab)`` with the same transform applied to both ab
        planes (then clipped to ``[-110, 110]``); L unchanged.
    """
    angle, scale = draw_color_transform(seed, probability, max_angle_deg, chroma_range)

    def apply(lab):
        # Clipped to the range the network's tanh output can reach (|ab| <= 110).
        ab = tf.clip_by_value(rotate_ab(lab[..., 1:], angle, scale), -110.0, 110.0)
        return tf.concat([lab[..., :1], ab], axis=-1)

    return apply(target_lab), apply(ref_lab)
