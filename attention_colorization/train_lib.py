"""Training: two stages, checkpoints and resume, TensorBoard, tf.distribute.

:func:`train_and_evaluate` is what ``python -m attention_colorization.train``
runs; it is importable and tested on its own.
"""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import tempfile

import keras
import ml_collections
import tensorflow as tf
from absl import logging

from attention_colorization import config as config_lib
from attention_colorization import distribute, losses
from attention_colorization import workdir as workdir_lib
from attention_colorization.callbacks import StepMonitor, TrainingDivergedError, scalar
from attention_colorization.trainer import LOSS_NAMES, ColorizationGAN


class TrainState(tf.Module):
    """The global step and the stage, saved in every checkpoint."""

    def __init__(self):
        super().__init__()
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.stage = tf.Variable(1, dtype=tf.int64, trainable=False, name="stage")


def make_checkpoint(generator, discriminator, g_optimizer, d_optimizer, state):
    """A ``tf.train.Checkpoint`` of everything a resumed run needs.

    The models are saved as flat lists of their variables (trainable and not:
    batch-norm statistics, spectral-norm vectors), in Keras's own deterministic
    order. Keras 3 layers kept in Python lists are not TensorFlow-trackable
    children, so checkpointing the model objects themselves would miss them.
    """
    return tf.train.Checkpoint(
        generator_variables=list(generator.variables),
        discriminator_variables=list(discriminator.variables),
        g_optimizer=g_optimizer,
        d_optimizer=d_optimizer,
        state=state,
    )


def make_optimizer(train_config, policy: str):
    """Adam (SPEC.md: lr 2e-5, β1 0.5, β2 0.99, no decay); loss scaling under fp16.

    ``train.clipnorm > 0`` clips the global gradient norm (off in the paper).
    """
    optimizer = keras.optimizers.Adam(
        learning_rate=train_config.learning_rate,
        beta_1=train_config.beta_1,
        beta_2=train_config.beta_2,
        global_clipnorm=train_config.clipnorm or None,
    )
    if policy == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def latest_checkpoint_state(checkpoint_dir: os.PathLike):
    """(path, step, stage) of the latest checkpoint, or None."""
    path = tf.train.latest_checkpoint(str(checkpoint_dir))
    if path is None:
        return None
    step = int(tf.train.load_variable(path, "state/step/.ATTRIBUTES/VARIABLE_VALUE"))
    stage = int(tf.train.load_variable(path, "state/stage/.ATTRIBUTES/VARIABLE_VALUE"))
    return path, step, stage


def stage_bounds(train_config) -> dict[int, tuple[int, int]]:
    """Global step ranges ``[start, end)`` of each stage."""
    s1 = int(train_config.stage1_steps)
    return {1: (0, s1), 2: (s1, s1 + int(train_config.stage2_steps))}


def _with_auto_shard_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.with_options(options)


