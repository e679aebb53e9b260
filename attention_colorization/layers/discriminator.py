"""The PatchGAN discriminator of pix2pix on normalised Lab images."""

from __future__ import annotations

import keras
from keras import ops

from attention_colorization.layers.blocks import scaled_width

# (base channels, stride) of the hidden convolutions of pix2pix's 70x70 PatchGAN.
_PATCHGAN = ((64, 2), (128, 2), (256, 2), (512, 1))


@keras.saving.register_keras_serializable(package="attention_colorization")
class PatchDiscriminator(keras.layers.Layer):
    """pix2pix's 70x70 PatchGAN scoring every patch of a Lab image (LSGAN).

    Four 4x4 convolutions with LeakyReLU(0.2), channels 64-128-256-512 times
    ``width`` and strides 2-2-2-1, then a 4x4 convolution to one linear score
    per patch (least-squares GAN: no sigmoid). Every convolution is wrapped in
    ``keras.layers.SpectralNormalization`` (instead of pix2pix's batch norm)
    when ``spectral_norm`` is set; its power iteration runs in float32 under
    every policy, the convolutions in the compute dtype.

    Args:
        width: channel multiplier (pix2pix 1.0).
        spectral_norm: spectral normalisation on every convolution.
        **kwargs: passed to ``keras.layers.Layer``.

    Shapes:
        Input: normalised Lab ``[B, S, S, 3]`` (``L / 50 - 1``, ``ab / 110``), S a
        multiple of 8. Output: scores ``[B, S/8, S/8, 1]`` in the compute dtype
        (cast to float32 before the loss).

    References:
        Isola et al., "Image-to-Image Translation with Conditional Adversarial
        Networks", CVPR 2017; Miyato et al., "Spectral Normalization for
        Generative Adversarial Networks", ICLR 2018; Mao et al., "Least Squares
        Generative Adversarial Networks", ICCV 2017.
    """

    def __init__(self, width=1.0, spectral_norm=True, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.spectral_norm = spectral_norm
        specs = [(scaled_width(base, width), stride) for base, stride in _PATCHGAN]
        specs.append((1, 1))
        self.convs = []
        for i, (filters, stride) in enumerate(specs):
            conv = keras.layers.Conv2D(
                filters,
                4,
                strides=stride,
                padding="same",
                dtype=self.dtype_policy,
                name=f"conv{i + 1}",
            )
            if spectral_norm:
                # The power iteration runs in float32 under every policy: in
                # float16 its squared norms overflow (sigma nan), and a mixed
                # wrapper would write a rounded kernel back into the float32
                # variable each step. The wrapped convolution keeps the policy.
                conv = keras.layers.SpectralNormalization(
                    conv, dtype="float32", name=f"sn_conv{i + 1}"
                )
            self.convs.append(conv)

    def build(self, input_shape):
        shape = tuple(input_shape)
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs  # [B, S, S, 3]
        for conv in self.convs[:-1]:
            x = ops.leaky_relu(conv(x, training=training), negative_slope=0.2)
        scores = self.convs[-1](x, training=training)  # [B, S/8, S/8, 1]
        return ops.cast(scores, self.compute_dtype)  # The wrappers give float32.

    def get_config(self):
        config = super().get_config()
        config.update({"width": self.width, "spectral_norm": self.spectral_norm})
        return config
