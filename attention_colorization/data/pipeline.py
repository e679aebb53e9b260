"""The training and validation input pipelines (tf.data), assembled.

An element is a dict of float32 tensors (a leading batch axis after batching)::

    {"l":        [S, S, 1]    L of the target, Lab units [0, 100],
     "ab":       [S, S, 2]    ab of the target, Lab units,
     "ref_lab":  [S, S, 3]    the reference in Lab units,
     "ref_hist": [313]        R_H, the reference's soft ab histogram with floor
                              data.hist_floor (the prior of Eq. 2-4)}

Training: the file list (or the TFRecord shards, then a shuffle buffer) is
shuffled and repeated, each target is decoded, resized (short side
``data.resize_short``) and randomly cropped to ``S = data.image_size``. With
probability ``data.related_prob`` its reference is the target distorted
(:func:`~attention_colorization.data.reference.distort_reference`), otherwise a
random crop of another image drawn from a second, differently shuffled stream. A
pairs file replaces both by the listed references.

Validation: no shuffle, centre crops, and deterministic references: element ``i``
is related or not, and distorted, by the stateless seed ``(seed, i)``; its
unrelated reference is the next image (TFRecords: the next of its group of
:data:`RECORD_PAIRING_GROUP`, cyclically, so that every pass reads the records
once; training pairs records the same way).

Randomness is stateless and keyed on ``(seed, element index)``. With
``data.deterministic`` the shuffles are seeded and the element order is kept, so
two pipelines built from one config deliver identical batches; otherwise the base
seed is drawn at random and the order is whatever is fastest.
"""

from __future__ import annotations

import dataclasses
import os

import ml_collections
import numpy as np
import tensorflow as tf
from absl import logging

from attention_colorization import color
from attention_colorization.data.augment import augment_pair_colors
from attention_colorization.data.decode import (
    center_crop,
    decode_image,
    random_crop,
    resize_short_side,
)
from attention_colorization.data.reference import distort_reference
from attention_colorization.data.sources import (
    PipelineStats,
    filter_decodable,
    glob_shards,
    holdout_tensor,
    list_image_files,
    read_pairs_csv,
    relative_name,
    split_files,
    split_indices,
)
from attention_colorization.data.tfrecords import parse_example

SPLITS = ("train", "val")
AUTOTUNE = tf.data.AUTOTUNE
# Offset between the seeds of the target stream and the unrelated-reference
# stream, so that the two shuffles differ.
REFERENCE_STREAM_SEED_OFFSET = 1
# Threads per op inside the pipeline (tf.data performance guide: one, with
# parallel map calls supplying the parallelism).
INTRA_OP_PARALLELISM = 1
# Keys drawn from the unrelated-reference stream per element: the first one that
# is not the target itself is used.
UNRELATED_CANDIDATES = 2
# TFRecord sources: consecutive elements of the one (shuffled) record stream are
# grouped this many at a time; each takes the next one of its group, cyclically,
# as its unrelated reference, so the records are read once per epoch.
RECORD_PAIRING_GROUP = 8


def to_example(
    target_rgb: tf.Tensor, ref_rgb: tf.Tensor, hist_floor: float, transform=None
) -> dict[str, tf.Tensor]:
    """Builds the element dict from a target and a reference in RGB.

    Args:
        target_rgb: float32 ``[..., S, S, 3]`` sRGB in [0, 1].
        ref_rgb: float32 ``[..., S', S', 3]`` sRGB in [0, 1].
        hist_floor: floor epsilon of the reference histogram.
        transform: optional ``(target_lab, ref_lab) -> (target_lab, ref_lab)``
            applied before the histogram (the colour augmentation).

    Returns:
        ``{"l": [..., S, S, 1], "ab": [..., S, S, 2], "ref_lab": [..., S', S', 3],
        "ref_hist": [..., 313]}``, float32, Lab units.
    """
    target_lab = color.rgb_to_lab(tf.convert_to_tensor(target_rgb, tf.float32))
    ref_lab = color.rgb_to_lab(tf.convert_to_tensor(ref_rgb, tf.float32))
    if transform is not None:
        target_lab, ref_lab = transform(target_lab, ref_lab)
    return {
        "l": target_lab[..., :1],
        "ab": target_lab[..., 1:],
        "ref_lab": ref_lab,
        "ref_hist": color.reference_histogram(ref_lab[..., 1:], floor=hist_floor),
    }


