"""Evaluation of exemplar-based colourisation (the paper's Table 1).

* :mod:`.metrics` - HIS, PSNR, SSIM, colourfulness, the hue shift, the
  aesthetics plug-in.
* :mod:`.naturalness` - KL of an ImageNet judge's predictions (EfficientNet-Lite2).
* :mod:`.baselines` - gray, Reinhard et al. 2001, Welsh et al. 2002.
* :mod:`.attention_baseline` - the training-free SCM transfer on ImageNet
  EfficientNet-Lite0 features.
* :mod:`.pairs` - evaluation pairs (related, independent, rotated, palette,
  auto) from a CSV or built from a folder.
* :mod:`.images` - resizing (centre crop or long side), decode-once cache.
* :mod:`.evaluate_lib` - the run behind ``tools/evaluate.py``.
* :mod:`.runners` - the methods and how each colourises a target.
* :mod:`.scoring` - the scores of one output, their means per kind and method.
* :mod:`.report` - results.csv, summary.md, summary.json, the contact sheet.
"""

from attention_colorization.evaluation.metrics import (
    AestheticsScorer,
    colorfulness,
    his,
    psnr,
    ssim,
)

__all__ = ["AestheticsScorer", "colorfulness", "his", "psnr", "ssim"]
