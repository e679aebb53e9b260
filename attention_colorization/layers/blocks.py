"""Small private building blocks shared by the public layers of this package.

Nothing here is part of the public API: the classes are registered so that the
public layers that own them serialise, but users build models from
:mod:`attention_colorization.layers`.
"""

from __future__ import annotations

import keras
from keras import ops

_PACKAGE = "attention_colorization"


def scaled_width(base: int, width: float, minimum: int = 8) -> int:
    """Channels of a block of ``base`` channels under the multiplier ``width``."""
    return max(minimum, int(round(base * width)))


def gated_linear_unit(x):
    """GLU of StackGAN++: the channels split in halves ``a, b``; ``a * sigmoid(b)``.

    Args:
        x: ``[..., 2 * C]``.

    Returns:
        ``[..., C]``.
    """
    a, b = ops.split(x, 2, axis=-1)  # [..., C] each
    return a * ops.sigmoid(b)


def confidence_layers(units: int, dtype_policy) -> tuple:
    """The two Dense layers mapping a module's evidence to a confidence logit.

    Both colour modules score their colour this way (the paper's "fully
    connected layer" to the confidence ``w``); the gate (Eq. 5) turns the logits
    into fusion weights.

    Returns:
        ``(hidden, out)``: ``Dense(units, relu)`` and ``Dense(1)``.
    """
    hidden = keras.layers.Dense(
        units, activation="relu", dtype=dtype_policy, name="confidence_hidden"
    )
    out = keras.layers.Dense(1, dtype=dtype_policy, name="confidence_out")
    return hidden, out


def resize_to_grid(x, grid_size: int):
    """Resizes a float map ``[B, h, w, C]`` to ``[B, grid_size, grid_size, C]``.

    Integer down-scaling factors use average pooling (every input pixel counts
    once), up-scaling uses bilinear interpolation, other factors an
    anti-aliased bilinear resize. Spatial sizes must be static.
    """
    height, width = x.shape[1], x.shape[2]
    if height is None or width is None:
        raise ValueError(
            f"Spatial sizes must be static to resize to the attention grid, got "
            f"shape {x.shape}"
        )
    if (height, width) == (grid_size, grid_size):
        return x
    if height % grid_size == 0 and width % grid_size == 0:
        pool = (height // grid_size, width // grid_size)
        return ops.average_pool(x, pool_size=pool, strides=pool, padding="valid")
    upsampling = height < grid_size and width < grid_size
    return ops.image.resize(
        x,
        (grid_size, grid_size),
        interpolation="bilinear",
        antialias=not upsampling,
    )


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConvBlock(keras.layers.Layer):
    """One block of the Zhang et al. 2017 encoder: ``num_convs`` x (conv 3x3, ReLU), BN.

    Args:
        filters: output channels of every convolution.
        num_convs: number of 3x3 convolutions.
        strides: stride of the first convolution (2 halves the resolution).
        dilation_rate: dilation of every convolution (the encoder's blocks 5-6
            use 2).
        **kwargs: passed to ``keras.layers.Layer``.

    Shapes:
        ``[B, H, W, C_in]`` -> ``[B, H / strides, W / strides, filters]``.
    """

    def __init__(self, filters, num_convs=2, strides=1, dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.num_convs = num_convs
        self.strides = strides
        self.dilation_rate = dilation_rate
        self.convs = [
            keras.layers.Conv2D(
                filters,
                3,
                strides=strides if i == 0 else 1,
                dilation_rate=dilation_rate,
                padding="same",
                activation="relu",
                dtype=self.dtype_policy,
                name=f"conv{i + 1}",
            )
            for i in range(num_convs)
        ]
        self.norm = keras.layers.BatchNormalization(dtype=self.dtype_policy, name="bn")

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.norm.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for conv in self.convs:
            x = conv(x)
        return self.norm(x, training=training)

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            shape = conv.compute_output_shape(shape)
        return shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "num_convs": self.num_convs,
                "strides": self.strides,
                "dilation_rate": self.dilation_rate,
            }
        )
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GatedConv(keras.layers.Layer):
    """StackGAN++'s gated convolution: (optional nearest x2), conv 3x3, BN, GLU.

    With ``upsample=True`` this is StackGAN++'s ``upBlock``; without, its joint
    convolution.

    Args:
        filters: output channels (the convolution has ``2 * filters``; the GLU
            halves them).
        upsample: nearest-neighbour x2 upsampling before the convolution.
        **kwargs: passed to ``keras.layers.Layer``.

    Shapes:
        ``[B, H, W, C_in]`` -> ``[B, s * H, s * W, filters]``, ``s = 2`` when
        upsampling, else 1.

    References:
        Zhang et al., "StackGAN++: Realistic Image Synthesis with Stacked
        Generative Adversarial Networks", TPAMI 2018.
    """

    def __init__(self, filters, upsample=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.upsample = upsample
        self.up = (
            keras.layers.UpSampling2D(
                2, interpolation="nearest", dtype=self.dtype_policy
            )
            if upsample
            else None
        )
        self.conv = keras.layers.Conv2D(
            2 * filters, 3, padding="same", dtype=self.dtype_policy, name="conv"
        )
        self.norm = keras.layers.BatchNormalization(dtype=self.dtype_policy, name="bn")

    def build(self, input_shape):
        shape = tuple(input_shape)
        if self.up is not None:
            shape = self.up.compute_output_shape(shape)
        self.conv.build(shape)
        self.norm.build(self.conv.compute_output_shape(shape))
        self.built = True

    def call(self, inputs, training=None):
        x = self.up(inputs) if self.up is not None else inputs
        x = self.norm(self.conv(x), training=training)  # [B, H', W', 2 * filters]
        return gated_linear_unit(x)  # [B, H', W', filters]

    def compute_output_shape(self, input_shape):
        batch, height, width = input_shape[:3]
        if self.upsample:
            height = None if height is None else 2 * height
            width = None if width is None else 2 * width
        return (batch, height, width, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "upsample": self.upsample})
        return config
