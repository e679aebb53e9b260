r"""Evaluates exemplar-based colourisation as in the paper's Table 1.

    python tools/evaluate.py --pairs=pairs.csv --output_dir=eval/
    python tools/evaluate.py --data_dir=photos/ --output_dir=eval/ \
        --methods=ours,gray,welsh,reinhard --size=256 --max_pairs=50 \
        --palettes='#d8a47f,#6b8f71;#1d3557,#e63946,#f1faee'

Each pair's target is resized and centre-cropped to ``--size``, turned gray and
colourised by each method; HIS (vs reference and ground truth), PSNR, SSIM and
colourfulness are written to ``OUTPUT_DIR/results.csv``, means per kind and
method to ``summary.md`` (and ``summary.json``), thumbnails to
``contact_sheet.png``. See ``attention_colorization/evaluation/evaluate_lib.py``.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

_PAIRS = flags.DEFINE_string(
    "pairs",
    None,
    "CSV with columns target,reference,kind (related|independent|palette).",
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Folder of colour photos to build related/independent pairs from."
)
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "Model for 'ours': a workdir or weights file (default: bundled)."
)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Report folder.", required=True)
_SIZE = flags.DEFINE_integer("size", 256, "Evaluation side in pixels (paper: 256).")
_METHODS = flags.DEFINE_string(
    "methods", "ours,gray,welsh,reinhard", "Comma-separated methods to evaluate."
)
_MAX_PAIRS = flags.DEFINE_integer("max_pairs", None, "Evaluate only the first N pairs.")
_VGG_WEIGHTS = flags.DEFINE_string(
    "vgg_weights",
    "none",
    "--data_dir pairing: 'imagenet', a VGG19 notop .h5 file, or 'none' (distorted "
    "copy as related, farthest colour histogram as independent).",
)
_PALETTES = flags.DEFINE_string(
    "palettes", None, "Palette references: '#hex,#hex;#hex,...' (';' between palettes)."
)
_AESTHETICS = flags.DEFINE_string(
    "aesthetics_scorer",
    None,
    "Optional module:function (or file.py:function) rating uint8 RGB -> float.",
)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from attention_colorization import imageio
    from attention_colorization.evaluation import evaluate_lib

    try:
        summary = evaluate_lib.evaluate(
            _OUTPUT_DIR.value,
            pairs_csv=_PAIRS.value,
            data_dir=_DATA_DIR.value,
            weights=_WEIGHTS.value,
            size=_SIZE.value,
            methods=_METHODS.value,
            max_pairs=_MAX_PAIRS.value,
            vgg_weights=_VGG_WEIGHTS.value,
            palettes=_PALETTES.value,
            aesthetics_scorer=_AESTHETICS.value,
        )
    except (ValueError, FileNotFoundError, imageio.ImageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    with open(summary["outputs"]["summary_md"]) as f:
        print(f.read())
    for path in summary["outputs"].values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    app.run(main)
