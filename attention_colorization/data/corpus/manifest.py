"""``MANIFEST.csv``: its columns, its rows, reading and writing it."""

from __future__ import annotations

import csv
import io
import os

from attention_colorization.data.corpus.items import Item

MANIFEST_NAME = "MANIFEST.csv"
MANIFEST_COLUMNS = (
    "file",  # Relative to the output folder: train/NAME.jpg or validation/NAME.jpg.
    "kind",  # photo | composite
    "split",  # train | validation
    "source_package",  # The photo's (or the composite object's) package.
    "package_version",
    "original_path",  # Inside the package: installed path or path in the module.
    "licence",
    "note",  # Author, copyright holder, per-photo rights notes.
    "mask",  # Composites: masks/NAME.png (the object's alpha), else empty.
    "object_split",  # Composites: the object's own split.
    "background_package",  # Composites: where the background crop comes from.
    "background_path",
    "background_licence",
    "background_split",
    "width",
    "height",
)
MASK_DIR = "masks"


def read_manifest(path: os.PathLike | str) -> list[dict]:
    """The rows of a MANIFEST.csv (empty when there is none)."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def manifest_text(rows: list[dict]) -> str:
    """The CSV text of ``rows``, columns in MANIFEST_COLUMNS order."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in MANIFEST_COLUMNS})
    return buf.getvalue()


def manifest_row(item: Item, file: str, kind: str, split: str, size) -> dict:
    """The manifest row of an output ``file`` made from ``item`` (no composite columns)."""
    s = item.source
    return {
        "file": file,
        "kind": kind,
        "split": split,
        "source_package": s.package,
        "package_version": s.version,
        "original_path": s.original,
        "licence": s.licence,
        "note": s.note,
        "mask": "",
        "object_split": "",
        "background_package": "",
        "background_path": "",
        "background_licence": "",
        "background_split": "",
        "width": str(size[0]),
        "height": str(size[1]),
    }
