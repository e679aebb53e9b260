"""Tests of the network's layers: the Keras layer contract and the paper's equations."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops
from layer_test_case import run_layer_test

from attention_colorization import color
from attention_colorization.layers import (
    DatabaseColorModule,
    Decoder,
    FeatureExtractor,
    GateFusion,
    PatchDiscriminator,
    SemanticColorModule,
)
from attention_colorization.model import DEFAULT_QUERY_LAYERS

S = 32  # Model resolution of the tests.
G = S // 4  # Attention grid.
N = G * G
WIDTH = 0.125
BATCH = 2


def _softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def _pool(x, factor):
    """Average pooling of ``[B, H, W, C]`` by ``factor`` (numpy)."""
    b, h, w, c = x.shape
    return x.reshape(b, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def gray(rng):
    """Random-texture normalised L ``[B, S, S, 1]``: every position distinguishable."""
    return rng.uniform(-1.0, 1.0, (BATCH, S, S, 1)).astype(np.float32)


@pytest.fixture(scope="module")
def features(gray):
    keras.utils.set_random_seed(1)
    extractor = FeatureExtractor(WIDTH)
    return {k: v.numpy() for k, v in extractor(gray, training=False).items()}


def _query(features, gray):
    return [features[n] for n in DEFAULT_QUERY_LAYERS] + [gray]


# ----------------------------------------------------------------- F


def test_feature_extractor_contract(gray, tmp_path):
    c = FeatureExtractor(WIDTH).channels
    expected = {
        "conv1": (BATCH, S, S, c["conv1"]),
        "conv2": (BATCH, S // 2, S // 2, c["conv2"]),
        "conv3": (BATCH, S // 4, S // 4, c["conv3"]),
        "conv4": (BATCH, S // 8, S // 8, c["conv4"]),
        "conv5": (BATCH, S // 8, S // 8, c["conv5"]),
        "conv6": (BATCH, S // 8, S // 8, c["conv6"]),
        "conv7": (BATCH, S // 8, S // 8, c["conv7"]),
        "conv8": (BATCH, S // 4, S // 4, c["conv8"]),
    }
    run_layer_test(
        FeatureExtractor,
        {"width": WIDTH},
        gray,
        tmp_path,
        call_kwargs={"training": False},
        expected_output_shape=expected,
        # 8 blocks of 2-3 convs (kernel, bias) + BN (gamma, beta) + up8 + shortcut8.
        expected_num_trainable_weights=2 * (2 + 2 + 3 + 3 + 3 + 3 + 3 + 2) + 2 * 8 + 4,
        expected_num_non_trainable_weights=2 * 8,
    )


def test_feature_extractor_widths():
    assert FeatureExtractor(1.0).channels == {
        "conv1": 64,
        "conv2": 128,
        "conv3": 256,
        "conv4": 512,
        "conv5": 512,
        "conv6": 512,
        "conv7": 512,
        "conv8": 256,
    }
    assert FeatureExtractor(0.25).channels["conv4"] == 128
    assert set(FeatureExtractor(0.01).channels.values()) == {8}  # Rounded, min 8.


def test_feature_extractor_training_updates_batch_norm(gray):
    extractor = FeatureExtractor(WIDTH)
    extractor(gray, training=False)
    before = extractor.block8.norm.moving_mean.numpy().copy()
    extractor(gray, training=True)
    assert not np.allclose(before, extractor.block8.norm.moving_mean.numpy())


# ----------------------------------------------------------------- SCM


def _scm_inputs(features, gray, rng):
    ab = rng.uniform(-0.5, 0.5, (BATCH, S, S, 2)).astype(np.float32)
    return _query(features, gray), _query(features, gray[::-1]), ab


def test_semantic_color_contract(features, gray, rng, tmp_path):
    query, key, ab = _scm_inputs(features, gray, rng)
    key = [features[n][::-1] for n in DEFAULT_QUERY_LAYERS] + [gray[::-1]]
    outputs = run_layer_test(
        SemanticColorModule,
        {"grid_size": G, "tau": 0.01, "chunk_size": 16, "top_k": 4},
        (query, key, ab),
        tmp_path,
        expected_output_shape=((BATCH, G, G, 2), (BATCH, G, G, 1), (BATCH, G, G)),
        expected_num_trainable_weights=4,
    )
    color_r, _, match = outputs
    assert keras.backend.standardize_dtype(match.dtype) == "int32"
    assert np.all((match.numpy() >= 0) & (match.numpy() < N))
    # A convex combination of the reference colours stays in their range.
    pooled = _pool(ab, 4)
    assert color_r.numpy().min() >= pooled.min() - 1e-5
    assert color_r.numpy().max() <= pooled.max() + 1e-5


def test_semantic_color_matches_equation_1(features, gray, rng):
    """c_r = softmax(q.k / tau) . v with L2-normalised concatenated features."""
    query, key, ab = _scm_inputs(features, gray, rng)
    tau = 0.05
    scm = SemanticColorModule(G, tau=tau, chunk_size=16, top_k=3)
    color_r, _, match = scm(query, key, ab)

    def embed(maps):  # Numpy reference for maps at or above the grid resolution.
        parts = []
        for m in maps:
            m = _pool(m, m.shape[1] // G)  # [B, G, G, C]
            if m.shape[-1] > 1:
                m = m / np.linalg.norm(m, axis=-1, keepdims=True)
            parts.append(m)
        x = np.concatenate(parts, axis=-1)
        return (x / np.linalg.norm(x, axis=-1, keepdims=True)).reshape(BATCH, N, -1)

    # conv2 (S/2), conv3 (S/4) and L (S) are pooled: check the embedding on them.
    pooled_maps = [query[0], query[1], query[-1]]
    np.testing.assert_allclose(
        SemanticColorModule(G).embed(pooled_maps).numpy(), embed(pooled_maps), atol=1e-5
    )
    # conv4-7 are upsampled: take the layer's embedding and check the attention.
    q = scm.embed(query).numpy()
    k = scm.embed(key).numpy()
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-5)
    similarity = q @ k.transpose(0, 2, 1)  # [B, N, N]
    weights = _softmax(similarity / tau)
    expected = weights @ _pool(ab, 4).reshape(BATCH, N, 2)  # Eq. 1
    np.testing.assert_allclose(
        color_r.numpy().reshape(BATCH, N, 2), expected, atol=1e-5
    )
    np.testing.assert_array_equal(
        match.numpy().reshape(BATCH, N), similarity.argmax(-1)
    )


@pytest.mark.parametrize("loop", [True, False])
@pytest.mark.parametrize("chunk_size", [7, 16, 40])
def test_semantic_color_chunked_equals_plain(features, gray, rng, chunk_size, loop):
    query, key, ab = _scm_inputs(features, gray, rng)
    plain = SemanticColorModule(G, tau=0.01, chunk_size=N, top_k=4)
    expected = plain(query, key, ab)
    chunked = SemanticColorModule(G, tau=0.01, chunk_size=chunk_size, top_k=4)
    chunked(query, key, ab)
    chunked.set_weights(plain.get_weights())
    got = tf.function(lambda *a: chunked(*a, loop=loop))(query, key, ab)
    for a, b in zip(expected, got, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-5, rtol=1e-5)


def _largest_tensor(graph) -> int:
    """Elements of the largest static-shape tensor in a graph and its loop bodies."""
    sizes = [0]
    for op in graph.get_operations():
        sizes += [
            int(np.prod(out.shape.as_list()))
            for out in op.outputs
            if out.shape.rank is not None and None not in out.shape.as_list()
        ]
        if op.type in ("While", "StatelessWhile"):
            body = graph._get_function(op.get_attr("body").name).graph
            sizes.append(_largest_tensor(body))
    return max(sizes)


def _attention_graph(scm, dim):
    spec = tf.TensorSpec([1, N, dim], tf.float32)
    return (
        tf.function(scm.attend)
        .get_concrete_function(spec, spec, tf.TensorSpec([1, N, 2], tf.float32))
        .graph
    )


@pytest.mark.parametrize("chunk", [16, 20])
def test_semantic_color_memory_is_linear_in_chunk(chunk):
    """No tensor of the traced attention holds more than [B, chunk, N] values."""
    dim = 12
    graph = _attention_graph(SemanticColorModule(G, chunk_size=chunk, top_k=4), dim)
    # The [1, chunk, N] logits inside the loop, never [1, N, N].
    assert _largest_tensor(graph) == chunk * N
    assert any(op.type in ("While", "StatelessWhile") for op in graph.get_operations())
    plain = _attention_graph(SemanticColorModule(G, chunk_size=N, top_k=4), dim)
    assert _largest_tensor(plain) == N * N


def test_semantic_color_unrolled_attention_has_no_loop_op():
    scm = SemanticColorModule(G, chunk_size=16, top_k=4)
    spec = tf.TensorSpec([1, N, 12], tf.float32)
    graph = (
        tf.function(lambda q, k, v: scm.attend(q, k, v, loop=False))
        .get_concrete_function(spec, spec, tf.TensorSpec([1, N, 2], tf.float32))
        .graph
    )
    assert not any("While" in op.type for op in graph.get_operations())
    assert _largest_tensor(graph) == 16 * N


def test_semantic_color_self_reference_copies_colours(features, gray, rng):
    """With the target as its own reference, each position takes its own colour."""
    ab = rng.uniform(-0.6, 0.6, (BATCH, S, S, 2)).astype(np.float32)
    query = _query(features, gray)
    scm = SemanticColorModule(G, tau=0.01, chunk_size=16, top_k=4)
    color_r, _, match = scm(query, query, ab)
    close = np.abs(color_r.numpy() - _pool(ab, 4)).max(axis=-1) < 0.02  # [B, G, G]
    assert close.mean() > 0.9
    identity = np.arange(N).reshape(G, G)
    assert (match.numpy() == identity).mean() > 0.9


def test_semantic_color_match_follows_a_shift(rng):
    """A reference shifted by 2 grid cells is matched 2 cells over (index y*G + x)."""
    size = 64
    grid = size // 4
    keras.utils.set_random_seed(3)
    extractor = FeatureExtractor(WIDTH)
    target = rng.uniform(-1, 1, (1, size, size, 1)).astype(np.float32)
    reference = np.roll(target, 8, axis=2)  # 8 px = 2 cells to the right.
    ft, fr = extractor(target), extractor(reference)
    scm = SemanticColorModule(grid, tau=0.01, chunk_size=64, top_k=4)
    _, _, match = scm(
        [ft[n] for n in DEFAULT_QUERY_LAYERS] + [target],
        [fr[n] for n in DEFAULT_QUERY_LAYERS] + [reference],
        np.zeros((1, size, size, 2), np.float32),
    )
    yy, xx = np.mgrid[0:grid, 0:grid]
    expected = yy * grid + (xx + 2)  # [G, G]
    interior = slice(4, grid - 4)  # Away from the zero padding and the roll's seam.
    hits = match.numpy()[0][:, interior] == expected[:, interior]
    assert hits.mean() > 0.8


def test_semantic_color_rejects_bad_arguments():
    with pytest.raises(ValueError):
        SemanticColorModule(G, chunk_size=0)
    with pytest.raises(ValueError):
        SemanticColorModule(G, top_k=N + 1)


# ----------------------------------------------------------------- DCM


@pytest.fixture(scope="module")
def bins_net():
    return color.ab_bins() / color.AB_SCALE  # [313, 2]


def test_database_color_contract(features, rng, tmp_path):
    prior = rng.dirichlet(np.ones(313), size=BATCH).astype(np.float32)
    run_layer_test(
        DatabaseColorModule,
        {"confidence_units": 16},
        (features["conv8"], prior),
        tmp_path,
        expected_output_shape=((BATCH, G, G, 2), (BATCH, G, G, 1)),
        expected_num_trainable_weights=6,
    )


def test_database_color_uniform_prior_is_the_plain_classifier(features, bins_net):
    dcm = DatabaseColorModule()
    color_none, _ = dcm(features["conv8"])
    logits = dcm.classifier(features["conv8"]).numpy()  # [B, G, G, 313]
    expected = _softmax(logits) @ bins_net  # softmax(logits) . bins
    np.testing.assert_allclose(color_none.numpy(), expected, atol=1e-5)
    for scale in (1.0 / 313, 7.0):  # A uniform prior at any scale changes nothing.
        prior = np.full((BATCH, 313), scale, np.float32)
        color_u, _ = dcm(features["conv8"], prior)
        np.testing.assert_allclose(color_u.numpy(), expected, atol=1e-5)


def test_database_color_posterior_is_bayes(features, rng):
    """Eq. 2-3: posterior = prior * softmax(logits), normalised per pixel."""
    dcm = DatabaseColorModule()
    prior = rng.dirichlet(np.full(313, 0.3), size=BATCH).astype(np.float32)
    _, _, posterior = dcm(features["conv8"], prior, return_posterior=True)
    likelihood = _softmax(dcm.classifier(features["conv8"]).numpy())
    expected = prior[:, None, None, :] * likelihood
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(posterior.numpy(), expected, atol=1e-6, rtol=1e-4)


def test_database_color_without_likelihood_posterior_is_the_prior(features, rng):
    """likelihood=False: the posterior is the normalised prior, whatever F says."""
    dcm = DatabaseColorModule()
    dcm(features["conv8"])  # builds the classifier
    # A classifier with a strong opinion (a fresh one is near uniform).
    dcm.classifier.bias.assign(rng.normal(0.0, 3.0, 313).astype(np.float32))
    prior = rng.dirichlet(np.full(313, 0.3), size=(BATCH, G, G)).astype(np.float32)
    _, _, posterior = dcm(
        features["conv8"], 3.0 * prior, return_posterior=True, likelihood=False
    )
    np.testing.assert_allclose(posterior.numpy(), prior, atol=1e-6, rtol=1e-4)
    _, _, with_likelihood = dcm(features["conv8"], prior, return_posterior=True)
    assert np.abs(with_likelihood.numpy() - prior).max() > 0.1
    with pytest.raises(ValueError, match="needs a prior"):
        dcm(features["conv8"], likelihood=False)


@pytest.mark.parametrize("bin_index", [0, 150, 312])
def test_database_color_one_bin_prior_gives_that_colour(features, bins_net, bin_index):
    dcm = DatabaseColorModule()
    prior = np.zeros((BATCH, 313), np.float32)
    prior[:, bin_index] = 1.0  # Other bins clip to prior_floor.
    color_d, confidence = dcm(features["conv8"], prior)
    np.testing.assert_allclose(
        color_d.numpy(),
        np.broadcast_to(bins_net[bin_index], (BATCH, G, G, 2)),
        atol=1e-4,
    )
    assert np.all(np.isfinite(confidence.numpy()))


def test_database_color_rejects_wrong_bin_count():
    with pytest.raises(ValueError, match="313"):
        DatabaseColorModule(num_bins=256)


# ----------------------------------------------------------------- gate


def _sources(rng, m):
    colors = [rng.uniform(-1, 1, (BATCH, G, G, 2)).astype(np.float32) for _ in range(m)]
    logits = [rng.normal(0, 2, (BATCH, G, G, 1)).astype(np.float32) for _ in range(m)]
    return colors, logits


def test_gate_fusion_contract(rng, tmp_path):
    colors, logits = _sources(rng, 3)
    run_layer_test(
        GateFusion,
        {},
        (colors, logits),
        tmp_path,
        expected_output_shape=((BATCH, G, G, 2), (BATCH, G, G, 3)),
        expected_num_trainable_weights=0,
        float32_outputs=(1,),
    )


@pytest.mark.parametrize("num_sources", [1, 2, 4])
def test_gate_fusion_is_equation_5(rng, num_sources):
    colors, logits = _sources(rng, num_sources)
    fused, alpha = GateFusion()(colors, logits)
    np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, atol=1e-6)
    expected_alpha = _softmax(np.concatenate(logits, -1))
    np.testing.assert_allclose(alpha.numpy(), expected_alpha, atol=1e-6)
    expected = sum(
        expected_alpha[..., j : j + 1] * colors[j] for j in range(num_sources)
    )
    np.testing.assert_allclose(fused.numpy(), expected, atol=1e-6)


def test_gate_fusion_picks_the_confident_source(rng):
    colors, logits = _sources(rng, 3)
    logits[1] = logits[1] + 50.0
    fused, alpha = GateFusion()(colors, logits)
    np.testing.assert_allclose(fused.numpy(), colors[1], atol=1e-5)
    np.testing.assert_allclose(alpha.numpy()[..., 1], 1.0, atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_gate_fusion_keeps_alpha_float32_under_mixed_policies(rng, policy):
    colors, logits = _sources(rng, 3)
    fused, alpha = GateFusion(dtype=policy)(colors, logits)
    assert alpha.dtype == "float32"
    assert fused.dtype == keras.DTypePolicy(policy).compute_dtype
    np.testing.assert_allclose(alpha.numpy().sum(-1), 1.0, atol=1e-6)


def test_gate_fusion_needs_one_confidence_per_colour(rng):
    colors, logits = _sources(rng, 2)
    with pytest.raises(ValueError):
        GateFusion()(colors, logits[:1])


# ----------------------------------------------------------------- decoder


def test_decoder_contract(features, rng, tmp_path):
    fused = rng.uniform(-1, 1, (BATCH, G, G, 2)).astype(np.float32)
    skips = {n: features[n] for n in ("conv1", "conv2", "conv8")}
    outputs = run_layer_test(
        Decoder,
        {"width": WIDTH},
        (fused, skips),
        tmp_path,
        call_kwargs={"training": False},
        expected_output_shape=(BATCH, S, S, 2),
        # 5 gated convs (kernel, bias, gamma, beta) + the 1x1 output conv.
        expected_num_trainable_weights=5 * 4 + 2,
    )
    assert np.all(np.abs(outputs.numpy()) < 1.0)


def test_decoder_uses_the_fused_colour(features, rng):
    decoder = Decoder(WIDTH)
    skips = {n: features[n] for n in ("conv1", "conv2", "conv8")}
    zero = decoder(np.zeros((BATCH, G, G, 2), np.float32), skips, training=False)
    ones = decoder(np.ones((BATCH, G, G, 2), np.float32), skips, training=False)
    assert np.abs(zero.numpy() - ones.numpy()).max() > 1e-4


# ----------------------------------------------------------------- discriminator


@pytest.mark.parametrize("spectral_norm", [True, False])
def test_patch_discriminator_contract(rng, tmp_path, spectral_norm):
    lab = rng.uniform(-1, 1, (BATCH, S, S, 3)).astype(np.float32)
    run_layer_test(
        PatchDiscriminator,
        {"width": WIDTH, "spectral_norm": spectral_norm},
        lab,
        tmp_path,
        call_kwargs={"training": False},
        expected_output_shape=(BATCH, S // 8, S // 8, 1),
        expected_num_trainable_weights=10,
        expected_num_non_trainable_weights=5 if spectral_norm else 0,
    )


def test_patch_discriminator_spectral_norm_bounds_the_kernels(rng):
    # One power iteration a step: from a random u, 20 steps left |sigma - 1|
    # up to 0.10 on 2 of 30 seeds, 60 steps at most 0.036.
    keras.utils.set_random_seed(0)
    lab = rng.uniform(-1, 1, (BATCH, S, S, 3)).astype(np.float32)
    disc = PatchDiscriminator(WIDTH)
    disc(lab, training=False)
    for wrapper in disc.convs:  # Inflate the kernels, then train steps renormalise.
        wrapper.layer.kernel.assign(wrapper.layer.kernel * 50.0)
    for _ in range(60):
        disc(lab, training=True)
    for wrapper in disc.convs:
        kernel = ops.convert_to_numpy(wrapper.layer.kernel)
        sigma = np.linalg.svd(kernel.reshape(-1, kernel.shape[-1]), compute_uv=False)[0]
        assert sigma == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_patch_discriminator_spectral_norm_is_float32_under_mixed_policies(rng, policy):
    # Kernels of entries ~60: in float16 the power iteration's squared norms
    # overflow (sigma nan); in bfloat16 W / sigma is rounded to 8 bits.
    lab = rng.uniform(-1, 1, (BATCH, S, S, 3)).astype(np.float32)
    disc = PatchDiscriminator(WIDTH, dtype=policy)
    disc(lab, training=False)
    for wrapper in disc.convs:
        kernel = rng.normal(0, 60.0, wrapper.layer.kernel.shape).astype(np.float32)
        wrapper.layer.kernel.assign(kernel)
    expected = []
    for wrapper in disc.convs:  # One float32 power iteration from the stored u.
        w = ops.convert_to_numpy(wrapper.layer.kernel).reshape(
            -1, wrapper.kernel_shape[-1]
        )
        u = ops.convert_to_numpy(wrapper.vector_u)
        v = u @ w.T
        v /= np.linalg.norm(v)
        u = v @ w
        u /= np.linalg.norm(u)
        expected.append(w / (v @ w @ u.T))
    scores = disc(lab, training=True)
    assert np.isfinite(ops.convert_to_numpy(ops.cast(scores, "float32"))).all()
    for wrapper, want in zip(disc.convs, expected, strict=True):
        kernel = ops.convert_to_numpy(wrapper.layer.kernel).reshape(want.shape)
        np.testing.assert_allclose(kernel, want, rtol=1e-4, atol=1e-6)
