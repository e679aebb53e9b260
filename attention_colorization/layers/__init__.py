"""The network's layers (SPEC.md, "Network"), one public layer per module.

* :class:`FeatureExtractor` (F): the Zhang et al. 2017 encoder on the L channel.
* :class:`SemanticColorModule` (SCM): attention from target to reference (Eq. 1).
* :class:`DatabaseColorModule` (DCM): attention to the 313 ab bins under the
  reference histogram prior (Eq. 2-4).
* :class:`PretrainedMatchingFeatures`: an ImageNet-pretrained backbone's
  features of the gray L, for the SCM's queries and keys.
* :class:`GateFusion`: softmax gate over the colour sources (Eq. 5).
* :class:`Decoder`: StackGAN++-style upsampling of the fused colour to ab.
* :class:`JointBilateralUpsampling`: the fused colour brought to S guided by
  L (the residual decoder's ``upsampling="joint_bilateral"``).
* :class:`PatchDiscriminator`: pix2pix PatchGAN for the LSGAN loss.
"""

from attention_colorization.layers.database_color import DatabaseColorModule
from attention_colorization.layers.decoder import Decoder
from attention_colorization.layers.discriminator import PatchDiscriminator
from attention_colorization.layers.feature_extractor import FeatureExtractor
from attention_colorization.layers.gate_fusion import GateFusion
from attention_colorization.layers.joint_bilateral import JointBilateralUpsampling
from attention_colorization.layers.pretrained_matching import (
    PretrainedMatchingFeatures,
)
from attention_colorization.layers.semantic_color import SemanticColorModule

__all__ = [
    "DatabaseColorModule",
    "Decoder",
    "FeatureExtractor",
    "GateFusion",
    "JointBilateralUpsampling",
    "PatchDiscriminator",
    "PretrainedMatchingFeatures",
    "SemanticColorModule",
]
