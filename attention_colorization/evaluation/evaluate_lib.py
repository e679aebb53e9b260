"""The evaluation run: colourise every pair with every method, score, write a report.

For each pair the target is resized (short side ``size``) and centre-cropped to
``size x size`` (the paper: 256), as is the reference; the target's CIE L is the
gray input. Each method colourises it:

* ``ours`` - the attention model (:class:`attention_colorization.Colorizer`)
  with the reference, or with the palette for a ``palette`` pair;
* ``gray``, ``welsh``, ``reinhard`` - the classical baselines
  (:mod:`attention_colorization.evaluation.baselines`).

Every output is rounded to 8 bits (as a saved image would be), then scored
(:mod:`attention_colorization.evaluation.metrics`): ``his_ref`` (HIS vs the
reference; for a palette, vs a swatch of equal-area stripes), ``his_gt`` (HIS vs
the ground truth), ``psnr``, ``ssim``, ``colorfulness`` and, with a scorer
plugged in, ``aesthetics``. Written atomically under ``output_dir``:

* ``results.csv`` - one row per pair and method;
* ``summary.md`` - means per kind and method, the number of pairs, how the pairs
  were built, the note on the aesthetics score;
* ``summary.json`` - the summary dict that :func:`evaluate` returns;
* ``contact_sheet.png`` - rows gray | reference | each method (first 16 pairs);
* ``references/`` - the distorted related copies, when pairs were built
  without VGG19 weights.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from tqdm import tqdm

from attention_colorization import imageio
from attention_colorization.colorizer import parse_palette
from attention_colorization.evaluation import baselines, metrics
from attention_colorization.evaluation import pairs as pairs_lib
from attention_colorization.workdir import atomic_write_text

METHODS = ("ours", "gray", "welsh", "reinhard")
METRICS = ("his_ref", "his_gt", "psnr", "ssim", "colorfulness")
AESTHETICS = "aesthetics"
RESULTS_CSV = "results.csv"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
CONTACT_SHEET = "contact_sheet.png"
THUMB = 128  # Contact sheet thumbnail side, pixels.
SHEET_ROWS = 16  # At most this many pairs on the contact sheet.
_LABEL_HEIGHT = 16  # Header strip of the contact sheet, pixels.
_METRIC_TITLES = {
    "his_ref": "HIS ref ↑",
    "his_gt": "HIS gt ↑",
    "psnr": "PSNR dB ↑",
    "ssim": "SSIM ↑",
    "colorfulness": "colourfulness",
    AESTHETICS: "AS ↑",
}


def parse_methods(methods: str | Sequence[str]) -> tuple[str, ...]:
    """``'ours,gray'`` or a list -> a tuple of known method names (order kept)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",")]
    names = tuple(dict.fromkeys(m.strip().lower() for m in methods if m.strip()))
    unknown = [m for m in names if m not in METHODS]
    if unknown or not names:
        raise ValueError(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(METHODS)}"
        )
    return names