@dataclasses.dataclass
class _Source:
    """Where one split's images come from.

    Attributes:
        kind: ``"files"`` (image paths), ``"records"`` (TFRecord shards) or
            ``"pairs"`` (target and reference paths).
        items: image paths, shard paths, or target paths.
        refs: reference paths (pairs only).
        holdout: records only: keep the held-out share (True), the rest (False),
            or every record (None).
    """

    kind: str
    items: list[str]
    refs: list[str] | None = None
    holdout: bool | None = None


def _has_own_val(data: ml_collections.ConfigDict) -> bool:
    return bool(data.val_dir or data.val_tfrecords)


def _folder_files(
    folder: str, data: ml_collections.ConfigDict, stats: PipelineStats, part: str
) -> list[str]:
    """Image files of ``folder`` (``part``: "all", "train" or "val"), validated."""
    paths = list_image_files(folder)
    if part != "all":
        train, val = split_files(paths, folder, data.val_fraction)
        paths = train if part == "train" else val
    return filter_decodable(
        paths, folder, stats, data.max_decode_side, data.resize_short
    )


def _pairs_source(
    data: ml_collections.ConfigDict, stats: PipelineStats, part: str
) -> _Source:
    """Validated (target, reference) pairs of the CSV file (``part`` as above)."""
    pairs = read_pairs_csv(data.pairs_csv)
    if part != "all":
        root = os.path.dirname(os.path.abspath(data.pairs_csv))
        names = [relative_name(t, root) for t, _ in pairs]
        train, val = split_indices(names, data.val_fraction)
        pairs = [pairs[i] for i in (train if part == "train" else val)]
    files = sorted({p for pair in pairs for p in pair})
    good = set(
        filter_decodable(
            files, data.pairs_csv, stats, data.max_decode_side, data.resize_short
        )
    )
    pairs = [(t, r) for t, r in pairs if t in good and r in good]
    if not pairs:
        raise ValueError(
            f"No pair of decodable images found in {data.pairs_csv} ({part} split)"
        )
    return _Source("pairs", [t for t, _ in pairs], refs=[r for _, r in pairs])


def _resolve_source(
    config: ml_collections.ConfigDict, split: str, stats: PipelineStats
) -> _Source:
    """Picks and validates the source of ``split`` (see :func:`make_dataset`)."""
    data = config.data
    own_val = _has_own_val(data)
    part = "all" if own_val else split
    if data.pairs_csv and (split == "train" or not own_val):
        return _pairs_source(data, stats, part)
    if split == "val" and data.val_tfrecords:
        return _Source("records", glob_shards(data.val_tfrecords))
    if split == "val" and data.val_dir:
        return _Source("files", _folder_files(data.val_dir, data, stats, "all"))
    if data.train_tfrecords:
        holdout = None if own_val else split == "val"
        return _Source("records", glob_shards(data.train_tfrecords), holdout=holdout)
    if data.train_dir:
        return _Source("files", _folder_files(data.train_dir, data, stats, part))
    raise ValueError(
        "No training data: set data.train_dir, data.train_tfrecords or "
        "data.pairs_csv"
    )


