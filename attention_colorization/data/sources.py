"""Where images come from: folders, TFRecord shards, pairs files; bad-file accounting.

Bad data never stops training and is never silent. Before a folder (or a pairs
file) is used, every listed file is decoded once, with the very decoder the
pipeline uses, in a small parallel ``tf.data`` pass; files that cannot be read or
decoded (a truncated JPEG, a text file named ``.png``, a zero-byte file, a
dangling symlink, a permission error) are dropped, counted in a
:class:`PipelineStats` and reported by one absl warning. A folder without any
decodable image is a ``ValueError`` at start-up.

Held-out validation files are chosen by a hash of their name relative to the data
root (``tf.strings.to_hash_bucket_fast``), the same function for files on disk and
for the ``filename`` feature of TFRecords, so the split is deterministic and does
not depend on the listing order or the machine.
"""

from __future__ import annotations

import csv
import dataclasses
import os

import numpy as np
import tensorflow as tf
from absl import logging

from attention_colorization.data.decode import decode_image

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
HOLDOUT_BUCKETS = 10_000  # Resolution of the hash split (val_fraction steps of 1e-4).
PROBE_BATCH = 256  # Results of the validation pass fetched per Python round trip.
LOGGED_FILES = 5  # Bad file names quoted in a warning (all are in PipelineStats).


@dataclasses.dataclass
class PipelineStats:
    """What the input pipeline skipped, accumulated over every split it built.

    Attributes:
        skipped: number of files dropped as unreadable or undecodable.
        skipped_files: their paths, in the order found.
        num_files: number of decodable files in use (folder and pairs sources).
    """

    skipped: int = 0
    skipped_files: list[str] = dataclasses.field(default_factory=list)
    num_files: int = 0

    def record(self, good: int, bad: list[str], where: str) -> None:
        """Adds one validation pass and logs a warning when files were skipped."""
        self.num_files += good
        if not bad:
            return
        self.skipped += len(bad)
        self.skipped_files.extend(bad)
        shown = ", ".join(os.path.basename(p) for p in bad[:LOGGED_FILES])
        more = f" and {len(bad) - LOGGED_FILES} more" if len(bad) > LOGGED_FILES else ""
        logging.warning(
            "Skipped %d unreadable or undecodable image file(s) of %d in %s: %s%s",
            len(bad),
            len(bad) + good,
            where,
            shown,
            more,
        )


def list_image_files(folder: str) -> list[str]:
    """All image files under ``folder`` (recursive), sorted.

    Extensions (case-insensitive): jpg, jpeg, png, bmp, gif, webp. Symlinks are
    listed as they are (a dangling one is caught later by validation).

    Raises:
        ValueError: the folder does not exist, or holds no image file.
    """
    if not folder or not os.path.isdir(folder):
        raise ValueError(f"Image folder {folder!r} does not exist or is not a folder")
    paths = []
    for root, _, names in os.walk(folder, followlinks=True):
        for name in names:
            if name.lower().endswith(IMAGE_EXTENSIONS):
                paths.append(os.path.join(root, name))
    if not paths:
        raise ValueError(
            f"No image files ({', '.join(IMAGE_EXTENSIONS)}) found in {folder!r}"
        )
    return sorted(paths)


def holdout_mask(names: list[str] | np.ndarray, fraction: float) -> np.ndarray:
    """Which names belong to the held-out (validation) share.

    Args:
        names: names relative to the data root, e.g. ``["a/x.jpg", ...]``.
        fraction: share held out, in [0, 1].

    Returns:
        bool array ``[len(names)]``, True for validation.
    """
    if len(names) == 0:
        return np.zeros([0], dtype=bool)
    return holdout_tensor(tf.constant(list(names)), fraction).numpy()


def holdout_tensor(names: tf.Tensor, fraction: float) -> tf.Tensor:
    """:func:`holdout_mask` in TF ops (for the ``filename`` feature of TFRecords).

    Args:
        names: string tensor of any shape.
        fraction: share held out, in [0, 1].

    Returns:
        bool tensor of the shape of ``names``.
    """
    buckets = tf.strings.to_hash_bucket_fast(names, HOLDOUT_BUCKETS)
    return buckets < int(round(fraction * HOLDOUT_BUCKETS))


def relative_name(path: str, root: str) -> str:
    """``path`` relative to ``root`` with forward slashes (the hash-split key)."""
    return os.path.relpath(path, root).replace(os.sep, "/")


