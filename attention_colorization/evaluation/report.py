"""The evaluation report: results.csv, summary.md, summary.json, the contact sheet."""

from __future__ import annotations

import csv
import io
import json
import math
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from attention_colorization import imageio
from attention_colorization.evaluation import metrics
from attention_colorization.evaluation import pairs as pairs_lib
from attention_colorization.evaluation.scoring import (
    AESTHETICS,
    CAST,
    HUE_SHIFT,
    MOVED,
    NATURALNESS,
    kind_metrics,
)
from attention_colorization.workdir import atomic_write_text

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
    NATURALNESS: "naturalness KL ↓",
    HUE_SHIFT: "hue shift °",
    MOVED: f"moved ≥{metrics.MOVED_DEG:g}° (cast) ↑",
    AESTHETICS: "AS ↑",
}


def _json_safe(value):
    """NaN and infinities -> None (JSON has neither), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


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
        f"- model (ours): {summary['weights']}"
        + (f", {summary['precision']}" if summary.get("precision") else ""),
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


def write_summary_json(summary: dict, output_dir: pathlib.Path) -> None:
    """Writes ``summary.json`` atomically (NaN and infinities as null)."""
    atomic_write_text(
        output_dir / SUMMARY_JSON, json.dumps(_json_safe(summary), indent=2) + "\n"
    )
