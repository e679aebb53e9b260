"""The evaluation run: colourise every pair with every method, score, write a report.

Images (:class:`~attention_colorization.evaluation.images.Resize`): by default
the target is resized (short side ``size``) and centre-cropped to
``size x size`` (the paper: 256), as is the reference; with ``long_side`` the
whole photo is resized to that long side, aspect kept, and its reference
likewise. Each file is decoded once
(:class:`~attention_colorization.evaluation.images.ImageCache`); unreadable
photos are skipped and listed in the report. The target's CIE L is the gray
input. Each method colourises it:

* ``ours`` - the attention model (:class:`attention_colorization.Colorizer`)
  with the reference, the palette of a ``palette`` pair, or nothing for an
  ``auto`` pair (automatic mode);
* ``gray``, ``welsh``, ``reinhard`` - the classical baselines
  (:mod:`attention_colorization.evaluation.baselines`);
* ``attention`` - the training-free SCM transfer on ImageNet features
  (:mod:`attention_colorization.evaluation.attention_baseline`; not in the
  default set: it loads EfficientNet-Lite0).

Methods that need a reference (all but ``ours`` and ``gray``) are not run on
``auto`` pairs. Every output is rounded to 8 bits (as a saved image would be),
then scored (:mod:`attention_colorization.evaluation.metrics`): ``his_ref``
(HIS vs the reference; for a palette, vs a swatch of equal-area stripes; none
for ``auto``), ``his_gt`` (HIS vs the ground truth), ``psnr``, ``ssim``,
``colorfulness``, ``naturalness`` (KL of an ImageNet judge's predictions,
:mod:`attention_colorization.evaluation.naturalness`, when its weights are
installed) and, with a scorer plugged in, ``aesthetics``. ``rotated`` pairs
also get ``hue_shift`` (degrees: how far the output's mean hue moved against
the output for the unrotated related reference, :func:`metrics.hue_shift`),
``cast`` (1 when the target has a colour cast, :func:`metrics.has_cast`) and
``moved`` (for targets with a cast: 1 when the hue moved >= 60 degrees; its
mean is the fraction of those photos). Written atomically under
``output_dir``:

* ``results.csv`` - one row per pair and method;
* ``summary.md`` - a table per kind (methods as rows), the number of pairs,
  how the pairs were built, the skipped files, the notes on the metrics;
* ``summary.json`` - the summary dict that :func:`evaluate` returns;
* ``contact_sheet.png`` - rows gray | reference | each method (first 16 pairs);
* ``references/`` - the distorted related copies, when pairs were built
  without VGG19 weights.

From Python, for a training workdir's model::

    evaluate("eval/", data_dir="photos/", weights="WORKDIR", long_side=512,
             methods="ours,gray,welsh,attention")
"""

from __future__ import annotations

import csv
import io
import json
import math
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
from attention_colorization.evaluation.images import ImageCache, Resize
from attention_colorization.evaluation.naturalness import load_naturalness
from attention_colorization.workdir import atomic_write_text

METHODS = ("ours", "gray", "welsh", "reinhard")  # The default set.
KNOWN_METHODS = (*METHODS, "attention")
NO_REFERENCE_METHODS = ("ours", "gray")  # The methods run on ``auto`` pairs.
METRICS = ("his_ref", "his_gt", "psnr", "ssim", "colorfulness")
NATURALNESS = "naturalness"
HUE_SHIFT = "hue_shift"
MOVED = "moved"
AESTHETICS = "aesthetics"
CAST = "cast"  # A results.csv column of rotated pairs (not a metric).
RESULTS_CSV = "results.csv"
SUMMARY_MD = "summary.md"
SUMMARY_JSON = "summary.json"
CONTACT_SHEET = "contact_sheet.png"
DEFAULT_SIZE = 256  # The paper's evaluation side.
THUMB = 128  # Contact sheet thumbnail side, pixels.
SHEET_ROWS = 16  # At most this many pairs on the contact sheet.
_LABEL_HEIGHT = 16  # Header strip of the contact sheet, pixels.
_METRIC_TITLES = {
    "his_ref": "HIS ref ↑",
    "his_gt": "HIS gt ↑",
    "psnr": "PSNR dB ↑",
    "ssim": "SSIM ↑",
    "colorfulness": "colourfulness",
    NATURALNESS: "naturalness KL ↓",
    HUE_SHIFT: "hue shift °",
    MOVED: f"moved ≥{metrics.MOVED_DEG:g}° (cast) ↑",
    AESTHETICS: "AS ↑",
}
# Metrics that mean nothing for a kind: not in its table.
_NOT_FOR_KIND = {
    "auto": ("his_ref", HUE_SHIFT, MOVED),
    "rotated": (),
}
_ONLY_ROTATED = (HUE_SHIFT, MOVED)
NATURALNESS_NOTE = (
    "naturalness = KL(p_original || p_output) in nats (lower is better), scored by "
    "the judge given to evaluate_pairs."
)