def split_indices(names: list[str], fraction: float) -> tuple[list[int], list[int]]:
    """Splits item indices into (train, val) by the hash of their names.

    When ``fraction > 0`` but no name hashes into the validation share (small
    folders), the item with the smallest hash is held out, so that validation
    always has data; it stays in train too when it is the only item.

    Args:
        names: item names relative to the data root (the hash-split keys).
        fraction: share held out, in [0, 1].

    Returns:
        ``(train_indices, val_indices)``, each in increasing order.
    """
    val_mask = holdout_mask(names, fraction)
    if fraction > 0.0 and len(names) and not val_mask.any():
        buckets = tf.strings.to_hash_bucket_fast(names, HOLDOUT_BUCKETS).numpy()
        val_mask[int(np.argmin(buckets))] = True
    train = [i for i, v in enumerate(val_mask) if not v]
    val = [i for i, v in enumerate(val_mask) if v]
    return (train or val), val


def split_files(
    paths: list[str], root: str, fraction: float
) -> tuple[list[str], list[str]]:
    """Splits ``paths`` into (train, val) by the hash of their name under ``root``.

    See :func:`split_indices` (a validation share is never empty).
    """
    train, val = split_indices([relative_name(p, root) for p in paths], fraction)
    return [paths[i] for i in train], [paths[i] for i in val]


def find_decodable(
    paths: list[str], max_decode_side: int = 0, min_short_side: int = 0
) -> dict[int, tuple[int, int]]:
    """Reads and decodes every file once, in parallel; keeps the ones that work.

    Args:
        paths: image files.
        max_decode_side, min_short_side: as in
            :func:`~attention_colorization.data.decode.decode_image` (the same
            settings as the pipeline, so a file that passes here decodes there).

    Returns:
        ``{index into paths: (height, width) as decoded}`` for the good files.
    """
    if not paths:
        return {}

    def probe(index: tf.Tensor, path: tf.Tensor):
        image = decode_image(tf.io.read_file(path), max_decode_side, min_short_side)
        return index, tf.shape(image)[:2]

    ds = tf.data.Dataset.from_tensor_slices(tf.constant(paths)).enumerate()
    ds = ds.map(probe, num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    ds = ds.ignore_errors().batch(PROBE_BATCH)
    found = {}
    for indices, shapes in ds.as_numpy_iterator():
        for i, (h, w) in zip(indices, shapes, strict=True):
            found[int(i)] = (int(h), int(w))
    return found


def filter_decodable(
    paths: list[str],
    where: str,
    stats: PipelineStats,
    max_decode_side: int = 0,
    min_short_side: int = 0,
) -> list[str]:
    """``paths`` without the unreadable/undecodable files, which are counted.

    Args:
        paths: image files.
        where: a description for messages (the folder or CSV file).
        stats: receives the counts; a warning is logged when files are skipped.
        max_decode_side, min_short_side: decoder settings of the pipeline.

    Returns:
        The good paths, in the input order.

    Raises:
        ValueError: no file could be decoded.
    """
    found = require_decodable(paths, where, stats, max_decode_side, min_short_side)
    return [p for i, p in enumerate(paths) if i in found]


def require_decodable(
    paths: list[str],
    where: str,
    stats: PipelineStats,
    max_decode_side: int = 0,
    min_short_side: int = 0,
) -> dict[int, tuple[int, int]]:
    """:func:`find_decodable`, with the skipped files counted and none good an error.

    Returns:
        ``{index into paths: (height, width)}`` of the good files.

    Raises:
        ValueError: no file could be decoded.
    """
    found = find_decodable(paths, max_decode_side, min_short_side)
    bad = [p for i, p in enumerate(paths) if i not in found]
    stats.record(len(found), bad, where)
    if not found:
        raise ValueError(
            f"No decodable image found in {where}: all {len(paths)} image file(s) "
            "are unreadable or corrupt"
        )
    return found


def read_pairs_csv(csv_path: str) -> list[tuple[str, str]]:
    """Reads a pairs file with the columns ``target,reference``.

    Relative paths are relative to the CSV file's folder.

    Returns:
        ``[(target_path, reference_path), ...]`` in file order.

    Raises:
        ValueError: missing file, missing columns, or no rows.
    """
    if not os.path.isfile(csv_path):
        raise ValueError(f"Pairs file {csv_path!r} does not exist")
    root = os.path.dirname(os.path.abspath(csv_path))
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        columns = set(reader.fieldnames or [])
        if not {"target", "reference"} <= columns:
            raise ValueError(
                f"Pairs file {csv_path!r} needs the columns 'target,reference', "
                f"found {sorted(columns)}"
            )
        pairs = [
            (
                os.path.join(root, row["target"].strip()),
                os.path.join(root, row["reference"].strip()),
            )
            for row in reader
            if row["target"] and row["reference"]
        ]
    if not pairs:
        raise ValueError(f"Pairs file {csv_path!r} has no (target, reference) rows")
    return pairs


def glob_shards(pattern: str) -> list[str]:
    """Sorted TFRecord shards matching ``pattern``; ValueError when none does."""
    shards = sorted(tf.io.gfile.glob(pattern))
    if not shards:
        raise ValueError(f"No TFRecord shard matches {pattern!r}")
    return shards
