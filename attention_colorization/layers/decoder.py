"""The decoder: fused colour plus gray features to full-resolution ab."""

from __future__ import annotations

import keras
from keras import ops

from attention_colorization.layers.blocks import GatedConv, scaled_width
from attention_colorization.layers.joint_bilateral import (
    DEFAULT_SIGMA_RANGE,
    DEFAULT_SIGMA_SPATIAL,
    JointBilateralUpsampling,
)

UPSAMPLING_CHOICES = ("bilinear", "joint_bilateral")

_JOINT_BASE = 256  # Channels at the attention grid G = S / 4 (conv8's width).
_MID_BASE = 128  # Channels at S / 2 (conv2's width).
_FINE_BASE = 64  # Channels at S (conv1's width).


@keras.saving.register_keras_serializable(package="attention_colorization")
class Decoder(keras.layers.Layer):
    """Upsamples the fused colour ``c'`` with the gray features to ab at S.

    StackGAN++-style gated blocks (nearest x2, conv 3x3, batch norm, GLU), with
    the skips of the Zhang et al. 2017 decoder:

    1. ``[c' (2), conv8]`` at G = S/4 -> joint gated conv -> ``c_joint``.
    2. Up block to S/2, concatenated with ``conv2`` -> gated conv -> ``c_mid``.
    3. Up block to S, concatenated with ``conv1`` -> gated conv -> ``c_fine``.
    4. 1x1 conv -> 2 channels -> tanh (in float32): normalised ab.
       With ``residual``, instead: ``c'`` upsampled bilinearly to S plus the
       1x1 conv's output (zero-initialised, so an untrained decoder returns
       ``c'`` itself), clipped to [-1, 1]. Copying the fused colour is then
       the default and the decoder learns corrections (edges, detail); the
       first bundled model's plain decoder had learned to ignore ``c'``.
       With ``upsampling="joint_bilateral"`` ``c'`` is upsampled by
       :class:`JointBilateralUpsampling` guided by the target's L instead
       (no colour bleeding across edges of L; no weights).

    ``c_joint, c_mid, c_fine`` are 256, 128, 64 channels times ``width``
    (rounded, at least 8).

    Args:
        width: channel multiplier (paper 1.0).
        residual: predict a correction to ``c'`` (see step 4).
        upsampling: how a residual decoder brings ``c'`` to S: ``"bilinear"``
            or ``"joint_bilateral"`` (guided by L).
        sigma_range, sigma_spatial: the joint bilateral filter's sigmas (L
            units, grid cells).
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        color: fused colour ``c'`` ``[B, S/4, S/4, 2]`` (normalised ab).
        features: the dict of :class:`FeatureExtractor`; ``"conv8"``
            ``[B, S/4, S/4, c8]``, ``"conv2"`` ``[B, S/2, S/2, c2]`` and
            ``"conv1"`` ``[B, S, S, c1]`` are used, other entries ignored.
        guide: the target's L ``[B, S, S, 1]`` in [0, 100]; needed by
            ``upsampling="joint_bilateral"``, ignored otherwise.

    Returns:
        Normalised ab ``[B, S, S, 2]`` in (-1, 1), compute dtype.

    References:
        Zhang et al., "StackGAN++", TPAMI 2018 (up blocks, GLU); Zhang et al.,
        "Real-Time User-Guided Image Colorization with Learned Deep Priors",
        SIGGRAPH 2017 (skips); Yin et al., ACM MM 2021, Sec. 3.2.3.
    """

    def __init__(
        self,
        width=1.0,
        residual=False,
        upsampling="bilinear",
        sigma_range=DEFAULT_SIGMA_RANGE,
        sigma_spatial=DEFAULT_SIGMA_SPATIAL,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if upsampling not in UPSAMPLING_CHOICES:
            raise ValueError(
                f"upsampling must be one of {UPSAMPLING_CHOICES}, got {upsampling!r}"
            )
        if upsampling != "bilinear" and not residual:
            raise ValueError(f"upsampling={upsampling!r} needs a residual decoder")
        self.width = width
        self.residual = bool(residual)
        self.upsampling = upsampling
        self.sigma_range = float(sigma_range)
        self.sigma_spatial = float(sigma_spatial)
        self.upsampler = None
        if upsampling == "joint_bilateral":
            self.upsampler = JointBilateralUpsampling(
                sigma_range, sigma_spatial, name="joint_bilateral"
            )
        joint = scaled_width(_JOINT_BASE, width)
        mid = scaled_width(_MID_BASE, width)
        fine = scaled_width(_FINE_BASE, width)
        policy = self.dtype_policy
        self.joint = GatedConv(joint, dtype=policy, name="joint")
        self.up_mid = GatedConv(mid, upsample=True, dtype=policy, name="up_mid")
        self.merge_mid = GatedConv(mid, dtype=policy, name="merge_mid")
        self.up_fine = GatedConv(fine, upsample=True, dtype=policy, name="up_fine")
        self.merge_fine = GatedConv(fine, dtype=policy, name="merge_fine")
        zeros = "zeros" if self.residual else "glorot_uniform"
        self.to_ab = keras.layers.Conv2D(
            2, 1, kernel_initializer=zeros, dtype=policy, name="to_ab"
        )

    def build(self, color_shape, features_shape=None):
        if features_shape is None:
            raise ValueError("Decoder needs the feature dict of FeatureExtractor")

        def concat_shape(shape, extra):
            return tuple(shape)[:-1] + (shape[-1] + extra[-1],)

        shape = concat_shape(color_shape, features_shape["conv8"])
        self.joint.build(shape)
        shape = self.joint.compute_output_shape(shape)
        self.up_mid.build(shape)
        shape = concat_shape(
            self.up_mid.compute_output_shape(shape), features_shape["conv2"]
        )
        self.merge_mid.build(shape)
        shape = self.merge_mid.compute_output_shape(shape)
        self.up_fine.build(shape)
        shape = concat_shape(
            self.up_fine.compute_output_shape(shape), features_shape["conv1"]
        )
        self.merge_fine.build(shape)
        self.to_ab.build(self.merge_fine.compute_output_shape(shape))
        self.built = True

    def call(self, color, features, training=None, guide=None):
        x = ops.concatenate(
            [color, features["conv8"]], axis=-1
        )  # [B, S/4, S/4, 2 + c8]
        x = self.joint(x, training=training)  # [B, S/4, S/4, joint]
        x = self.up_mid(x, training=training)  # [B, S/2, S/2, mid]
        x = ops.concatenate([x, features["conv2"]], axis=-1)  # [B, S/2, S/2, mid + c2]
        x = self.merge_mid(x, training=training)  # [B, S/2, S/2, mid]
        x = self.up_fine(x, training=training)  # [B, S, S, fine]
        x = ops.concatenate([x, features["conv1"]], axis=-1)  # [B, S, S, fine + c1]
        x = self.merge_fine(x, training=training)  # [B, S, S, fine]
        out = ops.cast(self.to_ab(x), "float32")  # [B, S, S, 2]
        if not self.residual:
            return ops.cast(ops.tanh(out), self.compute_dtype)
        size = tuple(out.shape[1:3])
        if self.upsampler is not None:
            if guide is None:
                raise ValueError("joint bilateral upsampling needs the guide L")
            base = self.upsampler(color, guide)  # [B, S, S, 2]
        else:
            base = ops.image.resize(
                ops.cast(color, "float32"), size, interpolation="bilinear"
            )  # [B, S, S, 2]
        ab = ops.clip(base + out, -1.0, 1.0)
        return ops.cast(ab, self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "width": self.width,
                "residual": self.residual,
                "upsampling": self.upsampling,
                "sigma_range": self.sigma_range,
                "sigma_spatial": self.sigma_spatial,
            }
        )
        return config
