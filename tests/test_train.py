"""Training: train steps per stage and precision, overfitting, callbacks, mirrored."""

import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import synthetic_photo, tiny_config

from attention_colorization import color, train_lib
from attention_colorization.callbacks import StepMonitor, _interval_means
from attention_colorization.model import build_discriminator, build_generator


def _batch(size=32, n=2, seed=0):
    """A batch of the pipeline's format built from synthetic photos."""
    rgb = np.stack([synthetic_photo(size, size, seed + i) for i in range(n)])
    lab = color.rgb_to_lab(tf.constant(rgb, tf.float32) / 255.0)
    ref = tf.reverse(lab, axis=[2])  # Mirrored copies as references.
    return {
        "l": lab[..., :1],
        "ab": lab[..., 1:],
        "ref_lab": ref,
        "ref_hist": color.ab_histogram(ref[..., 1:], floor=1e-4),
    }


def _gan(config, stage):
    generator, discriminator = build_generator(config), build_discriminator(config)
    gan = train_lib.make_gan(config, generator, discriminator, vgg=None)
    gan.stage = stage
    policy = config.train.mixed_precision
    g_opt = train_lib.make_optimizer(config.train, policy)
    d_opt = train_lib.make_optimizer(config.train, policy)
    gan.compile(g_optimizer=g_opt, d_optimizer=d_opt)
    g_opt.build(gan.stage_variables())
    d_opt.build(discriminator.trainable_variables)
    # The two players' optimizers are the only ones (no unused Keras default).
    assert gan.optimizer is None
    return gan


@pytest.fixture
def restore_policy():
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_train_step_each_stage_finite(policy, restore_policy):
    keras.mixed_precision.set_global_policy(policy)
    config = tiny_config(**{"train.mixed_precision": policy})
    batch = _batch()
    for stage in (1, 2):
        gan = _gan(config, stage)
        before = [v.numpy().copy() for v in gan.stage_variables()]
        logs = gan.train_step(batch)
        if policy == "mixed_float16":
            # The loss scaler starts at 2^15 and skips steps whose scaled gradients
            # overflow, halving the scale each time, until updates go through.
            for _ in range(24):
                if not np.array_equal(before[0], gan.stage_variables()[0].numpy()):
                    break
                logs = gan.train_step(batch)
            assert float(gan.g_optimizer.dynamic_scale) < 2.0**15
        for key, value in logs.items():
            assert math.isfinite(float(value)), (policy, stage, key)
        assert ("sparse" in logs) == (stage == 2)
        changed = sum(
            not np.array_equal(b, v.numpy())
            for b, v in zip(before, gan.stage_variables(), strict=True)
        )
        assert changed > len(before) // 2
        if policy == "mixed_float16":
            assert isinstance(gan.g_optimizer, keras.optimizers.LossScaleOptimizer)


def test_stage1_trains_only_extractor_and_decoder():
    gan = _gan(tiny_config(), stage=1)
    names = {v.path for v in gan.stage_variables()}
    assert names and all(
        n.startswith(("feature_extractor", "decoder"))
        or "/feature_extractor/" in n
        or "/decoder/" in n
        for n in names
    )
    scm = gan.generator.semantic_color.trainable_variables
    before = [v.numpy().copy() for v in scm]
    gan.train_step(_batch())
    assert all(np.array_equal(b, v.numpy()) for b, v in zip(before, scm, strict=True))


def test_stage2_sparse_and_hist_terms_enter_total():
    config = tiny_config()
    gan = _gan(config, stage=2)
    batch = _batch()
    out = gan.generator(gan._generator_inputs(batch), training=False, stage=2)
    d_fake = gan.discriminator(tf.zeros([2, 32, 32, 3]))
    l_net, ab_true, ref_ab = gan._targets(batch)
    total, terms, histograms = gan._generator_losses(
        l_net, ab_true, ref_ab, out, d_fake
    )
    expected = sum(config.loss[k] * float(v) for k, v in terms.items())
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert float(terms["sparse"]) > 0 and float(terms["hist"]) > 0
    # The histograms L_hist used are the output's and the reference's.
    np.testing.assert_allclose(
        histograms["ref"],
        color.ab_histogram441(tf.cast(batch["ref_lab"][..., 1:], tf.float32)),
        atol=1e-6,
    )