def palette_swatch(palette: str, size: int) -> np.ndarray:
    """A palette as an image: equal-width vertical stripes, uint8 ``[size, size, 3]``.

    Equal areas give each colour equal weight in the HIS histogram, as in the
    model's palette prior (``color.palette_histogram``).
    """
    colours = parse_palette(palette)  # [C, 3] in [0, 1]
    column = np.minimum(np.arange(size) * len(colours) // size, len(colours) - 1)
    row = np.round(colours[column] * 255.0).astype(np.uint8)  # [size, 3]
    return np.ascontiguousarray(np.broadcast_to(row, (size, size, 3)))


class _Methods:
    """Runs the methods on one gray target; the model is loaded once, up front."""

    def __init__(self, methods: Sequence[str], weights, colorizer=None):
        self.methods = tuple(methods)
        self.colorizer = colorizer
        if "ours" in self.methods and colorizer is None:
            from attention_colorization.colorizer import Colorizer

            self.colorizer = Colorizer.load(weights)

    def run(self, method, lightness, gray_rgb, reference, pair) -> np.ndarray:
        """-> uint8 RGB ``[S, S, 3]``."""
        if method == "ours":
            if pair.kind == "palette":
                out = self.colorizer.colorize(gray_rgb, palette=pair.palette)
            else:
                out = self.colorizer.colorize(gray_rgb, reference=reference)
            return np.asarray(out)[..., :3]
        return metrics.to_uint8(baselines.BASELINES[method](lightness, reference))


def score(
    output, target, reference, scorer: Callable | None = None, hists=None
) -> dict:
    """The metrics of one output: :data:`METRICS` (+ ``aesthetics`` with a scorer).

    Args:
        output, target, reference: uint8 RGB images, output and target
            ``[S, S, 3]``.
        scorer: an optional aesthetics scorer.
        hists: optional precomputed ``(h_target, h_reference)`` ``[441]`` each.
    """
    h_target, h_reference = hists or (target, reference)
    h_output = metrics.ab_histogram(output)
    row = {
        "his_ref": metrics.his(h_output, h_reference),
        "his_gt": metrics.his(h_output, h_target),
        "psnr": metrics.psnr(target, output),
        "ssim": metrics.ssim(target, output),
        "colorfulness": metrics.colorfulness(output),
    }
    if scorer is not None:
        row[AESTHETICS] = float(scorer(np.asarray(output, np.uint8)))
    return row


def evaluate_pairs(
    pairs: Sequence[pairs_lib.Pair],
    output_dir: os.PathLike,
    *,
    weights=None,
    size: int = 256,
    methods: Sequence[str] = METHODS,
    aesthetics_scorer: Callable | None = None,
    pairs_source: str = "",
    progress: bool = True,
    colorizer=None,
) -> dict:
    """Colourises and scores ``pairs``; writes the report files; returns the summary.

    Args:
        pairs: the pairs (:mod:`attention_colorization.evaluation.pairs`).
        output_dir: the report folder (created).
        weights: the model for ``ours`` (None: the bundled demo model).
        size: evaluation side, pixels (paper: 256).
        methods: names from :data:`METHODS`.
        aesthetics_scorer: an optional ``f(rgb_uint8) -> float``.
        pairs_source: a sentence saying how the pairs were built.
        progress: show a tqdm bar on stderr.
        colorizer: an already loaded ``Colorizer`` for ``ours`` (else loaded
            from ``weights``).

    Returns:
        The summary dict (see :func:`summarize`).
    """
    if not pairs:
        raise pairs_lib.PairsError("no pairs to evaluate")
    if size < 16:
        raise ValueError(f"--size={size} is too small (SSIM needs at least 11 pixels)")
    methods = parse_methods(methods)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runner = _Methods(methods, weights, colorizer)

    rows, sheet = [], []
    start = time.perf_counter()
    bar = tqdm(
        pairs, desc="evaluate", unit="pair", file=sys.stderr, disable=not progress
    )
    for pair in bar:
        target = metrics.resize_center_crop(metrics.load_rgb(pair.target), size)
        if pair.kind == "palette":
            reference = palette_swatch(pair.palette, size)
        else:
            reference = metrics.resize_center_crop(
                metrics.load_rgb(pair.reference), size
            )
        lightness = baselines.lightness(target)  # [S, S] CIE L
        gray_rgb = baselines.gray(lightness).astype(np.float32)  # [S, S, 3]
        hists = (metrics.ab_histogram(target), metrics.ab_histogram(reference))
        outputs = []
        for method in methods:
            tic = time.perf_counter()
            output = runner.run(method, lightness, gray_rgb, reference, pair)
            seconds = time.perf_counter() - tic
            row = {
                "target": pair.target_label or str(pair.target),
                "reference": pair.reference_label or str(pair.reference),
                "kind": pair.kind,
                "method": method,
                **score(output, target, reference, aesthetics_scorer, hists),
                "seconds": seconds,
            }
            rows.append(row)
            outputs.append(output)
        if len(sheet) < SHEET_ROWS:
            sheet.append([metrics.to_uint8(gray_rgb), reference, *outputs])
    elapsed = time.perf_counter() - start

    summary = summarize(
        rows,
        methods=methods,
        num_pairs=len(pairs),
        pairs_source=pairs_source,
        size=size,
        weights=weights,
        aesthetics=aesthetics_scorer is not None,
        seconds_per_pair=elapsed / len(pairs),
    )
    summary["outputs"] = write_report(rows, summary, sheet, methods, output_dir)
    atomic_write_text(output_dir / SUMMARY_JSON, json.dumps(summary, indent=2) + "\n")
    return summary


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summarize(
    rows: list[dict],
    *,
    methods: Sequence[str],
    num_pairs: int,
    pairs_source: str,
    size: int,
    weights,
    aesthetics: bool,
    seconds_per_pair: float,
) -> dict:
    """Means per kind and method (and over all kinds, under ``"all"``).

    Returns:
        ``{"num_pairs", "pairs_by_kind", "pairs_source", "size", "weights",
        "methods", "metrics", "means": {kind: {method: {metric: mean}}},
        "seconds_per_pair", "aesthetics_note"}``.
    """
    metric_names = list(METRICS) + ([AESTHETICS] if aesthetics else [])
    kinds = [k for k in pairs_lib.KINDS if any(r["kind"] == k for r in rows)]
    first_method = methods[0]
    by_kind = {
        k: sum(r["kind"] == k and r["method"] == first_method for r in rows)
        for k in kinds
    }
    means = {}
    for kind in [*kinds, "all"]:
        means[kind] = {}
        for method in methods:
            selected = [
                r for r in rows if r["method"] == method and kind in ("all", r["kind"])
            ]
            means[kind][method] = {
                m: _mean([r[m] for r in selected]) for m in metric_names
            }
    note = (
        "Aesthetics scored with the plug-in given by --aesthetics_scorer."
        if aesthetics
        else metrics.AS_NOTE
    )
    return {
        "num_pairs": num_pairs,
        "pairs_by_kind": by_kind,
        "pairs_source": pairs_source,
        "size": size,
        "weights": "bundled demo model" if weights is None else str(weights),
        "methods": list(methods),
        "metrics": metric_names,
        "means": means,
        "seconds_per_pair": seconds_per_pair,
        "aesthetics_note": note,
    }


def _fmt(value: float) -> str:
    if value is None or not np.isfinite(value):
        return str(value)
    return f"{value:.4f}"


def summary_markdown(summary: dict) -> str:
    """``summary.md``: the means table and how the numbers were made."""
    metric_names = summary["metrics"]
    header = ["kind", "method", *(_METRIC_TITLES[m] for m in metric_names)]
    lines = [
        "# Evaluation summary",
        "",
        f"- pairs: {summary['num_pairs']} "
        f"({', '.join(f'{k}: {n}' for k, n in summary['pairs_by_kind'].items())})",
        f"- pairs {summary['pairs_source']}",
        f"- images: short side resized to {summary['size']} px, centre-cropped to "
        f"{summary['size']} x {summary['size']}; outputs rounded to 8 bits",
        f"- model (ours): {summary['weights']}",
        f"- time: {summary['seconds_per_pair']:.2f} s per pair, all methods",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * len(metric_names)) + "|",
    ]
    for kind, per_method in summary["means"].items():
        for method, values in per_method.items():
            cells = [kind, method, *(_fmt(values[m]) for m in metric_names)]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Metrics: HIS = sum over the 441 bins of min(h_out, h_other), the 21 x 21 ab "
        "histogram of Gray2ColorNet (vs the reference, or a palette's swatch, and vs "
        "the ground truth); PSNR on RGB in [0, 1]; SSIM = tf.image.ssim on RGB "
        "(max_val 1, 11 x 11 Gaussian window, sigma 1.5); colourfulness of Hasler & "
        "Suesstrunk 2003 (0-255 scale).",
        "",
        summary["aesthetics_note"],
        "",
    ]
    return "\n".join(lines)


