"""Matching features from an ImageNet-pretrained backbone, for the SCM."""

from __future__ import annotations

import keras
from keras import ops

from attention_colorization import color

# Backbones the SCM can match on, and the endpoints (strides) it reads.
BACKBONES = ("efficientnet_lite0",)
DEFAULT_STRIDES = (4, 8, 16)


@keras.saving.register_keras_serializable(package="attention_colorization")
class PretrainedMatchingFeatures(keras.layers.Layer):
    """Gray L -> the multi-scale features of a pretrained backbone.

    The SCM's queries and keys need features under which two views of the same
    thing look alike. F, trained from scratch on a few hundred photos, does not
    learn that; an ImageNet-pretrained network has it already (DeepExemplar and
    Gray2ColorNet match on pretrained VGG19 features for the same reason).

    1. L ``[B, H, W, 1]`` (network units) -> the sRGB gray of that lightness,
       ``[B, H, W, 3]`` in [0, 255] (the backbone scales its input itself).
    2. The backbone's endpoints at ``strides`` (e.g. 4, 8, 16), each
       ``[B, H / s, W / s, C_s]``.

    The SCM resizes each map to its grid, L2-normalises it and appends L
    (SPEC.md, "Matching features"). Frozen by default: the weights are not
    trained and batch normalisation runs in inference mode. The backbone's
    weights are variables of this layer, so they are saved with the model and
    inference needs neither the weights package nor a download.

    Args:
        backbone: one of :data:`BACKBONES`.
        strides: the endpoints read, a subset of 2, 4, 8, 16, 32.
        weights: ``"imagenet"`` (from the installed weights package), a weights
            file, or None (random; the caller loads saved weights).
        trainable: fine-tune the backbone with the rest (default False).
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        lightness: L in network units ``[B, H, W, 1]`` (``L / 50 - 1``), H and W
            multiples of the largest stride.
        training: Keras training flag; ignored (inference mode) when frozen.

    Returns:
        A list of ``[B, H / s, W / s, C_s]`` maps, one per stride, in the
        compute dtype.
    """

    def __init__(
        self,
        backbone="efficientnet_lite0",
        strides=DEFAULT_STRIDES,
        weights=None,
        trainable=False,
        **kwargs,
    ):
        super().__init__(trainable=trainable, **kwargs)
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
        self.backbone_name = backbone
        self.strides = tuple(int(s) for s in strides)
        self.weights_source = weights
        from attention_colorization import backbones

        self.backbone = getattr(backbones, backbone)(
            weights=weights, include_top=False, name=backbone
        )
        self.backbone.trainable = trainable

    def build(self, input_shape):
        shape = tuple(input_shape)[:-1] + (3,)
        self.backbone.build(shape)
        self.built = True

    def call(self, lightness, training=None):
        rgb = color.lightness_to_gray_rgb(
            color.net_to_l(ops.cast(lightness, "float32"))
        )
        rgb = ops.cast(rgb * 255.0, self.compute_dtype)  # [B, H, W, 3] in [0, 255]
        endpoints = self.backbone(rgb, training=training if self.trainable else False)
        return [endpoints[f"stride{s}"] for s in self.strides]  # [B, H/s, W/s, C_s]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": self.backbone_name,
                "strides": list(self.strides),
                # Saved weights come with the model: rebuild without a source.
                "weights": None,
            }
        )
        return config