def test_dropped_references_train_the_database_on_the_targets_own_colours():
    config = tiny_config(
        **{"train.drop_reference_prob": 1.0, "train.uniform_prior_prob": 0.0}
    )
    gan = _gan(config, stage=2)
    batch = _batch()
    l_net, ab_true, ref_ab = gan._targets(batch)
    inputs, hist_ab = gan._drop_references(batch, ab_true, ref_ab)
    np.testing.assert_array_equal(inputs["ref_mask"], 0.0)
    own = color.reference_histogram(batch["ab"], floor=gan.generator.hist_floor)
    np.testing.assert_allclose(inputs["ref_hist"], own, atol=1e-6)
    np.testing.assert_allclose(hist_ab, ab_true)
    outputs = gan.generator(inputs, training=False, stage=2)
    np.testing.assert_allclose(outputs["alpha"][..., -1], 1.0, atol=1e-5)
    # A uniform prior for every dropped example (automatic mode).
    gan.uniform_prior_prob = 1.0
    inputs, _ = gan._drop_references(batch, ab_true, ref_ab)
    np.testing.assert_allclose(inputs["ref_hist"], 1.0 / color.NUM_BINS, rtol=1e-6)
    # Off (the default), and in stage 1, the batch passes through unchanged.
    gan.drop_reference_prob = 0.0
    inputs, hist_ab = gan._drop_references(batch, ab_true, ref_ab)
    assert "ref_mask" not in inputs
    np.testing.assert_allclose(hist_ab, ref_ab)
    logs = gan.train_step(batch)
    assert math.isfinite(float(logs["g_loss"]))