def parse_methods(methods: str | Sequence[str]) -> tuple[str, ...]:
    """``'ours,gray'`` or a list -> a tuple of known method names (order kept)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",")]
    names = tuple(dict.fromkeys(m.strip().lower() for m in methods if m.strip()))
    unknown = [m for m in names if m not in KNOWN_METHODS]
    if unknown or not names:
        raise ValueError(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(KNOWN_METHODS)}"
        )
    return names


def make_resize(size: int | None = None, long_side: int | None = None) -> Resize:
    """``--size`` (default :data:`DEFAULT_SIZE`) or ``--long_side``, not both."""
    if size is not None and long_side is not None:
        raise ValueError("--size and --long_side exclude each other; give one")
    if long_side is not None:
        return Resize(size=None, long_side=int(long_side))
    return Resize(size=DEFAULT_SIZE if size is None else int(size))


def default_kinds(palettes: str | None) -> tuple[str, ...]:
    """Every kind that applies to a folder: ``palette`` only with palettes."""
    return tuple(k for k in pairs_lib.KINDS if k != "palette" or palettes)


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
    """Runs the methods on one gray target; models are loaded once, up front."""

    def __init__(self, methods: Sequence[str], weights, colorizer=None, attention=None):
        self.methods = tuple(methods)
        self.colorizer = colorizer
        self.attention = attention
        if "ours" in self.methods and colorizer is None:
            from attention_colorization.colorizer import Colorizer

            self.colorizer = Colorizer.load(weights)
        if "attention" in self.methods and attention is None:
            from attention_colorization.evaluation.attention_baseline import (
                AttentionTransfer,
            )

            try:
                self.attention = AttentionTransfer()
            except (ImportError, FileNotFoundError) as error:
                raise ValueError(f"--methods=attention: {error}") from None

    @staticmethod
    def applies(method: str, pair: pairs_lib.Pair) -> bool:
        """Whether ``method`` runs on ``pair`` (no reference: ours and gray only)."""
        return pair.kind != "auto" or method in NO_REFERENCE_METHODS

    def run(self, method, lightness, gray_rgb, reference, pair) -> np.ndarray:
        """-> uint8 RGB of the target's shape ``[H, W, 3]``."""
        if method == "ours":
            if pair.kind == "palette":
                out = self.colorizer.colorize(gray_rgb, palette=pair.palette)
            elif pair.kind == "auto":
                out = self.colorizer.colorize(gray_rgb)
            else:
                out = self.colorizer.colorize(gray_rgb, reference=reference)
            return np.asarray(out)[..., :3]
        if method == "attention":
            return metrics.to_uint8(self.attention(lightness, reference))
        return metrics.to_uint8(baselines.BASELINES[method](lightness, reference))


