"""The build: candidates read, deduplicated, split, written; then the manifest."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterable, Sequence

from PIL import Image
from tqdm import tqdm

from attention_colorization.atomic import atomic_write_bytes, atomic_write_text
from attention_colorization.data.corpus.candidates import (
    python_candidates,
    stamp_candidates,
    wallpaper_candidates,
)
from attention_colorization.data.corpus.catalogue import (
    DEB_PACKAGES,
    PHOTOS,
    STAMP_PACKAGE,
    WALLPAPER_PACKAGE,
    PythonPhoto,
)
from attention_colorization.data.corpus.composites import (
    composite_rng,
    make_composite,
)
from attention_colorization.data.corpus.debs import fetch_deb
from attention_colorization.data.corpus.imaging import (
    jpeg_bytes,
    png_bytes,
    resize_long_side,
)
from attention_colorization.data.corpus.items import Item, deduplicate, read_item
from attention_colorization.data.corpus.manifest import (
    MANIFEST_NAME,
    MASK_DIR,
    manifest_row,
    manifest_text,
    read_manifest,
)
from attention_colorization.data.corpus.settings import (
    TRAIN,
    VAL_MIN_SIDE,
    VALIDATION,
    Options,
)
from attention_colorization.data.corpus.splits import assign_splits
from attention_colorization.data.corpus.summary import Summary

DEFAULT_OPTIONS = Options()  # Frozen: safe as an argument default.


def _clean_partial_files(output_dir: pathlib.Path) -> None:
    """Removes temporary files an interrupted run (kill -9) left behind."""
    for sub in (output_dir, *(output_dir / d for d in (TRAIN, VALIDATION, MASK_DIR))):
        if sub.is_dir():
            for tmp in sub.glob(".*.part"):
                tmp.unlink(missing_ok=True)


class _Writer:
    """Writes outputs atomically, keeping those that exist (resumability)."""

    def __init__(self, output_dir: pathlib.Path, options: Options, summary: Summary):
        self.output_dir = output_dir
        self.options = options
        self.summary = summary

    def exists(self, *rels: str) -> bool:
        return not self.options.overwrite and all(
            (self.output_dir / r).is_file() for r in rels
        )

    def size_of(self, rel: str) -> tuple[int, int]:
        with Image.open(self.output_dir / rel) as im:
            return im.size

    def write(self, rel: str, data: bytes) -> None:
        atomic_write_bytes(self.output_dir / rel, data)


def build_corpus(
    output_dir: os.PathLike | str,
    cache_dir: os.PathLike | str,
    options: Options = DEFAULT_OPTIONS,
    *,
    photos: Iterable[PythonPhoto] = PHOTOS,
    deb_packages: Sequence[str] = DEB_PACKAGES,
    fetch: Callable[[str, os.PathLike | str], pathlib.Path] = fetch_deb,
) -> Summary:
    """Builds (or resumes) the corpus in ``output_dir``; returns what it did.

    Args:
        output_dir: the corpus folder (train/, validation/, masks/, MANIFEST.csv).
        cache_dir: where Debian packages are downloaded and unpacked.
        options: see :class:`Options`.
        photos: the Python package photos to use.
        deb_packages: the Debian packages to use (a subset of DEB_PACKAGES).
        fetch: ``fetch(package, cache_dir) -> unpacked root``; :func:`fetch_deb`
            by default, which reuses an already unpacked ``cache_dir/<package>``.

    Raises:
        CorpusError: a Debian package cannot be fetched.
    """
    output_dir = pathlib.Path(output_dir)
    summary = Summary()
    candidates = python_candidates(photos, summary)
    for package in deb_packages:
        root = pathlib.Path(fetch(package, cache_dir))
        if package == WALLPAPER_PACKAGE:
            candidates += wallpaper_candidates(root, summary)
        elif package == STAMP_PACKAGE:
            candidates += stamp_candidates(root, summary)
        else:
            raise ValueError(f"Unknown source package {package!r}")

    items = []
    for source in tqdm(
        candidates, desc="reading", unit="img", disable=not options.progress
    ):
        item = read_item(source, options, summary)
        if item is not None:
            items.append(item)
    photos_ = deduplicate([it for it in items if it.source.role == "photo"], summary)
    objects = deduplicate([it for it in items if it.source.role == "object"], summary)
    assign_splits(photos_, objects, options)

    output_dir.mkdir(parents=True, exist_ok=True)
    _clean_partial_files(output_dir)
    writer = _Writer(output_dir, options, summary)
    rows = []
    jobs = [(it, None) for it in photos_] + [
        (it, i) for it in objects for i in range(options.composites_per_object)
    ]
    backgrounds = {
        split: [p for p in photos_ if p.source.background and p.split == split]
        for split in (TRAIN, VALIDATION)
    }
    for item, index in tqdm(
        jobs, desc="writing", unit="img", disable=not options.progress
    ):
        if index is None:
            rows.append(_write_photo(item, writer))
        else:
            row = _write_composite(item, index, backgrounds, writer)
            if row is not None:
                rows.append(row)
    summary.rows = sorted(rows, key=lambda r: r["file"])

    manifest = output_dir / MANIFEST_NAME
    previous = read_manifest(manifest)
    summary.removed = _remove_stale(output_dir, previous, summary.rows)
    text = manifest_text(summary.rows)
    if not manifest.is_file() or manifest.read_text() != text:
        atomic_write_text(manifest, text)
        summary.manifest_written = True
    return summary


def _write_photo(item: Item, writer: _Writer) -> dict:
    rel = f"{item.split}/{item.source.name}.jpg"
    if writer.exists(rel):
        writer.summary.kept += 1
        size = writer.size_of(rel)
    else:
        side = writer.options.max_side
        if item.split == VALIDATION:
            side = max(side, VAL_MIN_SIDE)
        image = resize_long_side(item.image, side)
        writer.write(rel, jpeg_bytes(image, writer.options.jpeg_quality))
        writer.summary.written += 1
        size = image.size
    return manifest_row(item, rel, "photo", item.split, size)


def _write_composite(
    item: Item, index: int, backgrounds: dict[str, list[Item]], writer: _Writer
) -> dict | None:
    options = writer.options
    rng = composite_rng(options.seed, item.source.key, index)
    # Training objects go on training backgrounds only; validation objects on
    # validation backgrounds when there are any.
    pool = backgrounds[item.split] or (
        backgrounds[TRAIN] if item.split == VALIDATION else []
    )
    if not pool:
        writer.summary.skip("no background for its split", item.source.original)
        return None
    bg = pool[int(rng.integers(len(pool)))]
    split = VALIDATION if VALIDATION in (item.split, bg.split) else TRAIN
    name = f"{item.source.name}_c{index}"
    rel = f"{split}/{name}.jpg"
    mask_rel = f"{MASK_DIR}/{name}.png"
    if writer.exists(rel, mask_rel):
        writer.summary.kept += 1
        size = writer.size_of(rel)
    else:
        image, mask = make_composite(item.image, bg.image, rng, options.composite_size)
        writer.write(mask_rel, png_bytes(mask))
        writer.write(rel, jpeg_bytes(image, options.jpeg_quality))
        writer.summary.written += 1
        size = image.size
    row = manifest_row(item, rel, "composite", split, size)
    row.update(
        mask=mask_rel,
        object_split=item.split,
        background_package=bg.source.package,
        background_path=bg.source.original,
        background_licence=bg.source.licence,
        background_split=bg.split,
    )
    return row


def _remove_stale(
    output_dir: pathlib.Path, previous: list[dict], rows: list[dict]
) -> int:
    """Deletes files an earlier manifest listed that this one does not."""
    now = {r["file"] for r in rows} | {r["mask"] for r in rows if r["mask"]}
    removed = 0
    for row in previous:
        for rel in (row.get("file", ""), row.get("mask", "")):
            if not rel or rel in now or ".." in pathlib.PurePosixPath(rel).parts:
                continue
            path = output_dir / rel
            if path.is_file():
                path.unlink()
                removed += 1
    return removed
