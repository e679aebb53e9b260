r"""Writes a folder of images into TFRecord shards for the input pipeline.

    python tools/make_tfrecords.py --input_dir=photos/train \
        --output_pattern=out/train --num_shards=4

writes ``out/train-00000-of-00004.tfrecord`` ... ``out/train-00003-of-00004.tfrecord``
(features ``image``, ``height``, ``width``, ``filename``; see
``attention_colorization/data/tfrecords.py``), skipping and counting files that
cannot be decoded. Train on them with
``--config.data.train_tfrecords='out/train-*-of-*.tfrecord'``.
"""

from __future__ import annotations

import sys

from absl import app, flags

from attention_colorization.data.tfrecords import write_tfrecords

_INPUT_DIR = flags.DEFINE_string(
    "input_dir", None, "Folder of images (searched recursively).", required=True
)
_OUTPUT_PATTERN = flags.DEFINE_string(
    "output_pattern", None, "Shard path prefix, e.g. out/train.", required=True
)
_NUM_SHARDS = flags.DEFINE_integer("num_shards", 4, "Number of shards to write.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        result = write_tfrecords(
            _INPUT_DIR.value, _OUTPUT_PATTERN.value, _NUM_SHARDS.value
        )
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    for path in result.skipped_files:
        print(f"skipped: {path}")
    print(f"skipped {result.skipped} undecodable or unreadable file(s)")
    print(
        f"wrote {result.written} image(s) to {len(result.shards)} shard(s): "
        f"{result.shards[0]} ... {result.shards[-1]}"
    )


if __name__ == "__main__":
    app.run(main)
