"""The Database Color Module (DCM): attention to 313 database colours under a prior."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from attention_colorization import color
from attention_colorization.layers.blocks import confidence_layers


@keras.saving.register_keras_serializable(package="attention_colorization")
class DatabaseColorModule(keras.layers.Layer):
    """Colours from the ab-bin database, constrained by the reference histogram.

    The algorithm, per pixel x of the attention grid:

    1. Similarities to the Q database keys: the keys are fixed to the identity
       (key i = one-hot i), so ``h(q(x), k_i)`` is logit i of a 1x1 convolution
       on the last block of F.
    2. Likelihood ``p(q | v_i) = softmax_i(logits)`` (Eq. 2-3).
    3. Posterior ``p(v_i | q) ∝ p(v_i) p(q | v_i)`` with the prior ``p(v)`` the
       reference histogram ``R_H``, normalised per pixel (Eq. 2-3). Computed in
       float32 in log space: ``softmax(log R_H + log_softmax(logits))``.
    4. Colour ``c_d(x) = sum_i p(v_i | q) v_i`` with ``v_i`` the bin centres in
       network units (``ab / 110``) (Eq. 4). With ``temperature`` T < 1 the
       expectation is taken over the annealed posterior ``p^(1/T)``,
       renormalised (the "annealed mean" of Zhang et al. 2016): a posterior
       split between distant colours (a palette) then picks one per pixel
       instead of their gray average. T = 1 is Eq. 4.
       With ``likelihood=False`` step 2 is left out and the posterior is the
       prior itself: for a per-pixel prior that already says which colour
       goes where (a palette's, :mod:`attention_colorization.palette_prior`)
       under a classifier that never learned (the bundled model's gate never
       chose the DCM in training).
    5. Confidence ``w_d(x)``: the posterior's maximum and normalised entropy,
       concatenated with the features, through two Dense layers to one logit.

    With a uniform prior (or none) the module is the plain classifier of
    Zhang et al. 2016 read out by its expectation.

    Args:
        num_bins: Q; must match ``attention_colorization.color.ab_bins()``.
        confidence_units: hidden units of the confidence MLP.
        prior_floor: prior values are clipped below at this value before the
            logarithm, so an empty bin is very unlikely rather than NaN.
        temperature: T of the annealed mean (step 4), in (0, 1].
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        features: ``[B, G, G, C]`` (block 8 of F).
        prior: optional histogram ``[B, Q]`` (any positive scale), or one per
            pixel ``[B, G, G, Q]`` (a palette's, :mod:`palette_prior`); None
            means uniform.
        temperature: this call's T of the annealed mean (default: the
            layer's).
        return_posterior: also return the posterior ``[B, G, G, Q]`` (float32).
        likelihood: whether the classifier's likelihood enters the posterior
            (Eq. 3); False (a prior is then required) uses the prior alone.

    Returns:
        ``(color [B, G, G, 2], confidence [B, G, G, 1])`` in the compute dtype,
        plus ``posterior`` when asked.

    References:
        Yin et al., ACM MM 2021, Sec. 3.1 (Eq. 2-4) and 3.2.2; Zhang, Isola,
        Efros, "Colorful Image Colorization", ECCV 2016 (the 313 bins).
    """

    def __init__(
        self,
        num_bins=color.NUM_BINS,
        confidence_units=32,
        prior_floor=1e-12,
        temperature=1.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not 0.0 < temperature <= 1.0:
            raise ValueError(f"temperature must be in (0, 1], got {temperature}")
        self.temperature = float(temperature)
        bins = np.asarray(color.ab_bins(), dtype=np.float32)  # [Q, 2], Lab units
        if num_bins != bins.shape[0]:
            raise ValueError(
                f"num_bins must equal the {bins.shape[0]} database colours of "
                f"ab_bins(), got {num_bins}"
            )
        self.num_bins = num_bins
        self.confidence_units = confidence_units
        self.prior_floor = prior_floor
        self._bins = color.ab_to_net(bins)  # [Q, 2], network units
        self.classifier = keras.layers.Conv2D(
            num_bins, 1, dtype=self.dtype_policy, name="classifier"
        )
        self.confidence_hidden, self.confidence_out = confidence_layers(
            confidence_units, self.dtype_policy
        )

    def build(self, features_shape, prior_shape=None):
        features_shape = tuple(features_shape)
        self.classifier.build(features_shape)
        self.confidence_hidden.build(features_shape[:-1] + (features_shape[-1] + 2,))
        self.confidence_out.build(features_shape[:-1] + (self.confidence_units,))
        self.built = True

    def call(
        self,
        features,
        prior=None,
        return_posterior=False,
        temperature=None,
        likelihood=True,
    ):
        if not likelihood and prior is None:
            raise ValueError("likelihood=False needs a prior")
        logits = ops.cast(self.classifier(features), "float32")  # [B, G, G, Q]
        log_posterior = ops.log_softmax(logits, axis=-1)  # likelihood, Eq. 2
        if not likelihood:
            log_posterior = ops.zeros_like(log_posterior)  # p(q | v) uniform
        if prior is not None:
            prior = ops.maximum(ops.cast(prior, "float32"), self.prior_floor)
            log_prior = ops.log(prior)  # [B, Q] or [B, G, G, Q]
            if len(prior.shape) == 2:
                log_prior = log_prior[:, None, None, :]  # [B, 1, 1, Q]
            log_posterior = log_posterior + log_prior  # Eq. 3, unnormalised
        posterior = ops.softmax(log_posterior, axis=-1)  # [B, G, G, Q], Eq. 3
        bins = ops.convert_to_tensor(self._bins, dtype="float32")  # [Q, 2]
        weights = posterior
        temperature = self.temperature if temperature is None else float(temperature)
        if temperature != 1.0:  # The annealed mean: softmax(log p / T).
            weights = ops.softmax(log_posterior / temperature, axis=-1)
        color_d = ops.matmul(weights, bins)  # Eq. 4: [B, G, G, 2]

        peak = ops.max(posterior, axis=-1, keepdims=True)  # [B, G, G, 1]
        entropy = -ops.sum(
            posterior * ops.log(ops.maximum(posterior, 1e-12)), axis=-1, keepdims=True
        ) / math.log(
            self.num_bins
        )  # [B, G, G, 1], in [0, 1]
        stats = ops.cast(ops.concatenate([peak, entropy], axis=-1), self.compute_dtype)
        hidden = self.confidence_hidden(ops.concatenate([features, stats], axis=-1))
        confidence = self.confidence_out(hidden)  # [B, G, G, 1]
        outputs = (ops.cast(color_d, self.compute_dtype), confidence)
        if return_posterior:
            outputs += (posterior,)
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_bins": self.num_bins,
                "confidence_units": self.confidence_units,
                "prior_floor": self.prior_floor,
                "temperature": self.temperature,
            }
        )
        return config
