"""The Semantic Color Module (SCM): attention from the target to the reference."""

from __future__ import annotations

import keras
from keras import ops

from attention_colorization.layers.blocks import confidence_layers, resize_to_grid


@keras.saving.register_keras_serializable(package="attention_colorization")
class SemanticColorModule(keras.layers.Layer):
    """Transfers reference colours by attention over semantic features (Eq. 1).

    The algorithm, for a target T and a reference R encoded by the same F:

    1. Query ``q(x)`` and key ``k(i)``: every given feature map (six blocks of F
       and the normalised L channel) is resized to the attention grid G x G,
       each multi-channel map is L2-normalised over its channels (so that every
       block weighs the same, whatever its width), the maps are concatenated
       and the result is L2-normalised again. ``q`` comes from T, ``k`` from R.
    2. Similarity ``h(q(x), k(i)) = softmax_i(q(x) . k(i) / tau)`` over the
       ``N = G * G`` reference positions (the paper's ``1 / N^r`` normaliser of
       Eq. 1 becomes the softmax's).
    3. Colour ``c_r(x) = sum_i h(q(x), k(i)) v(i)`` with ``v`` the reference ab
       (normalised, ``ab / 110``) averaged down to G x G (Eq. 1).
    4. Confidence ``w_r(x)``: the top-k cosine similarities of ``q(x)`` pass
       through two Dense layers to one logit (the paper's "semantic
       correspondence through a fully connected layer"); the gate (Eq. 5)
       turns it into a fusion weight.
    5. The best match ``argmax_i q(x) . k(i)`` (flattened ``y * G + x``) is
       returned for visualisation.

    Steps 2-5 run over chunks of ``chunk_size`` queries, one chunk at a time
    (see :meth:`attend`), so at most one ``[B, chunk_size, N]`` logits matrix
    and its softmax exist at a time in the forward pass: memory O(N * chunk),
    not O(N^2). Everything in
    steps 1-5 is computed in float32 whatever the precision policy; the colour
    and the confidence are returned in the compute dtype.

    Args:
        grid_size: G, the side of the attention grid (model resolution / 4).
        tau: softmax temperature (paper 0.01).
        chunk_size: queries per attention chunk.
        top_k: cosine similarities per query feeding the confidence.
        confidence_units: hidden units of the confidence MLP.
        **kwargs: passed to ``keras.layers.Layer``.

    Call arguments:
        query_features: list of the target's maps ``[B, h_j, w_j, C_j]`` (any
            resolutions; the same layers as ``key_features``), or their
            embedding ``[B, G * G, D]`` from :meth:`embed` (so that a target
            met with K references is embedded once).
        key_features: list of the reference's maps, same channels as
            ``query_features`` (spatial sizes may differ).
        reference_ab: normalised reference ab ``[B, H_r, W_r, 2]`` (any size that
            resizes to the grid; usually the model resolution S).
        loop: whether the chunks run in a loop op (default) or unrolled (see
            :meth:`attend`).

    Returns:
        A tuple ``(color, confidence, match)``: ``color [B, G, G, 2]`` (normalised
        ab), ``confidence [B, G, G, 1]`` (a logit), ``match [B, G, G]`` int32.

    References:
        Yin et al., "Yes, 'Attention Is All You Need', for Exemplar based
        Colorization", ACM MM 2021, Sec. 3.1 (Eq. 1) and 3.2.1.
    """

    def __init__(
        self,
        grid_size,
        tau=0.01,
        chunk_size=1024,
        top_k=8,
        confidence_units=32,
        **kwargs,
    ):
        # No input autocasting: an embedded query ([B, N, D] float32) must not
        # be rounded to a bfloat16/float16 compute dtype (logits scale by
        # 1 / tau); every input is cast by the module itself.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        if top_k < 1 or top_k > grid_size * grid_size:
            raise ValueError(f"top_k must be in [1, {grid_size**2}], got {top_k}")
        self.grid_size = grid_size
        self.tau = tau
        self.chunk_size = chunk_size
        self.top_k = top_k
        self.confidence_units = confidence_units
        self.confidence_hidden, self.confidence_out = confidence_layers(
            confidence_units, self.dtype_policy
        )

    def build(
        self, query_features_shape, key_features_shape=None, reference_ab_shape=None
    ):
        self.confidence_hidden.build((None, self.grid_size, self.grid_size, self.top_k))
        self.confidence_out.build(
            (None, self.grid_size, self.grid_size, self.confidence_units)
        )
        self.built = True

    def embed(self, features):
        """Builds queries or keys ``[B, N, D]`` (float32, unit norm) from maps.

        Args:
            features: list of maps ``[B, h_j, w_j, C_j]``.

        Returns:
            ``[B, G * G, sum_j C_j]`` float32, L2-normalised over the last axis.
        """
        parts = []
        for feature in features:
            x = ops.cast(feature, "float32")  # [B, h_j, w_j, C_j]
            x = resize_to_grid(x, self.grid_size)  # [B, G, G, C_j]
            if x.shape[-1] > 1:
                x = _l2_normalize(x)
            parts.append(x)
        x = _l2_normalize(ops.concatenate(parts, axis=-1))  # [B, G, G, D]
        return ops.reshape(x, (-1, self.grid_size * self.grid_size, x.shape[-1]))

    def attend(self, query, key, value, loop=True):
        """Chunked attention: colours, top-k similarities and best matches.

        Full chunks of ``chunk_size`` queries run one after another in a loop
        (``keras.ops.scan``, one iteration at a time), so a single
        ``[B, chunk_size, N]`` logits matrix and its softmax exist at once; a
        last, shorter chunk (when ``chunk_size`` does not divide ``N_q``) runs
        after it. The key is never transposed: the products are einsums.

        Args:
            query: ``[B, N_q, D]`` float32, unit norm.
            key: ``[B, N, D]`` float32, unit norm.
            value: ``[B, N, 2]`` float32.
            loop: ``False`` unrolls the chunks into the graph instead of a
                loop: the same result, with no loop op (TFLite's int8
                calibration cannot run a WHILE op), but the graph runtime may
                then run several chunks at once.

        Returns:
            ``color [B, N_q, 2]``, ``top_similarities [B, N_q, top_k]`` (float32)
            and ``match [B, N_q]`` int32.
        """
        num_queries = query.shape[1]
        size = min(self.chunk_size, num_queries)
        num_full = num_queries // size

        def one_chunk(q):  # q: [B, C, D]
            # Logits q . k / tau, the temperature applied to the C x D queries
            # (no extra pass over C x N); the row max comes from top-k.
            logits = ops.einsum("bcd,bnd->bcn", q * (1.0 / self.tau), key)
            top, index = ops.top_k(logits, self.top_k, sorted=True)  # [B, C, k]
            # Eq. 1 with h = softmax(q . k / tau); top[..., :1] is the row max.
            weights = ops.exp(logits - top[..., :1])  # [B, C, N]
            color = ops.einsum("bcn,bnv->bcv", weights, value)  # [B, C, 2]
            color = color / ops.sum(weights, axis=-1, keepdims=True)
            # Cosines of the k best matches; the first is the best match (top-k
            # puts the lowest index first among ties, as argmax does).
            return color, top * self.tau, ops.cast(index[..., 0], "int32")

        if num_full == 1 or not loop:
            outputs = [
                one_chunk(query[:, i * size : (i + 1) * size]) for i in range(num_full)
            ]
        else:
            batch, dim = ops.shape(query)[0], query.shape[2]

            # scan's carry doubles as the chunk's output: the TF backend builds
            # its stacked outputs after the carry's structure, shapes and dtypes.
            init = (
                ops.zeros((batch, size, 2), "float32"),
                ops.zeros((batch, size, self.top_k), "float32"),
                ops.zeros((batch, size), "int32"),
            )

            def step(_, index):
                q = ops.slice(query, (0, index * size, 0), (batch, size, dim))
                out = one_chunk(q)
                return out, out

            _, stacked = ops.scan(
                step, init, ops.arange(num_full, dtype="int32")
            )  # each [F, B, C, ...], F = num_full
            outputs = [tuple(_unchunk(x) for x in stacked)]  # each [B, F * C, ...]
        if num_full * size < num_queries:
            outputs.append(one_chunk(query[:, num_full * size :]))
        if len(outputs) == 1:
            return tuple(outputs[0])
        return tuple(
            ops.concatenate(parts, axis=1) for parts in zip(*outputs, strict=True)
        )

    def call(self, query_features, key_features, reference_ab, loop=True):
        g = self.grid_size
        if isinstance(query_features, (list, tuple)):
            query = self.embed(query_features)  # [B, N, D]
        else:
            query = ops.cast(query_features, "float32")  # embedded: [B, N, D]
        key = self.embed(key_features)  # [B, N, D]
        value = resize_to_grid(ops.cast(reference_ab, "float32"), g)  # [B, G, G, 2]
        value = ops.reshape(value, (-1, g * g, 2))  # [B, N, 2]
        color, top, match = self.attend(query, key, value, loop=loop)
        color = ops.reshape(color, (-1, g, g, 2))  # [B, G, G, 2]
        top = ops.reshape(top, (-1, g, g, self.top_k))  # [B, G, G, k]
        match = ops.reshape(match, (-1, g, g))  # [B, G, G]
        hidden = self.confidence_hidden(ops.cast(top, self.compute_dtype))
        confidence = self.confidence_out(hidden)  # [B, G, G, 1]
        return ops.cast(color, self.compute_dtype), confidence, match

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "grid_size": self.grid_size,
                "tau": self.tau,
                "chunk_size": self.chunk_size,
                "top_k": self.top_k,
                "confidence_units": self.confidence_units,
            }
        )
        return config


def _l2_normalize(x, epsilon=1e-6):
    """``x / max(|x|, epsilon)`` over the last axis (float32 in, float32 out)."""
    norm = ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))
    return x / ops.maximum(norm, epsilon)


def _unchunk(x):
    """``[F, B, C, ...]`` (scan's stacked chunks) to ``[B, F * C, ...]``."""
    x = ops.moveaxis(x, 0, 1)  # [B, F, C, ...]
    return ops.reshape(x, (-1, x.shape[1] * x.shape[2]) + tuple(x.shape[3:]))