def _record_stream(
    source: _Source,
    data: ml_collections.ConfigDict,
    training: bool,
    repeat: bool,
    seed: int | None,
    deterministic: bool,
) -> tf.data.Dataset:
    """Encoded image bytes (scalar strings) read from TFRecord shards."""
    ds = tf.data.Dataset.from_tensor_slices(source.items)
    if training:
        ds = ds.shuffle(len(source.items), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=AUTOTUNE,
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic,
    )
    ds = ds.map(parse_example, num_parallel_calls=AUTOTUNE)
    # A damaged record must not stop training: drop it (TF logs each one).
    ds = ds.ignore_errors(log_warning=True)
    if source.holdout is not None:
        keep = source.holdout
        fraction = data.val_fraction
        ds = ds.filter(
            lambda r: tf.equal(holdout_tensor(r["filename"], fraction), keep)
        )
    ds = ds.map(lambda r: r["image"])
    if training:
        ds = ds.shuffle(data.shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def _key_stream(
    source: _Source,
    data: ml_collections.ConfigDict,
    training: bool,
    repeat: bool,
    seed: int | None,
    deterministic: bool,
) -> tf.data.Dataset:
    """Keys of one image stream: file paths (files) or encoded bytes (records)."""
    if source.kind == "records":
        return _record_stream(source, data, training, repeat, seed, deterministic)
    ds = tf.data.Dataset.from_tensor_slices(source.items)
    if training:
        # A file list is small: shuffle it whole (a perfect shuffle per epoch).
        ds = ds.shuffle(len(source.items), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    return ds


def _pick_unrelated(
    target_key: tf.Tensor, candidates: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor]:
    """``(target_key, the first of candidates [2] that is not the target)``.

    Two independent shuffles pair an image with itself with probability 1/N;
    the second candidate then stands in (both equal the target only for a
    one-image dataset).
    """
    same = tf.equal(candidates[0], target_key)
    return target_key, tf.where(same, candidates[1], candidates[0])


def _pair_within_groups(keys: tf.data.Dataset) -> tf.data.Dataset:
    """``(key, another key)`` pairs from one stream, read once.

    Consecutive keys are grouped :data:`RECORD_PAIRING_GROUP` at a time (the
    last group may be smaller) and each is paired with the next of its group,
    cyclically. A group of one pairs a key with itself (the element is then
    made related).
    """
    groups = keys.batch(RECORD_PAIRING_GROUP)  # [<= G]

    def pairs(group):
        return tf.data.Dataset.from_tensor_slices((group, tf.roll(group, -1, axis=0)))

    return groups.flat_map(pairs)


def make_dataset(
    config: ml_collections.ConfigDict,
    split: str = "train",
    batch_size: int | None = None,
    repeat: bool | None = None,
    stats: PipelineStats | None = None,
) -> tf.data.Dataset:
    """Builds the batched input pipeline of one split.

    Sources, by priority: ``data.pairs_csv`` (train; also val when there is no
    ``data.val_dir``/``data.val_tfrecords``), then ``data.{split}_tfrecords`` (a
    glob of shards read with a parallel interleave), then ``data.{split}_dir``
    (recursive). When the validation split has no source of its own it is the
    ``data.val_fraction`` share of the training data chosen by name hash, and the
    training split excludes it.

    Folder and pairs sources are validated at start-up: undecodable or unreadable
    files are dropped, counted in ``stats`` and logged. At run time an element
    whose file fails anyway is skipped (TF logs a warning).

    Args:
        config: the full config (``data.*``, ``seed``, ``train.batch_size``).
        split: ``"train"`` or ``"val"``.
        batch_size: GLOBAL batch size (default ``config.train.batch_size``); a
            ``tf.distribute`` strategy splits it over replicas.
        repeat: repeat forever (default: train yes, val no).
        stats: a :class:`PipelineStats` that receives the skipped-file counts.

    Returns:
        A dataset of dicts ``{"l": [B, S, S, 1], "ab": [B, S, S, 2],
        "ref_lab": [B, S, S, 3], "ref_hist": [B, 313]}`` (float32). Training
        and repeated batches are complete (static ``B``); the last batch of a
        single validation pass may be smaller.

    Raises:
        ValueError: unknown split, no source configured, a missing or empty
            folder, or no decodable image.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    data = config.data
    training = split == "train"
    stats = stats if stats is not None else PipelineStats()
    batch_size = batch_size or config.train.batch_size
    repeat = training if repeat is None else repeat
    # Validation is always reproducible; training when asked.
    deterministic = bool(data.deterministic) or not training
    if deterministic:
        base_seed = int(config.seed)
        shuffle_seed = base_seed
    else:
        base_seed = int(np.random.SeedSequence().generate_state(1)[0])
        shuffle_seed = None

    source = _resolve_source(config, split, stats)
    logging.info(
        "Input pipeline %s: %s source, %d %s, %d file(s) skipped so far.",
        split,
        source.kind,
        len(source.items),
        "shard(s)" if source.kind == "records" else "image(s)",
        stats.skipped,
    )
    load = tf.io.read_file if source.kind != "records" else tf.identity
    size = data.image_size

    def load_resized(key: tf.Tensor) -> tf.Tensor:
        # [h, w, 3] float32 in [0, 1] with short side data.resize_short.
        image = decode_image(load(key), data.max_decode_side, data.resize_short)
        return resize_short_side(image, data.resize_short)

    def crop(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return random_crop(image, size, seed) if training else center_crop(image, size)

    def distort(image: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
        return distort_reference(
            image,
            seed,
            size=size,
            min_crop=data.ref_min_crop,
            max_rotation_deg=data.max_rotation_deg,
            warp_strength=data.warp_strength,
            warp_grid=data.warp_grid,
        )

    def element(index: tf.Tensor, keys: tuple[tf.Tensor, tf.Tensor]):
        target_key, ref_key = keys
        seed = tf.stack([tf.constant(base_seed, tf.int64), index])  # [2]
        seeds = tf.random.experimental.stateless_split(seed, num=5)  # [5, 2]
        target_full = load_resized(target_key)  # [h, w, 3]
        target = crop(target_full, seeds[0])  # [S, S, 3]
        if source.kind == "pairs":
            ref = crop(load_resized(ref_key), seeds[1])
        else:
            related = tf.random.stateless_uniform([], seeds[2]) < data.related_prob
            # Only a one-image dataset leaves the target as its own unrelated
            # reference: an undistorted copy would teach copying, so distort it.
            related = tf.logical_or(related, tf.equal(target_key, ref_key))
            ref = tf.cond(
                related,
                lambda: distort(target_full, seeds[3]),
                lambda: crop(load_resized(ref_key), seeds[1]),
            )
        transform = None
        if training and data.color_aug_prob > 0:

            def transform(target_lab, ref_lab):
                return augment_pair_colors(
                    target_lab,
                    ref_lab,
                    seeds[4],
                    probability=data.color_aug_prob,
                    max_angle_deg=data.color_aug_max_angle_deg,
                    chroma_range=tuple(data.color_aug_chroma_range),
                )

        return to_example(target, ref, data.hist_floor, transform)

    if source.kind == "pairs":
        refs = tf.data.Dataset.from_tensor_slices(source.refs)
        pairs = tf.data.Dataset.zip(
            tf.data.Dataset.from_tensor_slices(source.items), refs
        )
        if training:
            pairs = pairs.shuffle(len(source.items), seed=shuffle_seed)
        if repeat:
            pairs = pairs.repeat()
        ds = pairs.enumerate()
    elif training:
        keys = _key_stream(source, data, training, repeat, shuffle_seed, deterministic)
        if data.related_prob < 1.0 and source.kind == "records":
            ds = _pair_within_groups(keys)  # records carry their bytes: read once
        elif data.related_prob < 1.0:
            other_seed = (
                None
                if shuffle_seed is None
                else shuffle_seed + REFERENCE_STREAM_SEED_OFFSET
            )
            others = _key_stream(source, data, True, True, other_seed, deterministic)
            others = others.batch(UNRELATED_CANDIDATES, drop_remainder=True)  # [2]
            ds = tf.data.Dataset.zip(keys, others).map(_pick_unrelated)
        else:
            ds = keys.map(lambda k: (k, k))  # The second key is never read.
        ds = ds.enumerate()
    else:
        # Validation: enumerate one pass, then repeat, so that every pass is equal.
        once = _key_stream(source, data, False, False, None, True)
        if source.kind == "records":
            ds = _pair_within_groups(once).enumerate()  # one read of the records
        else:
            following = once.skip(1).concatenate(once.take(1))  # the next image
            ds = tf.data.Dataset.zip(once, following).enumerate()
        if repeat:
            ds = ds.repeat()

    ds = ds.map(element, num_parallel_calls=AUTOTUNE)
    # Run-time guard: a file that fails although it passed validation (changed or
    # removed since) drops its element instead of stopping training.
    ds = ds.ignore_errors(log_warning=True)
    # Training batches are always complete (static batch dimension); so are
    # repeated validation batches. A single validation pass keeps its last,
    # smaller batch.
    drop_remainder = training or repeat
    ds = ds.batch(
        batch_size, drop_remainder=drop_remainder, num_parallel_calls=AUTOTUNE
    )
    ds = ds.prefetch(AUTOTUNE)
    options = tf.data.Options()
    options.deterministic = deterministic
    # Parallelism comes from processing many elements at once; letting each op
    # spread over all cores as well oversubscribes them (about 2x slower here).
    options.threading.max_intra_op_parallelism = INTRA_OP_PARALLELISM
    return ds.with_options(options)
