"""Training callbacks: step counting, checkpoints, TensorBoard, and the NaN guard.

``fit`` runs each stage in "epochs" of ``train.val_every_steps`` steps (validation
runs at each epoch end); :class:`StepMonitor` counts global steps across both
stages, stops the stage at its last step, saves a checkpoint every
``train.checkpoint_every_steps`` steps and at the end of a stage, and writes
TensorBoard summaries.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from attention_colorization import color


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite."""


def scalar(value) -> float:
    """A Python float from a log value (a scalar, or a 1-element array under
    MultiWorkerMirroredStrategy)."""
    return float(np.asarray(value, dtype=np.float64).reshape(-1)[0])


def _interval_means(now: dict, before: dict, steps_now: int, steps_before: int) -> dict:
    """Means over the last interval from running means since the epoch start."""
    span = steps_now - steps_before
    out = {}
    for key, value in now.items():
        prev = before.get(key) if steps_before > 0 else None
        if prev is None or span <= 0:
            out[key] = scalar(value)
        else:
            out[key] = (scalar(value) * steps_now - scalar(prev) * steps_before) / span
    return out


def render_panel(generator, batch, stage: int, max_images: int = 4):
    """Image panels for TensorBoard.

    Returns:
        (panel, alpha): ``panel [n, S, 4 S, 3]`` float in [0, 1], rows of
        gray | reference | prediction | ground truth; ``alpha [n, S, S, 1]`` the
        weight of the database source (stage 2) or None.
    """
    batch = {k: v[:max_images] for k, v in batch.items()}
    outputs = generator(
        {"l": batch["l"], "ref_lab": batch["ref_lab"], "ref_hist": batch["ref_hist"]},
        training=False,
        stage=stage,
    )
    lightness = tf.cast(batch["l"], tf.float32)
    ab_pred = color.net_to_ab(tf.cast(outputs["ab"], tf.float32))
    gray = color.lab_to_rgb(tf.concat([lightness, tf.zeros_like(ab_pred)], -1))
    pred = color.lab_to_rgb(tf.concat([lightness, ab_pred], -1))
    truth = color.lab_to_rgb(
        tf.concat([lightness, tf.cast(batch["ab"], tf.float32)], -1)
    )
    ref = color.lab_to_rgb(tf.cast(batch["ref_lab"], tf.float32))
    panel = tf.concat([gray, ref, pred, truth], axis=2)  # [n, S, 4 S, 3]
    alpha = None
    if "alpha" in outputs:
        size = tf.shape(lightness)[1:3]
        db = tf.cast(outputs["alpha"][..., -1:], tf.float32)  # [n, G, G, 1]
        alpha = tf.image.resize(db, size, method="nearest")  # [n, S, S, 1]
    return panel, alpha


class StepMonitor(keras.callbacks.Callback):
    """Counts global steps and drives checkpoints, TensorBoard and the NaN guard.

    Args:
        state: object with ``step``/``stage`` ``tf.Variable``s (saved in checkpoints).
        stage_end: the global step at which this stage ends.
        manager: ``tf.train.CheckpointManager`` (None on non-chief workers: they
            save into a throwaway directory given by ``save_fn``).
        save_fn: callable(step) that saves a checkpoint.
        writers: dict with ``train`` and ``validation`` summary writers.
        config: the train section of the config.
        image_batch: a fixed batch rendered to TensorBoard, or None.
        generator: the generator (for images).
    """

    def __init__(
        self, state, stage_end, save_fn, writers, config, image_batch, generator
    ):
        super().__init__()
        self.state = state
        self.stage_end = int(stage_end)
        self.save_fn = save_fn
        self.writers = writers
        self.config = config
        self.image_batch = image_batch
        self.generator = generator
        self.diverged: str | None = None
        self._epoch_steps = 0
        self._last_logged = (0, {})

    @property
    def step(self) -> int:
        return int(self.state.step.numpy())

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_steps = 0
        self._last_logged = (0, {})

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self.state.step.assign_add(1)
        self._epoch_steps += 1
        step = self.step
        bad = [k for k, v in logs.items() if not math.isfinite(scalar(v))]
        if bad:
            self.diverged = (
                f"loss became non-finite at step {step} (stage "
                f"{int(self.state.stage.numpy())}): {', '.join(sorted(bad))}"
            )
            self.model.stop_training = True
            return
        if step % self.config.log_every_steps == 0 or step >= self.stage_end:
            self._write_scalars(logs, step)
        if self.image_batch is not None and step % self.config.image_every_steps == 0:
            self._write_images(step)
        if step % self.config.checkpoint_every_steps == 0 or step >= self.stage_end:
            self.save_fn(step)
        if step >= self.stage_end:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        val = {k[4:]: scalar(v) for k, v in logs.items() if k.startswith("val_")}
        if val and self.writers.get("validation") is not None:
            with self.writers["validation"].as_default(step=self.step):
                for key, value in val.items():
                    tf.summary.scalar(key, value)
            self.writers["validation"].flush()
            logging.info(
                "step %d validation: %s",
                self.step,
                ", ".join(f"{k}={v:.4g}" for k, v in sorted(val.items())),
            )

    def _write_scalars(self, logs, step):
        steps_before, before = self._last_logged
        means = _interval_means(logs, before, self._epoch_steps, steps_before)
        self._last_logged = (self._epoch_steps, dict(logs))
        writer = self.writers.get("train")
        if writer is None:
            return
        with writer.as_default(step=step):
            for key, value in means.items():
                tf.summary.scalar(key, value)
            tf.summary.scalar(
                "learning_rate", scalar(self.model.g_optimizer.learning_rate.numpy())
            )
            tf.summary.scalar("stage", int(self.state.stage.numpy()))
        writer.flush()

    def _write_images(self, step):
        writer = self.writers.get("train")
        if writer is None:
            return
        stage = int(self.state.stage.numpy())
        panel, alpha = render_panel(self.generator, self.image_batch, stage)
        with writer.as_default(step=step):
            tf.summary.image("gray_reference_prediction_truth", panel, max_outputs=4)
            if alpha is not None:
                tf.summary.image("alpha_database", alpha, max_outputs=4)
                tf.summary.histogram("alpha_database", np.asarray(alpha).ravel())
        writer.flush()
