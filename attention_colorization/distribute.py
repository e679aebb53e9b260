"""``tf.distribute`` strategies from the config, and who the chief is.

``train.distribution``:

* ``default``: the default strategy (one device).
* ``mirrored``: ``MirroredStrategy`` over the local GPUs, or the local logical
  CPU devices when there is no GPU (tests split the CPU into two).
* ``multi_worker``: ``MultiWorkerMirroredStrategy``; the cluster comes from the
  ``TF_CONFIG`` environment variable (``tools/multi_worker.py`` sets it for
  local runs). Worker 0 (or the ``chief`` task) is the chief: only it writes
  checkpoints, TensorBoard logs and the final weights.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def make_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy named by ``train.distribution``."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [
            d.name for d in tf.config.list_logical_devices("CPU")
        ]
        return tf.distribute.MirroredStrategy(
            devices=devices,
            cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice(),
        )
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError(
                "train.distribution=multi_worker needs the TF_CONFIG environment "
                "variable (see tools/multi_worker.py)"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown train.distribution {name!r}")


def task_info() -> tuple[str, int]:
    """(task type, index) from ``TF_CONFIG``; ``("worker", 0)`` without a cluster."""
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    return task.get("type", "worker"), int(task.get("index", 0))


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True on the process that writes checkpoints, logs and weights."""
    if strategy is not None and not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return True
    task_type, index = task_info()
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    has_chief = "chief" in tf_config.get("cluster", {})
    if has_chief:
        return task_type == "chief"
    return task_type == "worker" and index == 0


def split_cpu(num_devices: int) -> None:
    """Splits the CPU into ``num_devices`` logical devices (before TF initialises)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices
    )
