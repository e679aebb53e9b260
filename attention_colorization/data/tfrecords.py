"""TFRecord shards of encoded images: the format, the writer and the parser.

One ``tf.train.Example`` per image, with the features

* ``image``: the original encoded bytes (JPEG, PNG, ...), decoded by the pipeline;
* ``height``, ``width``: int64, the full-size decoded dimensions;
* ``filename``: the path relative to the input folder (the key of the
  train/validation hash split, see
  :func:`~attention_colorization.data.sources.holdout_tensor`).

Shards are named ``{output_pattern}-00000-of-00004.tfrecord``. Images go to the
shards round robin over the sorted file list, so every shard mixes all
sub-folders (classes). Each shard is written under a temporary name and renamed
when complete, so a crash never leaves a truncated shard behind.
"""

from __future__ import annotations

import dataclasses
import os

import tensorflow as tf

from attention_colorization.data.sources import (
    PipelineStats,
    list_image_files,
    relative_name,
    require_decodable,
)

FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "filename": tf.io.FixedLenFeature([], tf.string),
}


@dataclasses.dataclass
class WriteResult:
    """What :func:`write_tfrecords` did.

    Attributes:
        shards: the shard paths written, in order.
        written: images written.
        skipped: files skipped as unreadable or undecodable.
        skipped_files: their paths.
    """

    shards: list[str]
    written: int
    skipped: int
    skipped_files: list[str]


def shard_name(output_pattern: str, index: int, num_shards: int) -> str:
    """``out/train`` -> ``out/train-00002-of-00004.tfrecord``."""
    return f"{output_pattern}-{index:05d}-of-{num_shards:05d}.tfrecord"


def serialize_example(image: bytes, height: int, width: int, filename: str) -> bytes:
    """One serialised ``tf.train.Example`` with the features of :data:`FEATURES`."""
    feature = {
        "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
        "height": tf.train.Feature(int64_list=tf.train.Int64List(value=[height])),
        "width": tf.train.Feature(int64_list=tf.train.Int64List(value=[width])),
        "filename": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[filename.encode("utf-8")])
        ),
    }
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString()


def parse_example(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    """Parses one serialised example (scalar string) into scalar tensors."""
    return tf.io.parse_single_example(serialized, FEATURES)


def write_tfrecords(
    input_dir: str, output_pattern: str, num_shards: int
) -> WriteResult:
    """Writes every decodable image under ``input_dir`` into ``num_shards`` shards.

    Args:
        input_dir: folder searched recursively (see
            :func:`~attention_colorization.data.sources.list_image_files`).
        output_pattern: shard path prefix, e.g. ``out/train``; its folder is
            created.
        num_shards: number of shards (>= 1).

    Returns:
        A :class:`WriteResult`; undecodable files are skipped, counted and logged.

    Raises:
        ValueError: bad ``num_shards``, a missing/empty folder, or no decodable
            image.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    paths = list_image_files(input_dir)
    stats = PipelineStats()
    # Full-size decode: the true height and width.
    found = require_decodable(paths, input_dir, stats)
    good = sorted(found)  # indices into paths, in path order
    folder = os.path.dirname(output_pattern)
    if folder:
        tf.io.gfile.makedirs(folder)
    shards = []
    for shard in range(num_shards):
        final = shard_name(output_pattern, shard, num_shards)
        temp = f"{final}.tmp-{os.getpid()}"
        with tf.io.TFRecordWriter(temp) as writer:
            for i in good[shard::num_shards]:
                height, width = found[i]
                with open(paths[i], "rb") as f:
                    data = f.read()
                name = relative_name(paths[i], input_dir)
                writer.write(serialize_example(data, height, width, name))
        tf.io.gfile.rename(temp, final, overwrite=True)
        shards.append(final)
    return WriteResult(
        shards=shards,
        written=len(good),
        skipped=stats.skipped,
        skipped_files=stats.skipped_files,
    )