def score(
    output,
    target,
    reference,
    scorer: Callable | None = None,
    hists=None,
    judge: Callable | None = None,
    target_log_p: np.ndarray | None = None,
) -> dict:
    """The metrics of one output: :data:`METRICS`, + ``naturalness`` with a judge,
    + ``aesthetics`` with a scorer.

    Args:
        output, target: uint8 RGB images of one shape ``[H, W, 3]``.
        reference: uint8 RGB ``[h, w, 3]``, or None (``his_ref`` is NaN).
        scorer: an optional aesthetics scorer.
        hists: optional precomputed ``(h_target, h_reference)`` ``[441]`` each
            (``h_reference`` None without a reference).
        judge: an optional :class:`~attention_colorization.evaluation.naturalness.Naturalness`.
        target_log_p: the judge's log-probabilities ``[1000]`` on the target.
    """
    h_target, h_reference = hists or (target, reference)
    h_output = metrics.ab_histogram(output)
    row = {
        "his_ref": (
            float("nan") if h_reference is None else metrics.his(h_output, h_reference)
        ),
        "his_gt": metrics.his(h_output, h_target),
        "psnr": metrics.psnr(target, output),
        "ssim": metrics.ssim(target, output),
        "colorfulness": metrics.colorfulness(output),
    }
    if judge is not None:
        row[NATURALNESS] = judge(
            output, target if target_log_p is None else target_log_p
        )
    if scorer is not None:
        row[AESTHETICS] = float(scorer(np.asarray(output, np.uint8)))
    return row


def following(related_ab: np.ndarray, output: np.ndarray, cast: bool) -> dict:
    """The reference-following columns of a ``rotated`` pair's output.

    Args:
        related_ab: the mean ab ``[2]`` of the same method's output for the
            unrotated (related) reference.
        output: the output for the rotated reference, uint8 ``[H, W, 3]``.
        cast: whether the target has a colour cast (:func:`metrics.has_cast`).

    Returns:
        ``{"hue_shift": degrees in [0, 180], "cast": 0 or 1, "moved": 1.0 when
        the hue moved >= 60 degrees, 0.0 when not, NaN without a cast}``.
    """
    shift = metrics.hue_shift(related_ab, metrics.mean_ab(output))
    moved = float(shift >= metrics.MOVED_DEG) if cast else float("nan")
    return {HUE_SHIFT: shift, CAST: int(cast), MOVED: moved}


def _group_by_target(pairs):
    """Pairs grouped by target, in order of first appearance, pair order kept."""
    groups: dict = {}
    for pair in pairs:
        groups.setdefault(pathlib.Path(pair.target).resolve(), []).append(pair)
    return list(groups.values())


def _reference(pair, cache: ImageCache, side: int) -> np.ndarray | None:
    """The pair's reference image uint8, or None (auto, or unreadable)."""
    if pair.kind == "palette":
        return palette_swatch(pair.palette, side)
    if pair.kind == "auto":
        return None
    reference = cache.get(pair.reference, pair.reference_label)
    if reference is not None and pair.kind == "rotated":
        reference = pairs_lib.rotate_reference(reference)
    return reference


