r"""Evaluates exemplar-based colourisation as in the paper's Table 1.

    python tools/evaluate.py --pairs=pairs.csv --output_dir=eval/
    python tools/evaluate.py --data_dir=photos/ --output_dir=eval/ \
        --methods=ours,gray,welsh,reinhard --size=256 --max_pairs=50 \
        --palettes='#d8a47f,#6b8f71;#1d3557,#e63946,#f1faee'
    python tools/evaluate.py --data_dir=unseen/ --output_dir=eval/ \
        --weights=WORKDIR --methods=ours,gray,welsh,attention --long_side=512 \
        --kinds=related,independent,rotated,auto

Each pair's target is resized and centre-cropped to ``--size`` (or, with
``--long_side``, resized whole to that long side), turned gray and colourised
by each method; HIS (vs reference and ground truth), PSNR, SSIM,
colourfulness, naturalness (and, for rotated pairs, the hue shift) are written
to ``OUTPUT_DIR/results.csv``, a table of means per kind to ``summary.md`` (and
``summary.json``), thumbnails to ``contact_sheet.png``. Unreadable photos are
skipped and listed in ``summary.md``. See
``attention_colorization/evaluation/evaluate_lib.py``.
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
_SIZE = flags.DEFINE_integer(
    "size", 256, "Evaluation side in pixels, centre crops (paper: 256)."
)
_LONG_SIDE = flags.DEFINE_integer(
    "long_side",
    None,
    "Evaluate whole photos resized to this long side, aspect kept (not with --size).",
)
_METHODS = flags.DEFINE_string(
    "methods",
    "ours,gray,welsh,reinhard",
    "Comma-separated methods: ours, gray, welsh, reinhard, attention.",
)
_KINDS = flags.DEFINE_string(
    "kinds",
    None,
    "Pair kinds: related,independent,rotated,palette,auto (default: all that apply "
    "with --data_dir; the CSV's rows with --pairs).",
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
_NATURALNESS = flags.DEFINE_boolean(
    "naturalness",
    True,
    "Score naturalness (KL of ImageNet EfficientNet-Lite2 predictions); skipped "
    "with a note when its weights package is not installed.",
)
_AESTHETICS = flags.DEFINE_string(
    "aesthetics_scorer",
    None,
    "Optional module:function (or file.py:function) rating uint8 RGB -> float.",
)


_PRECISION = flags.DEFINE_enum(
    "precision",
    "auto",
    ["auto", "float32", "bfloat16"],
    "Inference precision of 'ours' (auto: bfloat16 where this machine computes "
    "it natively); float32 makes figures comparable across machines.",
)


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _LONG_SIDE.value is not None and flags.FLAGS["size"].present:
        print("error: --size and --long_side exclude each other", file=sys.stderr)
        return 1
    from attention_colorization import imageio
    from attention_colorization.evaluation import evaluate_lib

    try:
        summary = evaluate_lib.evaluate(
            _OUTPUT_DIR.value,
            pairs_csv=_PAIRS.value,
            data_dir=_DATA_DIR.value,
            weights=_WEIGHTS.value,
            size=None if _LONG_SIDE.value is not None else _SIZE.value,
            long_side=_LONG_SIDE.value,
            methods=_METHODS.value,
            kinds=_KINDS.value,
            max_pairs=_MAX_PAIRS.value,
            vgg_weights=_VGG_WEIGHTS.value,
            palettes=_PALETTES.value,
            aesthetics_scorer=_AESTHETICS.value,
            naturalness=_NATURALNESS.value,
            precision=_PRECISION.value,
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
