"""Scoring an evaluation's outputs and their means per kind and method."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from attention_colorization.evaluation import metrics
from attention_colorization.evaluation import pairs as pairs_lib
from attention_colorization.evaluation.images import make_resize

METRICS = ("his_ref", "his_gt", "psnr", "ssim", "colorfulness")
NATURALNESS = "naturalness"
HUE_SHIFT = "hue_shift"
MOVED = "moved"
AESTHETICS = "aesthetics"
CAST = "cast"  # A results.csv column of rotated pairs (not a metric).
# Metrics that mean nothing for a kind: not in its table.
_NOT_FOR_KIND = {
    "auto": ("his_ref", HUE_SHIFT, MOVED),
    "rotated": (),
}
_ONLY_ROTATED = (HUE_SHIFT, MOVED)


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
