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

This module runs it; the methods are in
:mod:`~attention_colorization.evaluation.runners`, the scores and their means in
:mod:`~attention_colorization.evaluation.scoring`, the files in
:mod:`~attention_colorization.evaluation.report`.

From Python, for a training workdir's model::

    evaluate("eval/", data_dir="photos/", weights="WORKDIR", long_side=512,
             methods="ours,gray,welsh,attention")
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
from tqdm import tqdm

from attention_colorization.evaluation import baselines, metrics
from attention_colorization.evaluation import pairs as pairs_lib
from attention_colorization.evaluation.images import ImageCache, make_resize
from attention_colorization.evaluation.naturalness import load_naturalness
from attention_colorization.evaluation.report import (
    SHEET_ROWS,
    write_report,
    write_summary_json,
)
from attention_colorization.evaluation.runners import (
    METHODS,
    MethodRunner,
    palette_swatch,
    parse_methods,
)
from attention_colorization.evaluation.scoring import following, score, summarize

NATURALNESS_NOTE = (
    "naturalness = KL(p_original || p_output) in nats (lower is better), scored by "
    "the judge given to evaluate_pairs."
)


def default_kinds(palettes: str | None) -> tuple[str, ...]:
    """Every kind that applies to a folder: ``palette`` only with palettes."""
    return tuple(k for k in pairs_lib.KINDS if k != "palette" or palettes)


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
    precision: str = "auto",
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
        precision: ``ours``'s inference precision when it is loaded here:
            ``"auto"``, ``"float32"`` or ``"bfloat16"`` (``Colorizer.load``).
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
    runner = MethodRunner(methods, weights, colorizer, attention, precision)
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
    if runner.colorizer is not None:
        summary["precision"] = runner.colorizer.precision  # "float32" | "bfloat16"
    summary["outputs"] = write_report(rows, summary, sheet, methods, output_dir)
    write_summary_json(summary, output_dir)
    return summary


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
    precision: str = "auto",
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
        precision: ``ours``'s inference precision (``Colorizer.load``); pin
            ``"float32"`` to compare figures across machines.

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
        runner = MethodRunner(methods, weights, precision=precision)
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
        precision=precision,
    )