def evaluate_pairs(
    pairs: Sequence[pairs_lib.Pair],
    output_dir: os.PathLike,
    *,
    weights=None,
    size: int | None = None,
    long_side: int | None = None,
    methods: Sequence[str] = METHODS,
    aesthetics_scorer: Callable | None = None,
    naturalness=True,
    pairs_source: str = "",
    progress: bool = True,
    colorizer=None,
    attention=None,
    cache: ImageCache | None = None,
) -> dict:
    """Colourises and scores ``pairs``; writes the report files; returns the summary.

    Pairs are processed target by target (each target decoded once); the
    results keep that order.

    Args:
        pairs: the pairs (:mod:`attention_colorization.evaluation.pairs`).
        output_dir: the report folder (created).
        weights: the model for ``ours`` (None: the bundled demo model).
        size: evaluation side, pixels (paper: 256; the default), or
        long_side: the long side of whole photos (aspect kept).
        methods: names from :data:`KNOWN_METHODS`.
        aesthetics_scorer: an optional ``f(rgb_uint8) -> float``.
        naturalness: True (score it when the judge's weights are installed),
            False, or a loaded ``Naturalness`` judge.
        pairs_source: a sentence saying how the pairs were built.
        progress: show a tqdm bar on stderr.
        colorizer: an already loaded ``Colorizer`` for ``ours`` (else loaded
            from ``weights``).
        attention: an already loaded ``AttentionTransfer``.
        cache: the image cache (made for ``size``/``long_side`` when None).

    Returns:
        The summary dict (see :func:`summarize`).
    """
    if not pairs:
        raise pairs_lib.PairsError("no pairs to evaluate")
    resize = cache.resize if cache is not None else make_resize(size, long_side)
    cache = cache if cache is not None else ImageCache(resize)
    methods = parse_methods(methods)
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    runner = _Methods(methods, weights, colorizer, attention)
    if isinstance(naturalness, bool):
        judge, judge_note = load_naturalness(naturalness)
    else:
        judge, judge_note = naturalness, NATURALNESS_NOTE

    rows, sheet = [], []
    related_ab = {}  # (target, reference, method) -> the output's mean ab [2]
    by_kind = dict.fromkeys(pairs_lib.KINDS, 0)  # Pairs evaluated, per kind.
    pairs_skipped = 0  # For an unreadable target or reference.
    start = time.perf_counter()
    bar = tqdm(
        total=len(pairs),
        desc="evaluate",
        unit="pair",
        file=sys.stderr,
        disable=not progress,
    )
    for group in _group_by_target(pairs):
        target = cache.get(group[0].target, group[0].target_label)
        if target is None:
            bar.update(len(group))
            pairs_skipped += len(group)
            continue
        lightness = baselines.lightness(target)  # [H, W] CIE L
        gray_rgb = baselines.gray(lightness).astype(np.float32)  # [H, W, 3]
        h_target = metrics.ab_histogram(target)
        target_log_p = judge.log_probabilities(target) if judge else None
        cast = metrics.has_cast(target)
        for pair in group:
            bar.update(1)
            reference = _reference(pair, cache, resize.side)
            if reference is None and pair.kind != "auto":
                pairs_skipped += 1  # Unreadable reference: in cache.skipped.
                continue
            if any(runner.applies(m, pair) for m in methods):
                by_kind[pair.kind] += 1
            hists = (
                h_target,
                None if reference is None else metrics.ab_histogram(reference),
            )
            outputs = []
            for method in methods:
                if not runner.applies(method, pair):
                    outputs.append(None)
                    continue
                tic = time.perf_counter()
                output = runner.run(method, lightness, gray_rgb, reference, pair)
                seconds = time.perf_counter() - tic
                row = {
                    "target": pair.target_label or str(pair.target),
                    "reference": pair.reference_label or str(pair.reference),
                    "kind": pair.kind,
                    "method": method,
                    **score(
                        output,
                        target,
                        reference,
                        aesthetics_scorer,
                        hists,
                        judge,
                        target_log_p,
                    ),
                    "seconds": seconds,
                }
                key = (pathlib.Path(pair.target).resolve(), pair.reference, method)
                if pair.kind == "related":
                    related_ab[key] = metrics.mean_ab(output)
                elif pair.kind == "rotated":
                    if key not in related_ab:  # Its related pair was not evaluated.
                        unrotated = cache.get(pair.reference, pair.reference_label)
                        base = runner.run(method, lightness, gray_rgb, unrotated, pair)
                        related_ab[key] = metrics.mean_ab(base)
                    row.update(following(related_ab[key], output, cast))
                rows.append(row)
                outputs.append(output)
            if len(sheet) < SHEET_ROWS:
                sheet.append(
                    (pair.kind, [metrics.to_uint8(gray_rgb), reference, *outputs])
                )
    bar.close()
    elapsed = time.perf_counter() - start
    evaluated = sum(by_kind.values())
    if not rows:
        raise pairs_lib.PairsError(
            "no pair could be evaluated; skipped: "
            + "; ".join(f"{s['file']} ({s['reason']})" for s in cache.skipped_list())
        )

    summary = summarize(
        rows,
        methods=methods,
        num_pairs=evaluated,
        pairs_by_kind={k: n for k, n in by_kind.items() if n},
        pairs_source=pairs_source,
        size=resize.size,
        long_side=resize.long_side,
        images=resize.describe(),
        weights=weights,
        aesthetics=aesthetics_scorer is not None,
        naturalness=judge is not None,
        naturalness_note=judge_note,
        seconds_per_pair=elapsed / max(evaluated, 1),
        skipped=cache.skipped_list(),
        pairs_skipped=pairs_skipped,
    )
    summary["outputs"] = write_report(rows, summary, sheet, methods, output_dir)
    atomic_write_text(
        output_dir / SUMMARY_JSON, json.dumps(_json_safe(summary), indent=2) + "\n"
    )
    return summary


