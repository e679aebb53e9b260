"""Per-example image ops: decoding, short-side resizing and cropping.

Every function here is built from TensorFlow ops only, so it gives the same result
eagerly and inside ``tf.data.Dataset.map`` (both are tested). Images are
``[height, width, 3]`` tensors: ``uint8`` straight out of the decoder, ``float32``
in [0, 1] after :func:`resize_short_side`.
"""

from __future__ import annotations

import tensorflow as tf

# libjpeg's DCT-domain downscaling factors (``tf.image.decode_jpeg(ratio=...)``).
JPEG_RATIOS = (1, 2, 4, 8)


def _jpeg_ratio_index(
    data: tf.Tensor, max_decode_side: int, min_short_side: int
) -> tf.Tensor:
    """Index into :data:`JPEG_RATIOS` of the ratio used to decode a JPEG.

    The smallest ratio whose decoded long side is at most ``max_decode_side``,
    made smaller again while the decoded short side would drop below
    ``min_short_side`` (so that downscaled decoding never forces an upscale).

    Args:
        data: scalar string tensor, the encoded JPEG.
        max_decode_side: longest decoded side wanted, in pixels.
        min_short_side: shortest decoded short side allowed, in pixels.

    Returns:
        int32 scalar in ``[0, len(JPEG_RATIOS))``.
    """
    shape = tf.image.extract_jpeg_shape(data)  # [3]: height, width, channels
    long_side = tf.reduce_max(shape[:2])
    short_side = tf.reduce_min(shape[:2])
    index = tf.constant(0, tf.int32)
    for i, ratio in enumerate(JPEG_RATIOS[1:], start=1):
        # libjpeg rounds the scaled size up: ceil(side / ratio).
        previous = JPEG_RATIOS[i - 1]
        too_long = (long_side + previous - 1) // previous > max_decode_side
        keeps_short = (short_side + ratio - 1) // ratio >= min_short_side
        index += tf.cast(tf.logical_and(too_long, keeps_short), tf.int32)
    return index


def decode_image(
    data: tf.Tensor, max_decode_side: int = 0, min_short_side: int = 0
) -> tf.Tensor:
    """Decodes JPEG, PNG, BMP, GIF (first frame) or WebP bytes to RGB.

    Large JPEGs are decoded downscaled in the DCT domain (ratio 2, 4 or 8), which
    is several times faster than decoding at full size and resizing.

    Args:
        data: scalar string tensor, the encoded image.
        max_decode_side: JPEGs whose long side exceeds this decode downscaled so
            that the long side is at most this (``<= 0``: always full size).
        min_short_side: the downscaled short side never falls below this (when
            the full-size image allows it), e.g. the short side of the later
            resize.

    Returns:
        uint8 tensor ``[height, width, 3]``. Raises ``InvalidArgumentError`` (or
        the error of the op that failed) for bytes that are not a whole image.
    """
    data = tf.convert_to_tensor(data, tf.string)

    def generic() -> tf.Tensor:
        return tf.io.decode_image(
            data, channels=3, dtype=tf.uint8, expand_animations=False
        )

    if max_decode_side <= 0:
        image = generic()
    else:

        def jpeg() -> tf.Tensor:
            index = _jpeg_ratio_index(data, max_decode_side, min_short_side)
            branches = [
                (lambda r=r: tf.image.decode_jpeg(data, channels=3, ratio=r))
                for r in JPEG_RATIOS
            ]
            return tf.switch_case(index, branches)

        image = tf.cond(tf.io.is_jpeg(data), jpeg, generic)
    image = tf.ensure_shape(image, [None, None, 3])
    return image


def resize_short_side(image: tf.Tensor, size: int) -> tf.Tensor:
    """Resizes so that the short side is ``size``, keeping the aspect ratio.

    Downscaling is anti-aliased (a triangle filter), so there is no overshoot and
    no clipping is needed beyond rounding error.

    Args:
        image: ``[height, width, channels]``, integer (full range) or float in
            [0, 1].
        size: the new short side in pixels.

    Returns:
        float32 ``[new_height, new_width, channels]`` in [0, 1] with
        ``min(new_height, new_width) == size``.
    """
    image = tf.image.convert_image_dtype(image, tf.float32)
    hw = tf.cast(tf.shape(image)[:2], tf.float32)  # [2]
    scale = size / tf.reduce_min(hw)
    new_hw = tf.maximum(tf.cast(tf.round(hw * scale), tf.int32), size)  # [2]
    resized = tf.image.resize(image, new_hw, method="bilinear", antialias=True)
    return tf.clip_by_value(resized, 0.0, 1.0)


def random_crop(image: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """A ``size x size`` crop at a position drawn from ``seed`` (stateless).

    Args:
        image: ``[height, width, channels]`` with both sides at least ``size``.
        size: crop side in pixels.
        seed: int32/int64 tensor ``[2]``; equal seeds give equal crops.

    Returns:
        ``[size, size, channels]`` of the input dtype.
    """
    channels = tf.shape(image)[2:]  # [1]
    crop = tf.image.stateless_random_crop(
        image, tf.concat([[size, size], channels], axis=0), seed=seed
    )
    return tf.ensure_shape(crop, [size, size, image.shape[-1]])


def center_crop(image: tf.Tensor, size: int) -> tf.Tensor:
    """The central ``size x size`` crop (offsets rounded down).

    Args:
        image: ``[height, width, channels]`` with both sides at least ``size``.
        size: crop side in pixels.

    Returns:
        ``[size, size, channels]`` of the input dtype.
    """
    hw = tf.shape(image)[:2]  # [2]
    offset = (hw - size) // 2
    crop = tf.image.crop_to_bounding_box(image, offset[0], offset[1], size, size)
    return tf.ensure_shape(crop, [size, size, image.shape[-1]])
