"""The GAN training model: a ``keras.Model`` with a custom ``train_step``.

Two players, two optimizers, one ``GradientTape`` each (keras-io's
"custom train_step in TensorFlow" pattern). Under ``mixed_float16`` both
optimizers are ``keras.optimizers.LossScaleOptimizer`` instances: each loss is
scaled inside its tape with ``optimizer.scale_loss`` and the optimizer unscales
the gradients and skips steps whose gradients are not finite, as Keras's own TF
trainer does. Losses are computed in float32 and, under a ``tf.distribute``
strategy, divided by the number of replicas before the gradient (the optimizer
sums gradients over replicas).

Stage 1 (paper, Sec. 4.2) trains the feature extractor F and the decoder on
``L_1 + L_perc + L_G``; stage 2 trains the whole generator with every loss.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from attention_colorization import color, losses

LOSS_NAMES = ("l1", "perceptual", "gan", "sparse", "hist")


def _distributed_mean(value):
    """Per-replica mean loss -> the share whose sum over replicas is the mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value / tf.cast(replicas, value.dtype) if replicas > 1 else value


def psnr_rgb(rgb_true, rgb_pred):
    """PSNR in dB per example of sRGB images ``[batch, H, W, 3]`` in [0, 1]."""
    return tf.image.psnr(
        tf.cast(rgb_true, tf.float32), tf.cast(rgb_pred, tf.float32), max_val=1.0
    )


