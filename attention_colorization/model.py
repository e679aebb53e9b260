"""The generator (F, SCM, DCM, gate, decoder) and the discriminator, built from a config.

    generator = build_generator(config)
    out = generator({"l": l, "ref_lab": ref_lab, "ref_hist": ref_hist}, stage=2)
    out["ab"]  # [B, S, S, 2], ab / 110

See :class:`Generator` for the inputs and outputs, SPEC.md ("Network") for the
design.
"""

from __future__ import annotations

import keras
import ml_collections
import numpy as np
from keras import ops

from attention_colorization import color
from attention_colorization.layers import (
    DatabaseColorModule,
    Decoder,
    FeatureExtractor,
    GateFusion,
    PatchDiscriminator,
    PretrainedMatchingFeatures,
    SemanticColorModule,
)
from attention_colorization.layers.joint_bilateral import (
    DEFAULT_SIGMA_RANGE,
    DEFAULT_SIGMA_SPATIAL,
)
from attention_colorization.layers.pretrained_matching import BACKBONES

# The six blocks of F whose features build the SCM's queries and keys (with L).
DEFAULT_QUERY_LAYERS = ("conv2", "conv3", "conv4", "conv5", "conv6", "conv7")
# What the SCM matches on: F (the paper) or a pretrained backbone.
MATCHING_CHOICES = ("encoder",) + BACKBONES


