r"""Measures the throughput of the training input pipeline (a benchmark, not a test).

    python tools/benchmark_pipeline.py --data_dir=photos/ \
        --config=configs/small.py --batches=50

Builds the training pipeline exactly as the trainer does (references and
histograms included), pulls ``--warmup`` batches, then times ``--batches``
batches. Prints the skipped-file count, the CPU time per image (comparable on
a shared machine), then, as its last line, ``N images/s``.
"""

from __future__ import annotations

import pathlib
import time

from absl import app, flags
from ml_collections import config_flags

from attention_colorization.data import PipelineStats, make_dataset

_DEFAULT_CONFIG = str(
    pathlib.Path(__file__).resolve().parents[1] / "configs" / "small.py"
)

_CONFIG = config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG, "Configuration file.", lock_config=True
)
_DATA_DIR = flags.DEFINE_string(
    "data_dir", None, "Folder of images (overrides config.data.train_dir)."
)
_BATCHES = flags.DEFINE_integer("batches", 50, "Batches to time.")
_WARMUP = flags.DEFINE_integer("warmup", 5, "Batches pulled before timing starts.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    config = _CONFIG.value
    if _DATA_DIR.value:
        with config.unlocked():
            config.data.train_dir = _DATA_DIR.value
    stats = PipelineStats()
    dataset = make_dataset(config, "train", stats=stats)
    batch_size = config.train.batch_size
    for path in stats.skipped_files:
        print(f"skipped: {path}")
    print(f"skipped files: {stats.skipped}")
    print(f"images in use: {stats.num_files}")
    iterator = iter(dataset)
    for _ in range(_WARMUP.value):
        next(iterator)
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(_BATCHES.value):
        batch = next(iterator)
    batch["ref_hist"].numpy()  # Waits for the last batch.
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # all threads of this process
    images = _BATCHES.value * batch_size
    print(f"{_BATCHES.value} batches of {batch_size} in {seconds:.2f} s")
    # CPU time per image does not depend on what else runs on the machine.
    print(f"{1000 * cpu_seconds / images:.1f} ms of CPU time per image")
    print(f"{images / seconds:.1f} images/s")


if __name__ == "__main__":
    app.run(main)