class ColorizationGAN(keras.Model):
    """Generator + PatchGAN discriminator trained with Eq. 7-12.

    Args:
        generator: the ``Generator`` (attention_colorization.model).
        discriminator: the ``PatchDiscriminator``.
        loss_weights: mapping with the λ of Eq. 12: ``l1``, ``perceptual``,
            ``gan``, ``sparse``, ``hist``.
        vgg: VGG19 relu5_1 feature model for L_perc, or None (term off).
        stage: 1 or 2.
        drop_reference_prob: stage 2 training only: the share of examples
            whose reference is taken out of the gate (``"ref_mask"``), so the
            database branch alone colours them under a prior from the
            target's own ab histogram: how the DCM and the gate learn the
            palette and no-match cases (SPEC.md, "Small-data recipe").
        uniform_prior_prob: the share of dropped examples whose prior is
            uniform instead (automatic mode).

    Inputs to ``fit``/``evaluate``: batches of the data pipeline's dicts,
    ``l [B, S, S, 1]``, ``ab [B, S, S, 2]``, ``ref_lab [B, S, S, 3]`` (Lab units)
    and ``ref_hist [B, 313]``.
    """

    def __init__(
        self,
        generator,
        discriminator,
        loss_weights,
        vgg=None,
        stage=1,
        drop_reference_prob=0.0,
        uniform_prior_prob=0.0,
        **kw,
    ):
        super().__init__(**kw)
        self.drop_reference_prob = float(drop_reference_prob)
        self.uniform_prior_prob = float(uniform_prior_prob)
        self.generator = generator
        self.discriminator = discriminator
        self.loss_weights = {name: float(loss_weights[name]) for name in LOSS_NAMES}
        self.vgg = vgg
        self.stage = int(stage)
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in (
                "g_loss",
                "d_loss",
                *LOSS_NAMES,
                "gate_entropy",
                "share_reference",
                "share_database",
                "his",
                "psnr",
            )
        }

    # ------------------------------------------------------------------ set-up
    def compile(self, g_optimizer, d_optimizer, **kwargs):
        # No optimizer of Keras's own (its default would be an unused RMSprop
        # with a slot per weight): the two players bring theirs.
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self):
        return list(self._trackers.values())

    def stage_variables(self):
        """The generator variables trained in this stage (stage 1: F + decoder)."""
        if self.stage == 1:
            return (
                self.generator.feature_extractor.trainable_variables
                + self.generator.decoder.trainable_variables
            )
        return self.generator.trainable_variables

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras reduces the first distributed batch with one strategy.reduce over
        # the whole dict; MultiWorkerMirroredStrategy's collective reduce takes
        # single tensors only. Reduce per tensor instead, then build as usual.
        strategy = self.distribute_strategy
        if iterator is not None and isinstance(
            strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda x: strategy.reduce("MEAN", x, axis=None), batch
                )
                break
            iterator = None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def call(self, inputs, training=False):
        return self.generator(
            self._generator_inputs(inputs), training=training, stage=self.stage
        )["ab"]

    @staticmethod
    def _generator_inputs(data):
        return {
            "l": data["l"],
            "ref_lab": data["ref_lab"],
            "ref_hist": data["ref_hist"],
        }

    def _drop_references(self, data, ab_true, ref_ab):
        """Training inputs with a share of references dropped (stage 2).

        A dropped example gets ``ref_mask = 0`` and, as the DCM prior, its
        own target's ab histogram (or, for ``uniform_prior_prob`` of them, a
        uniform one); L_hist then compares the output with the target's ab.

        Returns:
            ``(inputs, hist_ab)``: the generator's inputs and the ab
            ``[B, S, S, 2]`` (network units) L_hist compares against.
        """
        inputs = self._generator_inputs(data)
        if self.stage != 2 or self.drop_reference_prob <= 0.0:
            return inputs, ref_ab
        batch = tf.shape(data["l"])[0]
        drop = tf.random.uniform([batch]) < self.drop_reference_prob  # [B]
        uniform = tf.logical_and(
            drop, tf.random.uniform([batch]) < self.uniform_prior_prob
        )
        own = color.reference_histogram(
            tf.cast(data["ab"], tf.float32), floor=self.generator.hist_floor
        )  # [B, Q]
        flat = tf.fill(tf.shape(own), 1.0 / own.shape[-1])
        given = tf.cast(inputs["ref_hist"], tf.float32)
        prior = tf.where(drop[:, None], tf.where(uniform[:, None], flat, own), given)
        inputs["ref_hist"] = prior
        inputs["ref_mask"] = 1.0 - tf.cast(drop, tf.float32)  # [B], K = 1
        hist_ab = tf.where(drop[:, None, None, None], ab_true, ref_ab)
        return inputs, hist_ab

    # ------------------------------------------------------------------ losses
    @staticmethod
    def _targets(data):
        """The batch's L and ab in network units, computed once per step.

        Returns:
            ``(l_net [B, S, S, 1], ab_true [B, S, S, 2], ref_ab [B, S', S', 2])``
            float32.
        """
        l_net = color.l_to_net(tf.cast(data["l"], tf.float32))
        ab_true = color.ab_to_net(tf.cast(data["ab"], tf.float32))
        ref_ab = color.ab_to_net(tf.cast(data["ref_lab"][..., 1:], tf.float32))
        return l_net, ab_true, ref_ab

    def _generator_losses(self, l_net, ab_true, ref_ab, outputs, d_fake):
        """Eq. 7-12 for the generator.

        Returns:
            ``(total, terms, histograms)``: the weighted sum, each term, and
            (stage 2) the 441-bin histograms ``{"out": [B, 441], "ref": [B, 441]}``
            of L_hist, which the validation's HIS reuses (None in stage 1).
        """
        ab_pred = tf.cast(outputs["ab"], tf.float32)
        zero = tf.constant(0.0, tf.float32)
        terms = {
            "l1": losses.l1_loss(ab_true, ab_pred),  # Eq. 7
            "perceptual": (
                losses.perceptual_loss(self.vgg, l_net, ab_true, ab_pred)  # Eq. 8
                if self.vgg is not None and self.loss_weights["perceptual"] > 0
                else zero
            ),
            "gan": losses.lsgan_generator_loss(d_fake),  # Eq. 9
            "sparse": zero,
            "hist": zero,
        }
        histograms = None
        if self.stage == 2:
            terms["sparse"] = losses.sparse_loss(outputs["alpha"])  # Eq. 11
            terms["hist"], h_out, h_ref = losses.histogram_loss(
                ab_pred, ref_ab, return_histograms=True
            )
            histograms = {"out": h_out, "ref": h_ref}
        total = tf.add_n([self.loss_weights[k] * v for k, v in terms.items()])  # Eq. 12
        return total, terms, histograms

    def _lab_net(self, l_net, ab_net):
        return tf.concat([l_net, tf.cast(ab_net, l_net.dtype)], axis=-1)

    def _update_gate_trackers(self, outputs):
        if self.stage != 2:
            return
        alpha = tf.cast(outputs["alpha"], tf.float32)  # [B, G, G, M], database last
        self._trackers["gate_entropy"].update_state(losses.gate_entropy(alpha))
        picked_db = tf.cast(
            tf.equal(
                tf.argmax(alpha, axis=-1), tf.shape(alpha, out_type=tf.int64)[-1] - 1
            ),
            tf.float32,
        )
        self._trackers["share_database"].update_state(picked_db)
        self._trackers["share_reference"].update_state(1.0 - picked_db)

    # -------------------------------------------------------------- train/test
    def train_step(self, data):
        l_net, ab_true, ref_ab = self._targets(data)
        real_lab = self._lab_net(l_net, ab_true)
        g_vars = self.stage_variables()
        d_vars = self.discriminator.trainable_variables

        inputs, hist_ab = self._drop_references(data, ab_true, ref_ab)

        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            outputs = self.generator(inputs, training=True, stage=self.stage)
            fake_lab = self._lab_net(l_net, outputs["ab"])
            # One pass of D on the fake serves both players: each tape differentiates
            # with respect to its own player's variables only.
            d_fake = self.discriminator(fake_lab, training=True)
            d_real = self.discriminator(real_lab, training=True)
            g_loss, terms, _ = self._generator_losses(
                l_net, ab_true, hist_ab, outputs, d_fake
            )
            d_loss = losses.lsgan_discriminator_loss(d_real, d_fake)  # Eq. 10
            g_scaled = self.g_optimizer.scale_loss(_distributed_mean(g_loss))
            d_scaled = self.d_optimizer.scale_loss(_distributed_mean(d_loss))

        g_grads = g_tape.gradient(g_scaled, g_vars)
        d_grads = d_tape.gradient(d_scaled, d_vars)
        self.g_optimizer.apply(g_grads, g_vars)
        self.d_optimizer.apply(d_grads, d_vars)

        self._trackers["g_loss"].update_state(g_loss)
        self._trackers["d_loss"].update_state(d_loss)
        for name, value in terms.items():
            self._trackers[name].update_state(value)
        self._update_gate_trackers(outputs)
        return self._results(training=True)

    def test_step(self, data):
        l_net, ab_true, ref_ab = self._targets(data)
        outputs = self.generator(
            self._generator_inputs(data), training=False, stage=self.stage
        )
        fake_lab = self._lab_net(l_net, outputs["ab"])
        real_lab = self._lab_net(l_net, ab_true)
        d_fake = self.discriminator(fake_lab, training=False)
        d_real = self.discriminator(real_lab, training=False)
        g_loss, terms, histograms = self._generator_losses(
            l_net, ab_true, ref_ab, outputs, d_fake
        )
        self._trackers["g_loss"].update_state(g_loss)
        self._trackers["d_loss"].update_state(
            losses.lsgan_discriminator_loss(d_real, d_fake)
        )
        for name, value in terms.items():
            self._trackers[name].update_state(value)
        self._update_gate_trackers(outputs)
        ab_pred = color.net_to_ab(tf.cast(outputs["ab"], tf.float32))
        if histograms is None:  # stage 1: no L_hist computed them
            histograms = {
                "out": color.ab_histogram441(ab_pred),
                "ref": color.ab_histogram441(color.net_to_ab(ref_ab)),
            }
        his = color.histogram_intersection(histograms["out"], histograms["ref"])
        self._trackers["his"].update_state(his)
        lightness = tf.cast(data["l"], tf.float32)
        rgb_pred = color.lab_to_rgb(tf.concat([lightness, ab_pred], axis=-1))
        rgb_true = color.lab_to_rgb(
            tf.concat([lightness, tf.cast(data["ab"], tf.float32)], -1)
        )
        self._trackers["psnr"].update_state(psnr_rgb(rgb_true, rgb_pred))
        return self._results(training=False)

    def _results(self, training):
        skip = {"his", "psnr"} if training else set()
        if self.stage != 2:
            skip |= {
                "sparse",
                "hist",
                "gate_entropy",
                "share_reference",
                "share_database",
            }
        results = {k: t.result() for k, t in self._trackers.items() if k not in skip}
        if isinstance(
            self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy
        ):
            # Keras reduces logs across workers with a MEAN over axis 0, which
            # needs at least one dimension (tensorflow/tensorflow#72388).
            results = {k: tf.reshape(v, [1]) for k, v in results.items()}
        return results
