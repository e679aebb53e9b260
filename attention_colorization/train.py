r"""Trains the colorization network (both stages) into a workdir.

    python -m attention_colorization.train --config=configs/small.py \
        --workdir=/tmp/run --config.data.train_dir=photos/ \
        [--config.train.mixed_precision=mixed_float16] [--config.FIELD=VALUE ...]

Rerunning the same command resumes from the latest checkpoint. See BUILD.md.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Path to a config file (configs/*.py).", lock_config=True
)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where checkpoints, logs and weights go."
)
_CPU_DEVICES = flags.DEFINE_integer(
    "cpu_devices", 0, "Split the CPU into this many logical devices (mirrored tests)."
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _CPU_DEVICES.value > 1:
        from attention_colorization.distribute import split_cpu

        split_cpu(_CPU_DEVICES.value)

    from attention_colorization import train_lib
    from attention_colorization.callbacks import TrainingDivergedError
    from attention_colorization.losses import PerceptualWeightsError

    try:
        logs = train_lib.train_and_evaluate(_CONFIG.value, _WORKDIR.value)
    except (
        TrainingDivergedError,
        PerceptualWeightsError,
        ValueError,
        FileNotFoundError,
    ) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = ", ".join(f"{k}={v:.4g}" for k, v in sorted(logs.items()))
    logging.info("done: %s", summary)
    print(f"finished; weights in {_WORKDIR.value}/model.weights.h5 ({summary})")
    return 0


if __name__ == "__main__":
    app.run(main)
