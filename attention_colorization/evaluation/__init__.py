"""Evaluation of exemplar-based colourisation (the paper's Table 1).

* :mod:`.metrics` - HIS, PSNR, SSIM, colourfulness, the aesthetics plug-in.
* :mod:`.baselines` - gray, Reinhard et al. 2001, Welsh et al. 2002.
* :mod:`.pairs` - evaluation pairs from a CSV or built from a folder.
* :mod:`.evaluate_lib` - the run behind ``tools/evaluate.py``.
"""

from attention_colorization.evaluation.metrics import (
    AestheticsScorer,
    colorfulness,
    his,
    psnr,
    ssim,
)

__all__ = ["AestheticsScorer", "colorfulness", "his", "psnr", "ssim"]