def _json_safe(value):
    """NaN and infinities -> None (JSON has neither), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _mean(values: list) -> float:
    """The mean of the values that are numbers (NaN: not applicable, ignored);
    NaN when none is."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def kind_metrics(kind: str, metric_names: Sequence[str]) -> list[str]:
    """The columns of a kind's table: the metrics that mean something for it."""
    drop = _NOT_FOR_KIND.get(kind, _ONLY_ROTATED)
    return [m for m in metric_names if m not in drop]


def summarize(
    rows: list[dict],
    *,
    methods: Sequence[str],
    num_pairs: int,
    pairs_source: str,
    size: int | None,
    weights,
    aesthetics: bool,
    seconds_per_pair: float,
    long_side: int | None = None,
    images: str = "",
    naturalness: bool = False,
    naturalness_note: str = "",
    skipped: Sequence[dict] = (),
    pairs_skipped: int = 0,
    pairs_by_kind: dict | None = None,
) -> dict:
    """Means per kind and method (and over all kinds, under ``"all"``).

    A kind lists the methods that ran on it; a metric that does not apply to a
    pair (``his_ref`` of an ``auto`` pair, ``hue_shift`` outside ``rotated``,
    ``moved`` of a target without a colour cast) is left out of its mean
    (NaN, or None in JSON, when no pair has it).

    Returns:
        ``{"num_pairs", "pairs_by_kind", "pairs_source", "size", "long_side",
        "images", "weights", "methods", "metrics", "means": {kind: {method:
        {metric: mean}}}, "seconds_per_pair", "seconds_per_output": {method: s},
        "cast_photos", "skipped": [{"file", "reason"}], "pairs_skipped",
        "naturalness_note", "aesthetics_note"}``.
    """
    present = {k for r in rows for k in r}
    metric_names = list(METRICS)
    metric_names += [NATURALNESS] if naturalness else []
    metric_names += [m for m in _ONLY_ROTATED if m in present]
    metric_names += [AESTHETICS] if aesthetics else []
    kinds = [k for k in pairs_lib.KINDS if any(r["kind"] == k for r in rows)]
    by_kind = pairs_by_kind or {
        k: len({(r["target"], r["reference"]) for r in rows if r["kind"] == k})
        for k in kinds
    }
    means = {}
    for kind in [*kinds, "all"]:
        means[kind] = {}
        for method in methods:
            selected = [
                r for r in rows if r["method"] == method and kind in ("all", r["kind"])
            ]
            if not selected:
                continue
            means[kind][method] = {
                m: _mean([r.get(m, float("nan")) for r in selected])
                for m in metric_names
            }
    cast_photos = len({r["target"] for r in rows if r.get(CAST) == 1})
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
        "long_side": long_side,
        "images": images or make_resize(size, long_side).describe(),
        "weights": "bundled demo model" if weights is None else str(weights),
        "methods": list(methods),
        "metrics": metric_names,
        "means": means,
        "seconds_per_pair": seconds_per_pair,
        "seconds_per_output": {
            m: _mean([r["seconds"] for r in rows if r["method"] == m]) for m in methods
        },
        "cast_photos": cast_photos,
        "skipped": list(skipped),
        "pairs_skipped": pairs_skipped,
        "naturalness_note": naturalness_note,
        "aesthetics_note": note,
    }


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if not np.isfinite(value):
        return str(value)
    return f"{value:.4f}"