@keras.saving.register_keras_serializable(package="attention_colorization")
class Generator(keras.Model):
    """The colourisation network of Yin et al. 2021 (Fig. 2), K >= 0 references.

    1. F encodes the target L and the K reference L channels (shared weights,
       one batched call when the sizes agree). With ``matching`` a pretrained
       backbone, it also encodes them for the SCM's queries and keys
       (:class:`PretrainedMatchingFeatures`); F then feeds the DCM and the
       decoder only.
    2. Stage 2 only: the SCM gives one colour and confidence per reference
       (shared weights); the DCM gives the database colour under the prior
       ``p(v)`` = the mean of the given reference histograms, or, without
       ``"ref_hist"``, the histogram of the references' ab at the attention
       grid, or, without references either, a uniform prior (automatic
       colourisation).
    3. The gate fuses the ``M = K + 1`` sources (Eq. 5), the database last.
       Stage 1 skips steps 2-3: ``c' = 0`` (F + decoder only).
    4. The decoder maps ``c'`` and the gray features to ab at S (with
       ``residual_decoder``, as a correction added to ``c'`` upsampled).

    Inputs are in Lab units; the generator normalises them itself. The
    attention grid is ``G = image_size / 4``. References normally have the
    model's size S (the inference API resizes them; F then runs once on target
    and references together); another static size divisible by 8 also works
    (F runs twice and the SCM resizes their features to the grid).

    Args:
        image_size: model resolution S (a multiple of 8).
        width: channel multiplier of F and the decoder.
        tau: SCM softmax temperature.
        attention_chunk: SCM queries per attention chunk.
        confidence_topk: SCM similarities per query feeding its confidence.
        num_bins: Q database colours (313).
        hist_floor: floor of the prior computed from references when no
            ``"ref_hist"`` is given.
        query_layers: blocks of F that build the SCM queries/keys (with L),
            when ``matching == "encoder"``.
        confidence_units: hidden units of the SCM/DCM confidence MLPs.
        matching: ``"encoder"`` (the paper: blocks of F plus L) or a
            pretrained backbone of :data:`MATCHING_CHOICES` (its endpoints at
            strides 4, 8, 16 plus L).
        matching_trainable: fine-tune the pretrained matching backbone.
        matching_weights: where its weights come from at construction
            (``"imagenet"``, a file, or None when saved weights are loaded
            afterwards).
        residual_decoder: the decoder predicts a correction to ``c'``
            upsampled (SPEC.md, "Small-data recipe").
        upsampling: how the residual decoder upsamples ``c'``:
            ``"bilinear"`` or ``"joint_bilateral"`` (guided by L; see
            :class:`~attention_colorization.layers.Decoder`).
        upsampling_sigma_range, upsampling_sigma_spatial: the joint
            bilateral filter's sigmas (L units, grid cells).
        **kwargs: passed to ``keras.Model`` (``name``, ``dtype``...).

    Call arguments:
        inputs: dict with ``"l"`` ``[B, S, S, 1]`` (L in [0, 100]); optional
            ``"ref_lab"`` ``[B, S, S, 3]`` or ``[B, K, S, S, 3]`` (Lab units);
            optional ``"ref_hist"`` ``[B, Q]`` or ``[B, K', Q]`` (histograms,
            their mean is the DCM prior); optional ``"ref_mask"`` ``[B, K]``
            or ``[B]`` (1 keeps reference k of example b, 0 takes it out of the gate so
            the database colours that example alone: training drops
            references this way). ``"ref_hist"`` may also be one prior per
            pixel ``[B, G, G, Q]`` (a palette's).
        training: Keras training flag (batch norm).
        stage: 1 (F + decoder) or 2 (the full network).
        return_maps: also return the intermediate maps (below).
        attention_loop: ``False`` unrolls the SCM's attention chunks instead of
            looping over them (for graphs without loop ops, e.g. TFLite).
        database_temperature: T of the DCM's annealed mean for this call
            (None: the layer's, 1 = Eq. 4).
        database_likelihood: ``False`` leaves the DCM's likelihood out of
            its posterior (the prior alone; see ``DatabaseColorModule``).

    Returns:
        A dict of float32 (int32 for ``"match"``) tensors:
        ``"ab"`` ``[B, S, S, 2]`` normalised ab in (-1, 1); with stage 2
        ``"alpha"`` ``[B, G, G, M]`` (gate weights, references first, database
        last); with stage 2 and ``return_maps`` also ``"match"`` ``[B, K, G, G]``
        (int32 best-match index ``y * G + x`` into each reference's grid),
        ``"source_ab"`` ``[B, M, G, G, 2]`` (each source's colour) and
        ``"fused_ab"`` ``[B, G, G, 2]`` (``c'``).

    References:
        Yin et al., "Yes, 'Attention Is All You Need', for Exemplar based
        Colorization", ACM MM 2021.
    """

    def __init__(
        self,
        image_size=256,
        width=1.0,
        tau=0.01,
        attention_chunk=1024,
        confidence_topk=8,
        num_bins=color.NUM_BINS,
        hist_floor=1e-4,
        query_layers=DEFAULT_QUERY_LAYERS,
        confidence_units=32,
        matching="encoder",
        matching_trainable=False,
        matching_weights=None,
        residual_decoder=False,
        upsampling="bilinear",
        upsampling_sigma_range=DEFAULT_SIGMA_RANGE,
        upsampling_sigma_spatial=DEFAULT_SIGMA_SPATIAL,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if matching not in MATCHING_CHOICES:
            raise ValueError(
                f"matching must be one of {MATCHING_CHOICES}, got {matching!r}"
            )
        if image_size % 8:
            raise ValueError(f"image_size must be a multiple of 8, got {image_size}")
        self.image_size = image_size
        self.width = width
        self.tau = tau
        self.attention_chunk = attention_chunk
        self.confidence_topk = confidence_topk
        self.num_bins = num_bins
        self.hist_floor = hist_floor
        self.query_layers = tuple(query_layers)
        self.confidence_units = confidence_units
        self.matching = matching
        self.matching_trainable = bool(matching_trainable)
        self.residual_decoder = bool(residual_decoder)
        self.upsampling = upsampling
        self.upsampling_sigma_range = float(upsampling_sigma_range)
        self.upsampling_sigma_spatial = float(upsampling_sigma_spatial)
        self.grid_size = image_size // 4
        policy = self.dtype_policy
        self.feature_extractor = FeatureExtractor(
            width, dtype=policy, name="feature_extractor"
        )
        unknown = set(self.query_layers) - set(self.feature_extractor.channels)
        if unknown:
            raise ValueError(
                f"query_layers names unknown blocks of F: {sorted(unknown)}"
            )
        self.semantic_color = SemanticColorModule(
            self.grid_size,
            tau=tau,
            chunk_size=attention_chunk,
            top_k=confidence_topk,
            confidence_units=confidence_units,
            dtype=policy,
            name="semantic_color",
        )
        self.database_color = DatabaseColorModule(
            num_bins,
            confidence_units=confidence_units,
            dtype=policy,
            name="database_color",
        )
        self.gate = GateFusion(dtype=policy, name="gate")
        self.decoder = Decoder(
            width,
            residual=residual_decoder,
            upsampling=upsampling,
            sigma_range=upsampling_sigma_range,
            sigma_spatial=upsampling_sigma_spatial,
            dtype=policy,
            name="decoder",
        )
        self.matcher = None
        if matching != "encoder":
            self.matcher = PretrainedMatchingFeatures(
                matching,
                weights=matching_weights,
                trainable=matching_trainable,
                dtype=policy,
                name="matching_features",
            )

    def build(self, inputs_shape=None):
        """Builds every sublayer from ``image_size`` (the input shapes are not needed)."""
        s, g = self.image_size, self.grid_size
        strides = self.feature_extractor.strides
        feature_shapes = {  # [B, S / stride, S / stride, C] per block of F
            name: (None, s // strides[name], s // strides[name], c)
            for name, c in self.feature_extractor.channels.items()
        }
        self.feature_extractor.build((None, s, s, 1))
        if self.matcher is None:
            query_shapes = [feature_shapes[n] for n in self.query_layers]
        else:
            self.matcher.build((None, s, s, 1))
            query_shapes = [
                (None, s // st, s // st, None) for st in self.matcher.strides
            ]
        query_shapes = query_shapes + [(None, s, s, 1)]
        self.semantic_color.build(query_shapes, query_shapes, (None, s, s, 2))
        self.database_color.build(feature_shapes["conv8"], (None, self.num_bins))
        self.gate.build([(None, g, g, 2)], [(None, g, g, 1)])
        self.decoder.build((None, g, g, 2), feature_shapes)
        self.built = True

    def _prior(self, ref_hist, ref_ab):
        """The DCM prior ``[B, Q]`` or None (uniform); see the class docstring.

        Args:
            ref_hist: ``[B, Q]``, ``[B, K', Q]``, ``[B, G, G, Q]`` or None.
            ref_ab: normalised reference ab ``[B, K, S, S, 2]`` or None.
        """
        if ref_hist is not None:
            ref_hist = ops.cast(ref_hist, "float32")
            if len(ref_hist.shape) == 4:
                return ref_hist  # one prior per pixel: [B, G, G, Q]
            if len(ref_hist.shape) == 3:
                ref_hist = ops.mean(ref_hist, axis=1)  # [B, K', Q] -> [B, Q]
            return ref_hist
        if ref_ab is None:
            return None
        # R_H of each reference, as the pipeline and the colorizer compute it.
        num_refs = ref_ab.shape[1]
        flat = ops.reshape(ref_ab, (-1,) + tuple(ref_ab.shape[2:]))  # [B * K, S, S, 2]
        flat = color.net_to_ab(ops.cast(flat, "float32"))  # Lab units
        hist = color.reference_histogram(flat, floor=self.hist_floor)  # [B * K, Q]
        hist = ops.reshape(hist, (-1, num_refs, hist.shape[-1]))  # [B, K, Q]
        return ops.mean(hist, axis=1)  # [B, Q]

    def call(
        self,
        inputs,
        training=None,
        stage=2,
        return_maps=False,
        attention_loop=True,
        database_temperature=None,
        database_likelihood=True,
    ):
        if stage not in (1, 2):
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        l_net = ops.cast(
            color.l_to_net(ops.cast(inputs["l"], "float32")), self.compute_dtype
        )
        ref_lab = inputs.get("ref_lab") if stage == 2 else None
        guide = ops.cast(inputs["l"], "float32")  # [B, S, S, 1]: the decoder's guide

        if ref_lab is None:
            features = self.feature_extractor(l_net, training=training)
            ref_features, ref_l, ref_ab, num_refs = None, None, None, 0
        else:
            features, ref_features, ref_l, ref_ab = self._encode_with_references(
                l_net, ref_lab, training
            )
            num_refs = ref_l.shape[1]

        if stage == 1:
            zeros = ops.zeros_like(features["conv8"][..., :2])  # c' = 0: [B, G, G, 2]
            ab = self.decoder(zeros, features, training=training, guide=guide)
            return {"ab": ops.cast(ab, "float32")}

        colors, confidences, matches = [], [], []
        if num_refs:
            queries, keys = self._matching_features(
                l_net, features, ref_l, ref_features, training
            )
            # The target's queries are embedded once for all K references.
            query = self.semantic_color.embed(queries)  # [B, N, D]
        for k in range(num_refs):
            c_r, w_r, match = self.semantic_color(
                query, keys[k], ref_ab[:, k], loop=attention_loop
            )  # Eq. 1
            colors.append(c_r)
            confidences.append(w_r)
            matches.append(match)
        if num_refs and inputs.get("ref_mask") is not None:
            confidences = self._mask_references(confidences, inputs["ref_mask"])
        prior = self._prior(inputs.get("ref_hist"), ref_ab)
        c_d, w_d = self.database_color(
            features["conv8"],
            prior,
            temperature=database_temperature,
            likelihood=database_likelihood,
        )  # Eq. 2-4
        colors.append(c_d)
        confidences.append(w_d)
        fused, alpha = self.gate(colors, confidences)  # Eq. 5
        ab = self.decoder(
            fused, features, training=training, guide=guide
        )  # [B, S, S, 2]

        outputs = {"ab": ops.cast(ab, "float32"), "alpha": ops.cast(alpha, "float32")}
        if return_maps:
            if matches:
                outputs["match"] = ops.stack(matches, axis=1)  # [B, K, G, G]
            else:
                empty = ops.cast(alpha[..., :0], "int32")  # [B, G, G, 0]
                outputs["match"] = ops.transpose(empty, (0, 3, 1, 2))  # [B, 0, G, G]
            outputs["source_ab"] = ops.cast(ops.stack(colors, axis=1), "float32")
            outputs["fused_ab"] = ops.cast(fused, "float32")
        return outputs

    @staticmethod
    def _mask_references(confidences, ref_mask):
        """Pushes the gate logit of each dropped reference to -1e4 (alpha ~ 0).

        Args:
            confidences: K logits ``[B, G, G, 1]``, one per reference.
            ref_mask: ``[B, K]``, or ``[B]`` for every reference alike; 1
                keep, 0 drop.
        """
        mask = ops.cast(ref_mask, "float32")
        if len(mask.shape) == 1:
            mask = mask[:, None]  # [B] -> [B, 1]
        masked = []
        for k, logit in enumerate(confidences):
            column = mask[:, k] if mask.shape[1] > 1 else mask[:, 0]  # [B]
            drop = (1.0 - column)[:, None, None, None]  # [B, 1, 1, 1]
            masked.append(
                ops.cast(ops.cast(logit, "float32") - 1e4 * drop, logit.dtype)
            )
        return masked

    def _matching_features(self, l_net, features, ref_l, ref_features, training):
        """The SCM's query maps and, per reference, its key maps.

        Returns:
            ``(queries, keys)``: ``queries`` a list of the target's maps
            ``[B, h_j, w_j, C_j]`` ending with L ``[B, S, S, 1]``; ``keys`` a
            list (one per reference) of lists of the same maps for it.
        """
        num_refs = ref_l.shape[1]
        if self.matcher is None:
            queries = [features[n] for n in self.query_layers] + [l_net]
            keys = [
                [ref_features[n][:, k] for n in self.query_layers] + [ref_l[:, k]]
                for k in range(num_refs)
            ]
            return queries, keys
        flat_l = ops.reshape(ref_l, (-1,) + tuple(ref_l.shape[2:]))  # [B*K, S', S', 1]
        if tuple(flat_l.shape[1:3]) == tuple(l_net.shape[1:3]):
            # One backbone call on [B + B * K, S, S, 1]; split back.
            joint = self.matcher(
                ops.concatenate([l_net, flat_l], axis=0), training=training
            )
            batch = ops.shape(l_net)[0]
            target_maps = [m[:batch] for m in joint]
            ref_maps = [m[batch:] for m in joint]
        else:
            target_maps = self.matcher(l_net, training=training)
            ref_maps = self.matcher(flat_l, training=training)
        ref_maps = [  # [B * K, h, w, C] -> [B, K, h, w, C]
            ops.reshape(m, (-1, num_refs) + tuple(m.shape[1:])) for m in ref_maps
        ]
        queries = target_maps + [l_net]
        keys = [[m[:, k] for m in ref_maps] + [ref_l[:, k]] for k in range(num_refs)]
        return queries, keys

    def _encode_with_references(self, l_net, ref_lab, training):
        """Runs F on the target and the K references.

        Returns:
            ``features`` (dict of the target's maps), ``ref_features`` (dict of
            ``[B, K, h, w, C]``), ``ref_l`` ``[B, K, S, S, 1]`` and ``ref_ab``
            ``[B, K, S, S, 2]`` (normalised, compute dtype).
        """
        ref_lab = ops.cast(ref_lab, "float32")
        if len(ref_lab.shape) == 4:
            ref_lab = ref_lab[:, None]  # [B, S, S, 3] -> [B, 1, S, S, 3]
        num_refs = ref_lab.shape[1]
        spatial = tuple(ref_lab.shape[2:4])
        flat = ops.reshape(ref_lab, (-1,) + tuple(ref_lab.shape[2:]))  # [B*K, S, S, 3]
        flat_l = ops.cast(color.l_to_net(flat[..., :1]), self.compute_dtype)
        flat_ab = ops.cast(color.ab_to_net(flat[..., 1:]), self.compute_dtype)
        if spatial == tuple(l_net.shape[1:3]):
            # One F call on [B + B * K, S, S, 1]; split back.
            joint = self.feature_extractor(
                ops.concatenate([l_net, flat_l], axis=0), training=training
            )
            batch = ops.shape(l_net)[0]
            features = {n: f[:batch] for n, f in joint.items()}
            flat_features = {n: f[batch:] for n, f in joint.items()}
        else:
            features = self.feature_extractor(l_net, training=training)
            flat_features = self.feature_extractor(flat_l, training=training)

        def unflatten(x):  # [B * K, ...] -> [B, K, ...]
            return ops.reshape(x, (-1, num_refs) + tuple(x.shape[1:]))

        ref_features = {n: unflatten(f) for n, f in flat_features.items()}
        return features, ref_features, unflatten(flat_l), unflatten(flat_ab)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
            "image_size": self.image_size,
            "width": self.width,
            "tau": self.tau,
            "attention_chunk": self.attention_chunk,
            "confidence_topk": self.confidence_topk,
            "num_bins": self.num_bins,
            "hist_floor": self.hist_floor,
            "query_layers": list(self.query_layers),
            "confidence_units": self.confidence_units,
            "matching": self.matching,
            "matching_trainable": self.matching_trainable,
            "residual_decoder": self.residual_decoder,
            "upsampling": self.upsampling,
            "upsampling_sigma_range": self.upsampling_sigma_range,
            "upsampling_sigma_spatial": self.upsampling_sigma_spatial,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)


def build_generator(
    config: ml_collections.ConfigDict, pretrained: bool = False
) -> Generator:
    """A built :class:`Generator` for ``config`` (fields ``model.*``, ``data.image_size``).

    The generator takes the global dtype policy: set it (e.g.
    ``keras.mixed_precision.set_dtype_policy("mixed_float16")``) before calling.

    Args:
        config: the full config.
        pretrained: load the pretrained matching backbone's weights from
            ``model.matching_weights`` (training starts this way); False builds
            it at random, for callers that load saved weights next.
    """
    model = config.model
    generator = Generator(
        image_size=config.data.image_size,
        width=model.width,
        tau=model.tau,
        attention_chunk=model.attention_chunk,
        confidence_topk=model.confidence_topk,
        num_bins=model.num_bins,
        hist_floor=config.data.hist_floor,
        matching=model.matching,
        matching_trainable=model.matching_trainable,
        matching_weights=model.matching_weights if pretrained else None,
        residual_decoder=model.residual_decoder,
        upsampling=model.upsampling,
        upsampling_sigma_range=model.upsampling_sigma_range,
        upsampling_sigma_spatial=model.upsampling_sigma_spatial,
        name="generator",
    )
    generator.build()  # every variable; no forward pass needed (2.4 s at 256 px)
    return generator


def build_discriminator(config: ml_collections.ConfigDict) -> keras.Model:
    """The :class:`PatchDiscriminator` for ``config`` as a built functional model.

    Input normalised Lab ``[B, H, W, 3]`` (any H, W multiple of 8; training uses
    S x S), output ``[B, H/8, W/8, 1]`` scores in the compute dtype.
    """
    inputs = keras.Input((None, None, 3), name="lab")
    scores = PatchDiscriminator(width=config.model.width, name="patch_discriminator")(
        inputs
    )
    discriminator = keras.Model(inputs, scores, name="discriminator")
    s = config.data.image_size
    discriminator(np.zeros((1, s, s, 3), np.float32), training=False)
    return discriminator