def results_csv(rows: list[dict], metric_names: Sequence[str]) -> str:
    columns = ["target", "reference", "kind", "method", *metric_names, "seconds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {
                c: (f"{row[c]:.6g}" if isinstance(row[c], float) else row[c])
                for c in columns
            }
        )
    return buffer.getvalue()


def contact_sheet(sheet: list[list[np.ndarray]], labels: Sequence[str]) -> np.ndarray:
    """Rows of ``THUMB``-pixel thumbnails under a header of ``labels``; uint8 RGB."""
    cols = len(labels)
    height = _LABEL_HEIGHT + THUMB * len(sheet)
    canvas = Image.new("RGB", (THUMB * cols, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for j, label in enumerate(labels):
        draw.text((j * THUMB + 4, 2), label, fill=(0, 0, 0), font=font)
    for i, row in enumerate(sheet):
        for j, image in enumerate(row):
            thumb = Image.fromarray(metrics.to_uint8(image)).resize(
                (THUMB, THUMB), Image.Resampling.BICUBIC
            )
            canvas.paste(thumb, (j * THUMB, _LABEL_HEIGHT + i * THUMB))
    return np.asarray(canvas)


def write_report(rows, summary, sheet, methods, output_dir: pathlib.Path) -> dict:
    """Writes results.csv, summary.md and contact_sheet.png atomically; their paths."""
    paths = {
        "results_csv": output_dir / RESULTS_CSV,
        "summary_md": output_dir / SUMMARY_MD,
        "contact_sheet": output_dir / CONTACT_SHEET,
    }
    atomic_write_text(paths["results_csv"], results_csv(rows, summary["metrics"]))
    atomic_write_text(paths["summary_md"], summary_markdown(summary))
    image = contact_sheet(sheet, ["gray", "reference", *methods])
    imageio.save_image_atomic(image, paths["contact_sheet"], overwrite=True)
    return {k: str(v) for k, v in paths.items()}


def evaluate(
    output_dir: os.PathLike,
    *,
    pairs_csv: os.PathLike | None = None,
    data_dir: os.PathLike | None = None,
    weights=None,
    size: int = 256,
    methods: str | Sequence[str] = METHODS,
    max_pairs: int | None = None,
    vgg_weights: str = "none",
    palettes: str | None = None,
    aesthetics_scorer: str | Callable | None = None,
    progress: bool = True,
) -> dict:
    """The whole run of ``tools/evaluate.py``: build pairs, evaluate, report.

    Args:
        output_dir: the report folder.
        pairs_csv: a ``target,reference,kind`` CSV, or
        data_dir: a folder of photos to build pairs from (exactly one of them).
        weights: the model for ``ours`` (None: the bundled demo model).
        size: evaluation side in pixels.
        methods: ``'ours,gray,welsh,reinhard'`` or a subset.
        max_pairs: evaluate only the first N pairs.
        vgg_weights: ``none`` / ``imagenet`` / a path (``data_dir`` mode).
        palettes: ``'#hex,#hex;#hex,...'``: extra ``palette`` pairs.
        aesthetics_scorer: a callable or ``'module:function'``.
        progress: show the progress bar.

    Returns:
        The summary dict (:func:`summarize`, plus ``"outputs"``).
    """
    methods = parse_methods(methods)
    scorer = aesthetics_scorer
    if isinstance(scorer, str) or scorer is None:
        scorer = metrics.load_aesthetics_scorer(scorer)
    colorizer = None
    if data_dir and not pairs_csv and "ours" in methods:
        # Fail on missing weights before building pairs (which writes files).
        colorizer = _Methods(methods, weights).colorizer
    pairs, source = pairs_lib.load_pairs(
        pairs_csv, data_dir, output_dir, vgg_weights=vgg_weights, palettes=palettes
    )
    if max_pairs is not None and max_pairs > 0:
        pairs = pairs[:max_pairs]
    return evaluate_pairs(
        pairs,
        output_dir,
        weights=weights,
        size=size,
        methods=methods,
        aesthetics_scorer=scorer,
        pairs_source=source,
        progress=progress,
        colorizer=colorizer,
    )