def _table(kind: str, per_method: dict, metric_names: Sequence[str]) -> list[str]:
    names = kind_metrics(kind, metric_names)
    header = ["kind", "method", *(_METRIC_TITLES[m] for m in names)]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * 2 + ["---:"] * len(names)) + "|",
    ]
    for method, values in per_method.items():
        cells = [kind, method, *(_fmt(values[m]) for m in names)]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def summary_markdown(summary: dict) -> str:
    """``summary.md``: a means table per kind and how the numbers were made."""
    metric_names = summary["metrics"]
    timing = ", ".join(
        f"{m} {s:.2f} s" for m, s in summary["seconds_per_output"].items()
    )
    lines = [
        "# Evaluation summary",
        "",
        f"- pairs: {summary['num_pairs']} "
        f"({', '.join(f'{k}: {n}' for k, n in summary['pairs_by_kind'].items())})",
        f"- pairs {summary['pairs_source']}",
        f"- images: {summary['images']}; outputs rounded to 8 bits",
        f"- model (ours): {summary['weights']}",
        f"- time: {summary['seconds_per_pair']:.2f} s per pair, all methods; per "
        f"output: {timing}",
    ]
    if summary["skipped"]:
        dropped = summary["pairs_skipped"]
        lines.append(
            f"- unreadable files ({len(summary['skipped'])}), left out"
            + (f" with the {dropped} pair(s) that need them:" if dropped else ":")
        )
        lines += [
            f"  - skipped: {s['file']} ({s['reason']})" for s in summary["skipped"]
        ]
    for kind, per_method in summary["means"].items():
        count = summary["pairs_by_kind"].get(kind, summary["num_pairs"])
        lines += ["", f"## {kind} ({count} pairs)", ""]
        lines += _table(kind, per_method, metric_names)
        if kind == "rotated":
            lines += [
                "",
                f"The reference is the related one with its ab plane rotated by "
                f"{pairs_lib.ROTATION_DEG:g} degrees. hue shift: how far the output's "
                "chroma-weighted mean hue (the angle of its mean ab vector) moved "
                "against the output for the unrotated reference, in [0, 180] degrees "
                f"(0 when either has a mean chroma below {metrics.HUE_MIN_CHROMA:g}). "
                f"moved: the fraction of the {summary['cast_photos']} target(s) with a "
                f"colour cast (mean ab vector longer than {metrics.CAST_CHROMA:g}) "
                f"whose output's hue moved at least {metrics.MOVED_DEG:g} degrees.",
            ]
        if kind == "auto":
            lines += [
                "",
                "No reference (automatic mode): only the methods that need none run.",
            ]
    lines += [
        "",
        "Metrics: HIS = sum over the 441 bins of min(h_out, h_other), the 21 x 21 ab "
        "histogram of Gray2ColorNet (vs the reference, or a palette's swatch, and vs "
        "the ground truth); PSNR on RGB in [0, 1]; SSIM = tf.image.ssim on RGB "
        "(max_val 1, 11 x 11 Gaussian window, sigma 1.5); colourfulness of Hasler & "
        "Suesstrunk 2003 (0-255 scale). – : not applicable.",
        "",
        summary["naturalness_note"],
        "",
        summary["aesthetics_note"],
        "",
    ]
    return "\n".join(lines)