def test_init_weights_start_a_fresh_run_from_saved_weights(tmp_path):
    from attention_colorization import workdir as workdir_lib

    config = tiny_config()
    source = build_generator(config)
    workdir_lib.save_config(config, tmp_path)
    source.save_weights(str(tmp_path / "model.weights.h5"))
    config.train.init_weights = str(tmp_path)
    target = build_generator(config)
    train_lib.load_init_weights(target, config)
    for a, b in zip(source.weights, target.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    config.model.width = config.model.width * 2
    with pytest.raises(ValueError, match="model.width"):
        train_lib.load_init_weights(build_generator(config), config)


def test_overfit_few_images_halves_l1():
    config = tiny_config(**{"train.learning_rate": 2e-3, "loss.gan": 0.0})
    gan = _gan(config, stage=1)
    batch = _batch(n=2, seed=5)
    step = tf.function(gan.train_step)
    first = float(step(batch)["l1"])
    for _ in range(80):
        step(batch)
    gan.reset_metrics()
    last = float(gan.train_step(batch)["l1"])
    assert last < 0.5 * first, (first, last)


def test_test_step_reports_his_and_psnr():
    gan = _gan(tiny_config(), stage=2)
    logs = gan.test_step(_batch())
    assert 0.0 <= float(logs["his"]) <= 1.0
    assert 0.0 < float(logs["psnr"]) < 100.0


def test_interval_means_recover_per_interval_average():
    # Steps 1-2 had value 1, steps 3-4 value 3: running mean 2 after 4 steps.
    assert _interval_means({"l1": 2.0}, {"l1": 1.0}, 4, 2)["l1"] == pytest.approx(3.0)
    assert _interval_means({"l1": 2.0}, {}, 4, 0)["l1"] == pytest.approx(2.0)


class _Model:
    stop_training = False


def test_step_monitor_stops_on_nan_and_saves_on_schedule():
    state = train_lib.TrainState()
    saved = []
    config = tiny_config().train
    monitor = StepMonitor(state, 6, saved.append, {}, config, None, None)
    monitor.set_model(_Model())
    monitor.on_epoch_begin(0)
    for _ in range(4):
        monitor.on_train_batch_end(0, {"g_loss": 1.0})
    assert saved == [config.checkpoint_every_steps] and monitor.diverged is None
    monitor.on_train_batch_end(0, {"g_loss": float("nan"), "d_loss": 0.1})
    assert monitor.model.stop_training and "g_loss" in monitor.diverged
    assert "step 5" in monitor.diverged


def test_step_monitor_stops_at_stage_end():
    state = train_lib.TrainState()
    saved = []
    monitor = StepMonitor(state, 3, saved.append, {}, tiny_config().train, None, None)
    monitor.set_model(_Model())
    monitor.on_epoch_begin(0)
    for _ in range(3):
        monitor.on_train_batch_end(0, {"g_loss": 1.0})
    assert monitor.model.stop_training and saved[-1] == 3


def test_mirrored_strategy_runs_a_step():
    strategy = tf.distribute.MirroredStrategy(
        devices=["/cpu:0", "/cpu:1"],
        cross_device_ops=tf.distribute.ReductionToOneDevice(),
    )
    assert strategy.num_replicas_in_sync == 2
    config = tiny_config()
    with strategy.scope():
        gan = _gan(config, stage=2)
    batch = _batch(n=4)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    history = gan.fit(dataset, epochs=1, steps_per_epoch=2, verbose=0)
    assert all(math.isfinite(v[-1]) for v in history.history.values())
    assert gan.g_optimizer.iterations.numpy() == 2


def test_config_validation_rejects_bad_values():
    from attention_colorization.config import validate

    with pytest.raises(ValueError, match="mixed_precision"):
        validate(tiny_config(**{"train.mixed_precision": "fp8"}))
    with pytest.raises(ValueError, match="distribution"):
        validate(tiny_config(**{"train.distribution": "tpu"}))
    with pytest.raises(ValueError, match="image_size"):
        validate(tiny_config(**{"data.image_size": 30}))


def test_resume_with_other_architecture_is_refused(tmp_path):
    from attention_colorization import workdir

    workdir.save_config(tiny_config(), tmp_path)
    saved = workdir.load_config(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["model"]["width"] == 0.125
    with pytest.raises(ValueError, match="model.width"):
        workdir.check_compatible(saved, tiny_config(**{"model.width": 0.25}))


def test_checkpoint_restores_every_variable(tmp_path):
    """Trainable and non-trainable state (batch-norm statistics, spectral-norm
    vectors) of both models survives a save and restore into fresh models."""
    config = tiny_config()
    gan = _gan(config, stage=2)
    gan.train_step(_batch())  # Moves weights, BN statistics and optimizer slots.
    state = train_lib.TrainState()
    state.step.assign(7)
    ckpt = train_lib.make_checkpoint(
        gan.generator, gan.discriminator, gan.g_optimizer, gan.d_optimizer, state
    )
    path = ckpt.save(str(tmp_path / "ckpt"))

    fresh = _gan(config, stage=2)
    fresh_state = train_lib.TrainState()
    train_lib.make_checkpoint(
        fresh.generator,
        fresh.discriminator,
        fresh.g_optimizer,
        fresh.d_optimizer,
        fresh_state,
    ).restore(path).assert_consumed()
    for model, other in (
        (gan.generator, fresh.generator),
        (gan.discriminator, fresh.discriminator),
    ):
        non_trainable = [v for v in model.variables if not v.trainable]
        assert non_trainable  # BN statistics / spectral-norm vectors exist.
        for a, b in zip(model.variables, other.variables, strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert int(fresh_state.step.numpy()) == 7
    assert int(fresh.g_optimizer.iterations.numpy()) == 1


def test_clipnorm_clips_the_global_gradient_norm():
    config = tiny_config(**{"train.clipnorm": 1.0, "train.learning_rate": 1.0})
    optimizer = train_lib.make_optimizer(config.train, "float32")
    assert optimizer.global_clipnorm == 1.0
    var = keras.Variable(np.zeros(4, np.float32))
    optimizer.build([var])
    # A huge gradient moves Adam's first step by lr at most either way; the
    # clipped gradient is what enters the moments: m = (1 - beta_1) * g_clipped.
    optimizer.apply([tf.constant([300.0, 400.0, 0.0, 0.0])], [var])
    first_moment = optimizer.variables[2].numpy()  # m of var (after iterations, lr)
    np.testing.assert_allclose(
        np.linalg.norm(first_moment / (1 - config.train.beta_1)), 1.0, rtol=1e-5
    )
    unclipped = train_lib.make_optimizer(tiny_config().train, "float32")
    assert unclipped.global_clipnorm is None
