"""The network's forward pass with XNNPACK ops only, for the TFLite mobile graph.

    ab = forward(generator, lightness, ref_lab, ref_hist)  # [1, S, S, 2], ab / 110

The same function as ``generator(..., stage=2, training=False)["ab"]`` for one
reference (equal within float rounding; ``tests/test_export.py`` checks it),
written with the TFLite builtins that LiteRT's CPU delegate (XNNPACK) runs, so
that the delegated graph is one partition instead of a dozen. Each part of the
generator that would bring in another op is restated here; every weighted layer
(F, the matching backbone, the Dense/Conv layers of the SCM, DCM and decoder)
is the generator's own:

=============================  ======================  ===========================
generator                      TFLite op it becomes    here
=============================  ======================  ===========================
SCM row max and top-k          ``TOPK_V2``             :func:`top_k_values`
                                                       (``REDUCE_MAX`` rounds on the
                                                       k best blocks); the
                                                       softmax is ``SOFTMAX``
SCM chunk loop                 ``WHILE``               chunks unrolled
matcher's gray sRGB of L       ``POW``, ``GREATER``,   :func:`lightness_to_gray_rgb`
                               ``SELECT``              (``EXP``/``LOG``, a
                                                       ``CEIL`` step)
DCM ``log_softmax``            ``LOG_SOFTMAX``         ``softmax(logits + log p)``
gate ``stack``                 ``PACK``                a sum of slices
decoder nearest x2             ``TILE``                :func:`upsample_nearest`
                                                       (``DEPTH_TO_SPACE``)
joint bilateral upsampling     ``TILE``                :func:`upsample_nearest`
                                                       twice
concat of > 4 tensors          ``CONCATENATION``       :func:`concat`: a tree of
                               (XNNPACK: <= 4 inputs)  4-input ones
batch split by ``tf.shape``    dynamic slices          static slices
=============================  ======================  ===========================

The colour conversion and the reference histogram are not in this graph: the
app computes them (:mod:`attention_colorization.export.mobile_reference`).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from attention_colorization import color
from attention_colorization.layers.blocks import resize_to_grid
from attention_colorization.layers.joint_bilateral import joint_bilateral_upsample

# TFLite ops that LiteRT's XNNPACK delegate does not take (measured with
# ai-edge-litert 2.3): each one left in a graph splits it into more partitions.
NON_XNNPACK_OPS = (
    "POW",
    "UNSORTED_SEGMENT_SUM",
    "TOPK_V2",
    "WHILE",
    "LOG_SOFTMAX",
    "GREATER",
    "GREATER_EQUAL",
    "SELECT",
    "SELECT_V2",
    "CAST",
    "TILE",
    "PACK",
    "UNPACK",
    "ARG_MAX",
    "CUMSUM",
    "RESIZE_NEAREST_NEIGHBOR",
)
# Name scopes of the restated parts and the matcher (tensor names in the TFLite
# file start with them; all begin with SCOPE_PREFIX): the int8 export keeps them
# in float, and quantises F and the decoder.
SCOPE_PREFIX = "mobile_"
INPUT_SCOPE = "mobile_inputs"  # L, Lab and the histogram to network units
OUTPUT_SCOPE = "mobile_output"  # the decoder's last sum, tanh or clip; Lab units
GRAY_SCOPE = "mobile_gray"  # the matcher's gray sRGB of L
MATCHER_SCOPE = "mobile_matcher"  # the pretrained matching backbone
COLOR_SCOPE = "mobile_color"  # the uint8 interface's colour work (saved_model)
EMBED_SCOPE = "mobile_embed"  # SCM queries and keys: resize, L2 norms
ATTENTION_SCOPE = "mobile_attention"  # SCM logits, softmax, colour, top-k
DCM_SCOPE = "mobile_dcm"  # DCM posterior, colour, peak and entropy
GATE_SCOPE = "mobile_gate"  # the gate's softmax and fused colour


# ----------------------------------------------------------- elementwise ops


def step(x: tf.Tensor) -> tf.Tensor:
    """``1.0`` where ``x > 0``, else ``0.0`` (exactly), from RELU, CEIL and MINIMUM."""
    return tf.minimum(tf.math.ceil(tf.nn.relu(x)), 1.0)


def power(x: tf.Tensor, exponent: float) -> tf.Tensor:
    """``x ** exponent`` for ``x > 0`` as ``exp(exponent * log(x))`` (no POW)."""
    return tf.exp(exponent * tf.math.log(x))


def lightness_to_gray_rgb(lightness: tf.Tensor) -> tf.Tensor:
    """:func:`attention_colorization.color.lightness_to_gray_rgb` without POW or SELECT.

    Args:
        lightness: L ``[..., 1]`` in [0, 100], float32.

    Returns:
        The sRGB gray of that lightness ``[..., 3]`` in [0, 1].
    """
    fy = (lightness + 16.0) / 116.0
    linear = (fy - 16.0 / 116.0) / color._LAB_KAPPA  # noqa: SLF001
    cube = fy * fy * fy
    luminance = linear + step(fy - color._LAB_DELTA) * (cube - linear)  # noqa: SLF001
    luminance = tf.clip_by_value(luminance, 0.0, 1.0)
    threshold = color._LINEAR_THRESHOLD  # noqa: SLF001
    gamma = 1.055 * power(tf.maximum(luminance, threshold), 1.0 / 2.4) - 0.055
    low = 12.92 * luminance
    gray = low + step(luminance - threshold) * (gamma - low)
    return tf.concat([gray, gray, gray], axis=-1)


def upsample_nearest(x: tf.Tensor) -> tf.Tensor:
    """Nearest-neighbour x2 ``[B, H, W, C]`` -> ``[B, 2H, 2W, C]`` (DEPTH_TO_SPACE)."""
    return tf.nn.depth_to_space(tf.concat([x, x, x, x], axis=-1), 2)


# --------------------------------------------------------------------- top-k


def concat(tensors: list, axis: int) -> tf.Tensor:
    """``tf.concat`` as a tree of CONCATENATIONs of at most 4 inputs (XNNPACK's limit)."""
    tensors = list(tensors)
    while len(tensors) > 1:
        groups = [tensors[i : i + 4] for i in range(0, len(tensors), 4)]
        tensors = [tf.concat(g, axis) if len(g) > 1 else g[0] for g in groups]
    return tensors[0]


def _equal_to_max(m: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """``1.0`` where ``x == m``, else ``0.0``, for ``x <= m`` (exact; CEIL, SUB, RELU)."""
    return tf.nn.relu(1.0 - tf.math.ceil(m - x))


def _top_k_rounds(x: tf.Tensor, k: int, bound: float) -> tf.Tensor:
    """:func:`top_k_values` by ``k`` rounds over the whole of ``x [R, N]``."""
    big = 4.0 * bound  # a masked entry (x - big) lies below every other
    maxima, counts = [], []
    for j in range(k):
        m = tf.reduce_max(x, axis=-1, keepdims=True)  # [R, 1]
        maxima.append(m)
        if j == k - 1:
            break
        tied = _equal_to_max(m, x)  # [R, N]
        counts.append(tf.reduce_sum(tied, axis=-1, keepdims=True))  # [R, 1]
        x = x - big * tied
    # Slot t holds m_j for c_1 + ... + c_{j-1} <= t < c_1 + ... + c_j.
    slots = tf.range(k, dtype=tf.float32)  # [k]
    total = tf.zeros_like(maxima[0])  # c_1 + ... + c_j, [R, 1]
    reached = tf.ones_like(slots) + total  # [t >= c_1 + ... + c_{j-1}], [R, k]
    values = tf.zeros_like(reached)
    for j in range(k):
        if j < k - 1:
            total = total + counts[j]
            after = tf.minimum(tf.nn.relu(slots - total + 1.0), 1.0)  # [t >= total]
        else:
            after = tf.zeros_like(reached)
        values = values + maxima[j] * (reached - after)  # one j per slot
        reached = after
    return values


def _best_blocks(x: tf.Tensor, k: int, block: int, bound: float) -> tf.Tensor:
    """The ``k`` blocks of ``x [R, N]`` with the largest maxima -> ``[R, k * block]``.

    ``x``'s row splits into ``nb = N / block`` strided blocks (block ``j``:
    entries ``j, j + nb, j + 2 nb, ...``, so that the block maxima are a
    REDUCE_MAX across rows of ``nb``, which XNNPACK vectorises). Every entry of the row's top
    ``k`` lies in those ``k`` blocks, or equals one of their maxima (an entry
    of another block has ``k`` block maxima at least as large), so their
    top ``k`` is the row's. Each round picks the block of the largest
    remaining maximum (the first such block: the largest of ``tied * (nb -
    index)``) as a one-hot row; one BATCH_MATMUL of the one-hot rows with the
    blocks gathers them exactly (products with 0 and 1).
    """
    rows, n = x.shape
    num_blocks = n // block
    blocks = tf.reshape(x, (rows, block, num_blocks))  # [R, b, nb]
    maxima = tf.reduce_max(blocks, axis=1)  # [R, nb]
    rank = tf.constant(np.arange(num_blocks, 0, -1), tf.float32)  # nb - index
    big = 4.0 * bound
    picks = []
    for j in range(k):
        m = tf.reduce_max(maxima, axis=-1, keepdims=True)  # [R, 1]
        score = _equal_to_max(m, maxima) * rank  # [R, nb]: tied blocks > 0
        first = tf.reduce_max(score, axis=-1, keepdims=True)
        pick = _equal_to_max(first, score)  # [R, nb], one 1
        picks.append(tf.reshape(pick, (rows, 1, num_blocks)))
        if j < k - 1:
            maxima = maxima - big * pick
    chosen = tf.matmul(concat(picks, axis=1), blocks, transpose_b=True)  # [R, k, b]
    return tf.reshape(chosen, (rows, k * block))


def block_size(n: int, k: int) -> int:
    """The block of :func:`_best_blocks` for rows of ``n`` (1: no blocks).

    The cost model counts elementwise passes: about 14 per block maximum
    and round, 8 per candidate and round, ``k / 4`` per entry for the gather,
    against 8 per entry and round without blocks.
    """
    best, cost = 1, 8.0 * n * k
    for b in range(2, n // k + 1):
        if n % b == 0:
            c = 14.0 * k * (n // b) + 8.0 * k * k * b + k * n / 4.0 + n
            if c < cost:
                best, cost = b, c
    return best


def top_k_values(
    x: tf.Tensor, k: int, bound: float, block: int | None = None
) -> tf.Tensor:
    """``tf.math.top_k(x, k).values`` (sorted, ties repeated) without TOPK_V2.

    ``k`` rounds of: the row maximum ``m_j`` (REDUCE_MAX), how many entries
    equal it (``c_j``), and those entries masked below every other. Slot ``t``
    of the result is ``m_j`` for ``c_1 + ... + c_{j-1} <= t < c_1 + ... + c_j``,
    so repeated values (e.g. a flat reference) come out as ``top_k`` gives
    them. For long rows the rounds run on the ``k`` blocks with the largest
    maxima only (:func:`_best_blocks`). Every step is exact in float
    arithmetic (comparisons by CEIL of a difference, selections by products
    with 0 or 1): the result equals ``top_k``'s bit for bit.

    Args:
        x: ``[..., N]`` float32 with a static shape and ``|x| <= bound``;
            ``N >= k``.
        k: values per row.
        bound: a bound on ``|x|`` (masked entries go ``4 * bound`` down; small,
            so that float16 inference would not overflow).
        block: the block size (a divisor of N with ``N / block >= k``; 1: no
            blocks); default :func:`block_size`.

    Returns:
        ``[..., k]``, each row in decreasing order.
    """
    shape = x.shape.as_list()
    n = shape[-1]
    rows = int(np.prod(shape[:-1]))
    x = tf.reshape(x, (rows, n))
    block = block_size(n, k) if block is None else int(block)
    if block > 1:
        if n % block or n // block < k:
            raise ValueError(f"block {block} must divide {n} at least {k} times")
        x = _best_blocks(x, k, block, bound)
    return tf.reshape(_top_k_rounds(x, k, bound), shape[:-1] + [k])


# ----------------------------------------------------------------- the SCM


def attend(query, key, value, tau: float, top_k: int, chunk_size: int):
    """``SemanticColorModule.attend`` (colours and top-k cosines), unrolled, no TOPK_V2.

    Args:
        query: ``[B, N_q, D]`` float32, unit norm.
        key: ``[B, N, D]`` float32, unit norm.
        value: ``[B, N, 2]`` float32.
        tau: the softmax temperature.
        top_k: similarities per query.
        chunk_size: queries per chunk (as the model chunks them).

    Returns:
        ``color [B, N_q, 2]`` and ``top_similarities [B, N_q, top_k]``.
    """
    num_queries = query.shape[1]
    size = min(chunk_size, num_queries)
    colors, tops = [], []
    for start in range(0, num_queries, size):
        q = query[:, start : start + size]  # [B, C, D]
        logits = tf.matmul(q * (1.0 / tau), key, transpose_b=True)  # [B, C, N]
        weights = tf.nn.softmax(logits, axis=-1)  # Eq. 1's h
        colors.append(tf.matmul(weights, value))  # [B, C, 2]
        # |logits| <= 1 / tau (unit vectors), 2 / tau with rounding to spare.
        tops.append(top_k_values(logits, top_k, 2.0 / tau) * tau)  # [B, C, k]
    if len(colors) == 1:
        return colors[0], tops[0]
    return concat(colors, axis=1), concat(tops, axis=1)


def embed(scm, features):
    """``SemanticColorModule.embed`` with :func:`concat` (any number of maps).

    Args:
        scm: the generator's :class:`SemanticColorModule`.
        features: list of maps ``[B, h_j, w_j, C_j]``.

    Returns:
        ``[B, G * G, sum_j C_j]`` float32, unit norm over the last axis.
    """
    g = scm.grid_size
    with tf.name_scope(EMBED_SCOPE):
        parts = []
        for feature in features:
            x = resize_to_grid(tf.cast(feature, tf.float32), g)  # [B, G, G, C_j]
            parts.append(_l2_normalize(x) if x.shape[-1] > 1 else x)
        x = _l2_normalize(concat(parts, axis=-1))  # [B, G, G, D]
        return tf.reshape(x, (-1, g * g, x.shape[-1]))


def _l2_normalize(x, epsilon=1e-6):
    """``x / max(|x|, epsilon)`` over the last axis (the SCM's)."""
    norm = tf.sqrt(tf.reduce_sum(tf.square(x), axis=-1, keepdims=True))
    return x / tf.maximum(norm, epsilon)


def semantic_color(scm, query, key_features, reference_ab):
    """``SemanticColorModule.call`` for an embedded query, without its ``match``.

    Args:
        scm: the generator's :class:`SemanticColorModule`.
        query: the target's embedding ``[B, G * G, D]`` (:func:`embed`).
        key_features: the reference's maps (the list :func:`embed` takes).
        reference_ab: normalised ab ``[B, S, S, 2]``.

    Returns:
        ``color [B, G, G, 2]`` and confidence logit ``[B, G, G, 1]``.
    """
    g = scm.grid_size
    key = embed(scm, key_features)  # [B, N, D]
    with tf.name_scope(ATTENTION_SCOPE):
        value = resize_to_grid(tf.cast(reference_ab, tf.float32), g)  # [B, G, G, 2]
        value = tf.reshape(value, (-1, g * g, 2))  # [B, N, 2]
        query = tf.cast(query, tf.float32)
        color_r, top = attend(query, key, value, scm.tau, scm.top_k, scm.chunk_size)
    color_r = tf.reshape(color_r, (-1, g, g, 2))
    top = tf.reshape(top, (-1, g, g, scm.top_k))
    hidden = scm.confidence_hidden(tf.cast(top, scm.compute_dtype))
    confidence = scm.confidence_out(hidden)  # [B, G, G, 1]
    return tf.cast(color_r, scm.compute_dtype), confidence


# ------------------------------------------------------------ DCM and gate


def database_color(dcm, features, prior):
    """``DatabaseColorModule.call`` with the posterior as one SOFTMAX.

    ``softmax(log_softmax(z) + log p) = softmax(z + log p)``: the
    per-pixel constant that ``log_softmax`` subtracts cancels.

    Args:
        dcm: the generator's :class:`DatabaseColorModule`.
        features: block 8 of F ``[B, G, G, C]``.
        prior: the reference histogram ``[B, Q]``.

    Returns:
        ``color [B, G, G, 2]`` and confidence logit ``[B, G, G, 1]``.
    """
    logits = tf.cast(dcm.classifier(features), tf.float32)  # [B, G, G, Q]
    with tf.name_scope(DCM_SCOPE):
        prior = tf.maximum(tf.cast(prior, tf.float32), dcm.prior_floor)  # [B, Q]
        log_prior = tf.math.log(prior)[:, None, None, :]  # [B, 1, 1, Q]
        posterior = tf.nn.softmax(logits + log_prior, axis=-1)  # Eq. 3
        q = posterior.shape[-1]
        bins = tf.constant(dcm._bins, tf.float32)  # noqa: SLF001 ([Q, 2], ab / 110)
        spatial = posterior.shape[1:-1].as_list()  # static: no SHAPE ops
        color_d = tf.reshape(
            tf.matmul(tf.reshape(posterior, (-1, q)), bins), [-1, *spatial, 2]
        )  # Eq. 4: [B, G, G, 2]
        peak = tf.reduce_max(posterior, axis=-1, keepdims=True)
        entropy = -tf.reduce_sum(
            posterior * tf.math.log(tf.maximum(posterior, 1e-12)),
            axis=-1,
            keepdims=True,
        ) / math.log(dcm.num_bins)
        stats = tf.cast(tf.concat([peak, entropy], axis=-1), dcm.compute_dtype)
    hidden = dcm.confidence_hidden(tf.concat([features, stats], axis=-1))
    return tf.cast(color_d, dcm.compute_dtype), dcm.confidence_out(hidden)


def gate(colors, confidences):
    """``GateFusion``'s fused colour (Eq. 5) without PACK.

    Args:
        colors: M colours ``[B, G, G, 2]``.
        confidences: M logits ``[B, G, G, 1]``.

    Returns:
        ``c'`` ``[B, G, G, 2]`` float32.
    """
    with tf.name_scope(GATE_SCOPE):
        logits = tf.concat([tf.cast(w, tf.float32) for w in confidences], axis=-1)
        alpha = tf.nn.softmax(logits, axis=-1)  # [B, G, G, M]
        fused = 0.0
        for j, c in enumerate(colors):
            fused = fused + alpha[..., j : j + 1] * tf.cast(c, tf.float32)
        return fused


# ----------------------------------------------------------------- decoder


def _gated_conv(block, x):
    """``GatedConv.call`` (inference) with :func:`upsample_nearest`."""
    if block.up is not None:
        x = upsample_nearest(x)
    x = block.norm(block.conv(x), training=False)
    a, b = tf.split(x, 2, axis=-1)
    return a * tf.sigmoid(b)


def _upsample_by(x: tf.Tensor, factor: int) -> tf.Tensor:
    """Nearest x ``factor`` (a power of 2) by :func:`upsample_nearest` rounds."""
    if factor & (factor - 1):
        raise ValueError(f"the mobile graph upsamples by powers of 2, not {factor}")
    while factor > 1:
        x, factor = upsample_nearest(x), factor // 2
    return x


def decoder(dec, color_fused, features, guide=None):
    """``Decoder.call`` (inference) without TILE.

    Args:
        dec: the generator's :class:`Decoder`.
        color_fused: ``c'`` ``[B, G, G, 2]``.
        features: F's dict (``conv1``, ``conv2``, ``conv8``).
        guide: the target's L ``[B, S, S, 1]`` (joint bilateral upsampling).

    Returns:
        Normalised ab ``[B, S, S, 2]`` float32.
    """
    color_fused = tf.cast(color_fused, dec.compute_dtype)
    x = tf.concat([color_fused, features["conv8"]], axis=-1)
    x = _gated_conv(dec.joint, x)
    x = _gated_conv(dec.up_mid, x)
    x = _gated_conv(dec.merge_mid, tf.concat([x, features["conv2"]], axis=-1))
    x = _gated_conv(dec.up_fine, x)
    x = _gated_conv(dec.merge_fine, tf.concat([x, features["conv1"]], axis=-1))
    out = tf.cast(dec.to_ab(x), tf.float32)  # [B, S, S, 2]
    with tf.name_scope(OUTPUT_SCOPE):
        if not dec.residual:
            return tf.tanh(out)
        if dec.upsampler is not None:
            up = dec.upsampler
            base = joint_bilateral_upsample(
                color_fused,
                guide,
                up.sigma_range,
                up.sigma_spatial,
                up.radius,
                upsample=_upsample_by,
            )
        else:
            base = tf.image.resize(tf.cast(color_fused, tf.float32), out.shape[1:3])
        return tf.clip_by_value(base + out, -1.0, 1.0)


# ----------------------------------------------------------------- forward


def _matcher_maps(matcher, l_net):
    """``PretrainedMatchingFeatures.call`` (inference) with :func:`lightness_to_gray_rgb`."""
    with tf.name_scope(GRAY_SCOPE):
        rgb = lightness_to_gray_rgb(color.net_to_l(tf.cast(l_net, tf.float32)))
        rgb = tf.cast(rgb * 255.0, matcher.compute_dtype)  # [B, H, W, 3], 0-255
    with tf.name_scope(MATCHER_SCOPE):
        endpoints = matcher.backbone(rgb, training=False)
        return [endpoints[f"stride{s}"] for s in matcher.strides]


def forward(generator, lightness, ref_lab, ref_hist, hist_floor: float = 0.0):
    """The generator's stage-2 inference for one reference, with XNNPACK ops only.

    Args:
        generator: a built :class:`attention_colorization.model.Generator`.
        lightness: the target's L ``[B, S, S, 1]`` in [0, 100] (static shape).
        ref_lab: the reference's Lab ``[B, S, S, 3]`` (Lab units).
        ref_hist: the reference histogram ``[B, Q]``.
        hist_floor: added to every bin of ``ref_hist`` before renormalising
            (as the data pipeline makes R_H; 0: ``ref_hist`` is R_H).

    Returns:
        Normalised ab ``[B, S, S, 2]`` float32, the generator's ``"ab"``.
    """
    dtype = generator.compute_dtype
    batch = lightness.shape[0]
    if batch is None:
        raise ValueError("the mobile graph needs a static batch size")
    with tf.name_scope(INPUT_SCOPE):
        l_net = tf.cast(color.l_to_net(tf.cast(lightness, tf.float32)), dtype)
        ref_lab = tf.cast(ref_lab, tf.float32)
        ref_l = tf.cast(color.l_to_net(ref_lab[..., :1]), dtype)  # [B, S, S, 1]
        ref_ab = tf.cast(color.ab_to_net(ref_lab[..., 1:]), dtype)  # [B, S, S, 2]
        ref_hist = tf.cast(ref_hist, tf.float32)
        if hist_floor:
            ref_hist = ref_hist + hist_floor
            ref_hist = ref_hist / tf.reduce_sum(ref_hist, axis=-1, keepdims=True)
    joint = generator.feature_extractor(
        tf.concat([l_net, ref_l], axis=0), training=False
    )
    features = {n: f[:batch] for n, f in joint.items()}
    ref_features = {n: f[batch:] for n, f in joint.items()}
    if generator.matcher is None:
        queries = [features[n] for n in generator.query_layers] + [l_net]
        keys = [ref_features[n] for n in generator.query_layers] + [ref_l]
    else:
        maps = _matcher_maps(generator.matcher, tf.concat([l_net, ref_l], axis=0))
        queries = [m[:batch] for m in maps] + [l_net]
        keys = [m[batch:] for m in maps] + [ref_l]
    scm = generator.semantic_color
    query = embed(scm, queries)  # [B, N, D]
    c_r, w_r = semantic_color(scm, query, keys, ref_ab)  # Eq. 1
    c_d, w_d = database_color(generator.database_color, features["conv8"], ref_hist)
    fused = gate([c_r, c_d], [w_r, w_d])  # Eq. 5
    return decoder(generator.decoder, fused, features, tf.cast(lightness, tf.float32))