def _build_models(config):
    from attention_colorization.model import build_discriminator, build_generator

    return build_generator(config, pretrained=True), build_discriminator(config)


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | os.PathLike, verbose: int = 1
) -> dict:
    """Trains both stages into ``workdir`` and returns the final validation logs.

    Rerunning with the same workdir resumes from the latest checkpoint.

    Raises:
        TrainingDivergedError: a loss became NaN or infinite.
        losses.PerceptualWeightsError: VGG19 weights unavailable while the
            perceptual term is on.
        ValueError: a bad config, or a resume that would change the network.
    """
    from attention_colorization import data as data_lib

    config_lib.validate(config)
    workdir = pathlib.Path(workdir)
    policy = config.train.mixed_precision
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(config.seed)
    strategy = distribute.make_strategy(config.train.distribution)
    chief = distribute.is_chief(strategy)

    config_path = workdir / workdir_lib.CONFIG_FILE
    if config_path.exists():
        workdir_lib.check_compatible(workdir_lib.load_config(config_path), config)
    if chief:
        workdir.mkdir(parents=True, exist_ok=True)
        workdir_lib.save_config(config, workdir)

    # Fail at start-up, not after hours, when the weights cannot be had.
    vgg = None
    if config.loss.perceptual > 0:
        vgg = losses.build_perceptual_features(
            config.loss.perceptual_network, config.loss.perceptual_weights
        )

    stats = data_lib.PipelineStats()
    train_ds = _with_auto_shard_data(
        data_lib.make_dataset(config, "train", stats=stats)
    )
    val_ds = _with_auto_shard_data(
        data_lib.make_dataset(config, "val", repeat=True, stats=stats)
    )
    if stats.skipped:
        logging.warning("input pipeline: %d unreadable files skipped", stats.skipped)
    image_batch = next(iter(val_ds)) if chief else None

    checkpoint_dir = workdir / workdir_lib.CHECKPOINT_DIR
    throwaway = None
    if not chief:  # Non-chief workers take part in saving, into a temporary folder.
        throwaway = pathlib.Path(tempfile.mkdtemp(prefix="ckpt-worker-"))
    resume = latest_checkpoint_state(checkpoint_dir)

    writers = {}
    if chief:
        tb = workdir / workdir_lib.TENSORBOARD_DIR
        writers = {
            "train": tf.summary.create_file_writer(str(tb / "train")),
            "validation": tf.summary.create_file_writer(str(tb / "validation")),
        }

    with strategy.scope():
        generator, discriminator = _build_models(config)
        state = TrainState()
        model = make_gan(config, generator, discriminator, vgg)

    bounds = stage_bounds(config.train)
    d_optimizer = None
    val_logs: dict = {}
    resumed_from = None
    if resume is not None:
        _, resume_step, resume_stage = resume
        resumed_from = (resume_step, resume_stage)
    elif config.train.init_weights:
        load_init_weights(generator, config)

    for stage in (1, 2):
        start, end = bounds[stage]
        with strategy.scope():
            model.stage = stage
            g_optimizer = make_optimizer(config.train, policy)
            if d_optimizer is None:
                # One discriminator optimizer for both stages, built once: a
                # second build of a LossScaleOptimizer would make new loss-scale
                # variables and drop the learned scale.
                d_optimizer = make_optimizer(config.train, policy)
                d_optimizer.build(discriminator.trainable_variables)
            model.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
            g_optimizer.build(model.stage_variables())
            checkpoint = make_checkpoint(
                generator, discriminator, g_optimizer, d_optimizer, state
            )
        manager = tf.train.CheckpointManager(
            checkpoint,
            str(checkpoint_dir if chief else throwaway),
            max_to_keep=config.train.keep_checkpoints,
        )
        if resumed_from is not None and resumed_from[1] == stage:
            checkpoint.restore(resume[0]).assert_existing_objects_matched()
            logging.info("resumed from step %d (stage %d)", *resumed_from)
            print(
                f"resumed from step {resumed_from[0]} (stage {resumed_from[1]})",
                flush=True,
            )
            resumed_from = None
        elif resumed_from is not None and resumed_from[1] > stage:
            continue  # This stage is already done; its weights come with stage 2's.
        state.stage.assign(stage)
        step = int(state.step.numpy())
        if step >= end:
            continue
        if step < start:
            state.step.assign(start)
            step = start

        def save(at_step, manager=manager):
            manager.save(checkpoint_number=at_step)

        monitor = StepMonitor(
            state, end, save, writers, config.train, image_batch, generator
        )
        per_epoch = max(1, min(config.train.val_every_steps, end - start))
        first_epoch = (step - start) // per_epoch
        epochs = math.ceil((end - start) / per_epoch)
        logging.info(
            "stage %d: steps %d..%d (global), %d per epoch, batch %d on %d replica(s)",
            stage,
            step,
            end,
            per_epoch,
            config.train.batch_size,
            strategy.num_replicas_in_sync,
        )
        history = model.fit(
            train_ds,
            epochs=epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=per_epoch,
            validation_data=val_ds,
            validation_steps=config.train.val_steps,
            callbacks=[monitor],
            verbose=verbose if chief else 0,
        )
        if monitor.diverged:
            raise TrainingDivergedError(
                f"{monitor.diverged}; the last good checkpoint is in {checkpoint_dir}. "
                "Lower train.learning_rate or use train.mixed_precision=float32"
            )
        val_logs = {
            k: scalar(v[-1]) for k, v in history.history.items() if k.startswith("val_")
        }

    if chief:
        workdir_lib.save_weights_atomic(generator, workdir / workdir_lib.WEIGHTS_FILE)
        for writer in writers.values():
            writer.close()
    if throwaway is not None:
        shutil.rmtree(throwaway, ignore_errors=True)
    return val_logs


def load_init_weights(generator, config: ml_collections.ConfigDict) -> None:
    """Loads ``train.init_weights`` into ``generator`` (a fresh run starts there).

    Raises:
        weights_path.ModelPathError: the path is not a workdir or weights file.
        ValueError: those weights belong to another architecture.
    """
    from attention_colorization import weights_path

    found = weights_path.resolve_weights(config.train.init_weights)
    workdir_lib.check_compatible(workdir_lib.load_config(found.config_file), config)
    generator.load_weights(str(found.weights_file))
    logging.info("generator weights from %s", found.weights_file)
    print(f"starting from the weights in {found.weights_file}", flush=True)


def make_gan(config, generator, discriminator, vgg):
    """The trainable GAN with the config's loss weights (stage set by the caller)."""
    weights = {k: config.loss[k] for k in LOSS_NAMES}
    return ColorizationGAN(
        generator,
        discriminator,
        weights,
        vgg=vgg,
        stage=1,
        drop_reference_prob=config.train.drop_reference_prob,
        uniform_prior_prob=config.train.uniform_prior_prob,
    )
