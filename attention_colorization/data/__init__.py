"""The tf.data input pipeline: sources, decoding, reference synthesis, assembly.

The trainer needs :func:`make_dataset` only; the per-example functions are public
so that tools and tests can use them one by one (each runs eagerly and inside
``tf.data.Dataset.map`` alike).
"""

from attention_colorization.data.decode import (
    center_crop,
    decode_image,
    random_crop,
    resize_short_side,
)
from attention_colorization.data.pipeline import make_dataset, to_example
from attention_colorization.data.reference import bilinear_sample, distort_reference
from attention_colorization.data.sources import (
    IMAGE_EXTENSIONS,
    PipelineStats,
    filter_decodable,
    find_decodable,
    holdout_mask,
    list_image_files,
    read_pairs_csv,
    require_decodable,
    split_files,
)
from attention_colorization.data.tfrecords import (
    parse_example,
    serialize_example,
    shard_name,
    write_tfrecords,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "PipelineStats",
    "bilinear_sample",
    "center_crop",
    "decode_image",
    "distort_reference",
    "filter_decodable",
    "find_decodable",
    "require_decodable",
    "holdout_mask",
    "list_image_files",
    "make_dataset",
    "parse_example",
    "random_crop",
    "read_pairs_csv",
    "resize_short_side",
    "serialize_example",
    "shard_name",
    "split_files",
    "to_example",
    "write_tfrecords",
]
