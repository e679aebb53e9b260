"""The gate fusion operation: one softmax over the colour sources per pixel."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="attention_colorization")
class GateFusion(keras.layers.Layer):
    """Fuses the colours of M sources with softmax-normalised confidences (Eq. 5).

    ``w'(x) = [w_1(x), ..., w_M(x)]`` (the sources' confidence logits,
    concatenated), ``alpha(x) = softmax(w'(x))`` over the sources (float32), and
    ``c'(x) = sum_j alpha_j(x) c_j(x)``. The sources are any number of reference
    colours (SCM) and the database colour (DCM); with a single source alpha is 1.
    The layer has no weights.

    Args:
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        colors: list of M colours ``[B, G, G, 2]``.
        confidences: list of M confidence logits ``[B, G, G, 1]``, same order.

    Returns:
        ``(fused [B, G, G, 2], alpha [B, G, G, M])``: fused in the compute
        dtype, alpha in float32 under every policy (rounded to bfloat16 its
        sums drift 2e-3 from 1); alpha sums to 1 over its last axis and follows
        the order of the inputs.

    References:
        Yin et al., ACM MM 2021, Sec. 3.1 (Eq. 5) and 3.2.3 (Fig. 4).
    """

    def build(self, colors_shape, confidences_shape=None):
        if confidences_shape is not None and len(colors_shape) != len(
            confidences_shape
        ):
            raise ValueError(
                f"GateFusion needs one confidence per colour, got {len(colors_shape)} "
                f"colours and {len(confidences_shape)} confidences"
            )
        self.built = True

    def call(self, colors, confidences):
        if len(colors) != len(confidences) or not colors:
            raise ValueError("GateFusion needs as many confidences as colours (>= 1)")
        logits = ops.concatenate(
            [ops.cast(w, "float32") for w in confidences], axis=-1
        )  # w': [B, G, G, M]
        if len(confidences) == 1:
            # One source: the softmax is 1 (and Keras warns on a size-1 softmax).
            alpha = ops.ones_like(logits)
        else:
            alpha = ops.softmax(logits, axis=-1)  # Eq. 5 weights: [B, G, G, M]
        stacked = ops.stack(
            [ops.cast(c, "float32") for c in colors], axis=-2
        )  # [B, G, G, M, 2]
        fused = ops.sum(alpha[..., None] * stacked, axis=-2)  # Eq. 5: [B, G, G, 2]
        return ops.cast(fused, self.compute_dtype), alpha
