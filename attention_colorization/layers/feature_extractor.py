"""The feature extractor F: the encoder of Zhang et al. 2017."""

from __future__ import annotations

import keras
from keras import ops

from attention_colorization.layers.blocks import ConvBlock, scaled_width

# (base channels, convolutions, first stride, dilation) of blocks 1-7.
_ENCODER_BLOCKS = (
    (64, 2, 1, 1),  # conv1: S
    (128, 2, 2, 1),  # conv2: S / 2
    (256, 3, 2, 1),  # conv3: S / 4
    (512, 3, 2, 1),  # conv4: S / 8
    (512, 3, 1, 2),  # conv5: S / 8, dilated
    (512, 3, 1, 2),  # conv6: S / 8, dilated
    (512, 3, 1, 1),  # conv7: S / 8
)
_CONV8_BASE = 256  # conv8: back to S / 4, the attention grid.


@keras.saving.register_keras_serializable(package="attention_colorization")
class FeatureExtractor(keras.layers.Layer):
    """The encoder F of Zhang et al. 2017 (the paper's [36]) on the L channel.

    Eight convolution blocks; each is ``n`` x (conv 3x3, ReLU) followed by
    batch normalisation. Widths 64-128-256-512-512-512-512-256 (blocks 5-6
    dilated by 2), every one scaled by ``width`` (rounded, at least 8).
    Blocks 2-4 start with a stride-2 convolution, so block 1 is at the full
    resolution S, block 2 at S/2, block 3 at S/4 and blocks 4-7 at S/8. Block 8
    upsamples block 7 back to S/4 (transposed convolution 4x4, stride 2) and
    adds a 3x3 shortcut from block 3, as in Zhang et al. 2017; its S/4 grid is
    the attention grid G of the colour modules.

    The same F (shared weights) encodes the target and the reference; the SCM
    reads six of its blocks, the DCM and the decoder read ``conv8`` and the
    decoder the skips ``conv1``/``conv2``.

    Args:
        width: channel multiplier (paper 1.0).
        **kwargs: passed to ``keras.layers.Layer``.

    Shapes:
        Input: normalised L ``[B, S, S, 1]`` (``L / 50 - 1``), S a multiple of 8.
        Output: a dict ``{"conv1": [B, S, S, c1], "conv2": [B, S/2, S/2, c2],
        "conv3": [B, S/4, S/4, c3], "conv4".."conv7": [B, S/8, S/8, c],
        "conv8": [B, S/4, S/4, c8]}``.

    References:
        Zhang et al., "Real-Time User-Guided Image Colorization with Learned
        Deep Priors", SIGGRAPH 2017.
    """

    def __init__(self, width=1.0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.blocks = [
            ConvBlock(
                scaled_width(base, width),
                num_convs=convs,
                strides=strides,
                dilation_rate=dilation,
                dtype=self.dtype_policy,
                name=f"conv{i + 1}",
            )
            for i, (base, convs, strides, dilation) in enumerate(_ENCODER_BLOCKS)
        ]
        channels8 = scaled_width(_CONV8_BASE, width)
        self.up8 = keras.layers.Conv2DTranspose(
            channels8, 4, strides=2, padding="same", dtype=self.dtype_policy, name="up8"
        )
        self.shortcut8 = keras.layers.Conv2D(
            channels8, 3, padding="same", dtype=self.dtype_policy, name="shortcut8"
        )
        self.block8 = ConvBlock(
            channels8, num_convs=2, dtype=self.dtype_policy, name="conv8"
        )

    @property
    def channels(self):
        """Channels of each output, ``{"conv1": c1, ..., "conv8": c8}``."""
        out = {f"conv{i + 1}": block.filters for i, block in enumerate(self.blocks)}
        out["conv8"] = self.block8.filters
        return out

    @property
    def strides(self):
        """Stride of each output w.r.t. the input, ``{"conv1": 1, ..., "conv8": 4}``.

        Block 8 is upsampled back to block 3's resolution (the attention grid).
        """
        out, total = {}, 1
        for i, (_, _, stride, _) in enumerate(_ENCODER_BLOCKS):
            total *= stride
            out[f"conv{i + 1}"] = total
        out["conv8"] = out["conv3"]
        return out

    def build(self, input_shape):
        shape = tuple(input_shape)
        shapes = []
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
            shapes.append(shape)
        self.up8.build(shapes[6])
        self.shortcut8.build(shapes[2])
        self.block8.build(self.shortcut8.compute_output_shape(shapes[2]))
        self.built = True

    def call(self, inputs, training=None):
        features = {}
        x = inputs  # [B, S, S, 1]
        for i, block in enumerate(self.blocks):
            x = block(x, training=training)
            features[f"conv{i + 1}"] = x
        # Block 8: [B, S/8, S/8, c7] -> [B, S/4, S/4, c8], plus the conv3 shortcut.
        x = ops.relu(self.up8(x) + self.shortcut8(features["conv3"]))
        features["conv8"] = self.block8(x, training=training)
        return features

    def get_config(self):
        config = super().get_config()
        config.update({"width": self.width})
        return config