def results_csv(rows: list[dict], metric_names: Sequence[str]) -> str:
    """One line per row; empty cells where a metric does not apply."""
    columns = ["target", "reference", "kind", "method", *metric_names]
    columns += [CAST] if any(CAST in r for r in rows) else []
    columns += ["seconds"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        cells = {}
        for c in columns:
            value = row.get(c, "")
            if isinstance(value, float):
                value = "" if math.isnan(value) else f"{value:.6g}"
            cells[c] = value
        writer.writerow(cells)
    return buffer.getvalue()


def _thumbnail(image: np.ndarray | None) -> Image.Image:
    """A ``THUMB x THUMB`` thumbnail, aspect kept (white bars); white for None."""
    canvas = Image.new("RGB", (THUMB, THUMB), (255, 255, 255))
    if image is None:
        return canvas
    rgb = Image.fromarray(metrics.to_uint8(image))
    scale = THUMB / max(rgb.size)
    size = tuple(max(1, round(side * scale)) for side in rgb.size)
    thumb = rgb.resize(size, Image.Resampling.BICUBIC)
    canvas.paste(thumb, ((THUMB - size[0]) // 2, (THUMB - size[1]) // 2))
    return canvas


def contact_sheet(sheet: list, labels: Sequence[str]) -> np.ndarray:
    """Rows of ``THUMB``-pixel thumbnails under a header of ``labels``; uint8 RGB.

    Args:
        sheet: rows, each ``(kind, [image or None, ...])`` (the kind is written
            on the row's first thumbnail) or a plain list of images.
        labels: the column titles.
    """
    cols = len(labels)
    height = _LABEL_HEIGHT + THUMB * len(sheet)
    canvas = Image.new("RGB", (THUMB * cols, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for j, label in enumerate(labels):
        draw.text((j * THUMB + 4, 2), label, fill=(0, 0, 0), font=font)
    for i, row in enumerate(sheet):
        kind, images = row if isinstance(row, tuple) else ("", row)
        top = _LABEL_HEIGHT + i * THUMB
        for j, image in enumerate(images):
            canvas.paste(_thumbnail(image), (j * THUMB, top))
        if kind:
            box = draw.textbbox((2, top + 2), kind, font=font)
            draw.rectangle(box, fill=(255, 255, 255))
            draw.text((2, top + 2), kind, fill=(0, 0, 0), font=font)
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
    size: int | None = None,
    long_side: int | None = None,
    methods: str | Sequence[str] = METHODS,
    kinds: str | Sequence[str] | None = None,
    max_pairs: int | None = None,
    vgg_weights: str = "none",
    palettes: str | None = None,
    aesthetics_scorer: str | Callable | None = None,
    naturalness: bool = True,
    progress: bool = True,
) -> dict:
    """The whole run of ``tools/evaluate.py``: build pairs, evaluate, report.

    Args:
        output_dir: the report folder.
        pairs_csv: a ``target,reference,kind`` CSV, or
        data_dir: a folder of photos to build pairs from (exactly one of them).
        weights: the model for ``ours``: a workdir or weights file (None: the
            bundled demo model).
        size: evaluation side in pixels, centre crops (default 256), or
        long_side: the long side of whole photos, aspect kept (not both).
        methods: ``'ours,gray,welsh,reinhard'`` (the default), a subset, or
            with ``attention``.
        kinds: ``'related,independent,rotated,palette,auto'`` or a subset.
            Default: with ``data_dir`` every kind that applies (``palette``
            with ``palettes``); with a CSV, its rows (+ palettes).
        max_pairs: evaluate only the first N pairs (the paper's kinds first).
        vgg_weights: ``none`` / ``imagenet`` / a path (``data_dir`` mode).
        palettes: ``'#hex,#hex;#hex,...'``: ``palette`` pairs.
        aesthetics_scorer: a callable or ``'module:function'``.
        naturalness: score the naturalness (skipped, with a note, when the
            judge's weights package is not installed).
        progress: show the progress bar.

    Returns:
        The summary dict (:func:`summarize`, plus ``"outputs"``).
    """
    methods = parse_methods(methods)
    cache = ImageCache(make_resize(size, long_side))
    if kinds is not None:
        kinds = pairs_lib.parse_kinds(kinds)
        if data_dir and "palette" in kinds and not palettes:
            raise pairs_lib.PairsError(pairs_lib.NEEDS_PALETTES)
    elif data_dir and not pairs_csv:
        kinds = default_kinds(palettes)
    scorer = aesthetics_scorer
    if isinstance(scorer, str) or scorer is None:
        scorer = metrics.load_aesthetics_scorer(scorer)
    runner = None
    if data_dir and not pairs_csv:
        # Fail on missing weights before building pairs (which writes files).
        runner = _Methods(methods, weights)
    pairs, source = pairs_lib.load_pairs(
        pairs_csv,
        data_dir,
        output_dir,
        vgg_weights=vgg_weights,
        palettes=palettes,
        kinds=kinds,
        cache=cache,
    )
    if max_pairs is not None and max_pairs > 0:
        pairs = pairs[:max_pairs]
    return evaluate_pairs(
        pairs,
        output_dir,
        weights=weights,
        methods=methods,
        aesthetics_scorer=scorer,
        naturalness=naturalness,
        pairs_source=source,
        progress=progress,
        colorizer=runner.colorizer if runner else None,
        attention=runner.attention if runner else None,
        cache=cache,
    )
