"""The training losses of Eq. 7-12, all computed in float32.

``L_total = λ_perc·L_perc + λ_G·L_G + λ_sparse·L_sparse + λ_1·L_1 + λ_hist·L_hist``

Every function takes tensors in network units (``L / 50 - 1``, ``ab / 110``)
unless its docstring says otherwise, casts to float32 first (mixed precision
safe) and returns a scalar: the mean over the batch on this replica.
"""

from __future__ import annotations

import os

import keras
import tensorflow as tf

from attention_colorization import color

CHI2_EPSILON = 1e-10  # Keeps the chi-square denominator away from zero.
ENTROPY_EPSILON = 1e-7  # Keeps log(alpha) finite where alpha is exactly 0.
VGG_FEATURE_LAYER = "block5_conv1"  # relu5_1 (Keras fuses the ReLU into the conv).
# Caffe-style VGG preprocessing: BGR, 0-255, ImageNet channel means subtracted.
_VGG_MEAN_BGR = (103.939, 116.779, 123.68)


def _f32(x):
    return tf.cast(x, tf.float32)


def l1_loss(ab_true, ab_pred):
    """Eq. 7: mean |T_ab - T̂_ab| over pixels, channels and batch (network units)."""
    return tf.reduce_mean(tf.abs(_f32(ab_true) - _f32(ab_pred)))


def lsgan_generator_loss(d_fake):
    """Eq. 9, least-squares GAN generator loss: 1/2 E[(D(T̂) - 1)^2].

    (The paper prints ``D(T̂)^2 - 1``; the LSGAN of its reference [23] is the
    squared distance to the real label, which is what is implemented.)
    """
    return 0.5 * tf.reduce_mean(tf.square(_f32(d_fake) - 1.0))


def lsgan_discriminator_loss(d_real, d_fake):
    """Eq. 10: 1/2 E[D(T̂)^2] + 1/2 E[(D(X) - 1)^2]."""
    fake = 0.5 * tf.reduce_mean(tf.square(_f32(d_fake)))
    real = 0.5 * tf.reduce_mean(tf.square(_f32(d_real) - 1.0))
    return fake + real


def gate_entropy(alpha):
    """Per-pixel entropy ``-Σ_j α_j log α_j`` of gate weights ``[..., M]`` -> ``[...]``."""
    alpha = _f32(alpha)
    return -tf.reduce_sum(alpha * tf.math.log(alpha + ENTROPY_EPSILON), axis=-1)


def sparse_loss(alpha):
    """Eq. 11: the mean gate entropy over pixels; 0 when every pixel picks one source.

    Args:
        alpha: gate weights ``[batch, G, G, M]`` that sum to 1 over M.
    """
    return tf.reduce_mean(gate_entropy(alpha))


def chi_square(h_out, h_ref):
    """χ² distance ``2 Σ (h_out - h_ref)^2 / (h_out + h_ref + ε)`` over the last axis."""
    h_out, h_ref = _f32(h_out), _f32(h_ref)
    return 2.0 * tf.reduce_sum(
        tf.square(h_out - h_ref) / (h_out + h_ref + CHI2_EPSILON), axis=-1
    )


def histogram_loss(ab_pred, ref_ab, return_histograms=False):
    """The colour histogram loss L_hist (Gray2ColorNet): χ² between the
    differentiable 441-bin histograms of the output and of the reference.

    Args:
        ab_pred: predicted ab ``[batch, S, S, 2]`` in network units.
        ref_ab: reference ab ``[batch, h, w, 2]`` in network units.
        return_histograms: also return both histograms (the validation's HIS
            reuses them).

    Returns:
        Scalar mean over the batch; with ``return_histograms`` the tuple
        ``(loss, h_out [batch, 441], h_ref [batch, 441])``.
    """
    h_out = color.ab_histogram441(color.net_to_ab(_f32(ab_pred)))  # [batch, 441]
    h_ref = color.ab_histogram441(color.net_to_ab(_f32(ref_ab)))  # [batch, 441]
    loss = tf.reduce_mean(chi_square(h_out, h_ref))
    return (loss, h_out, h_ref) if return_histograms else loss


class PerceptualWeightsError(RuntimeError):
    """The VGG19 weights for the perceptual loss could not be loaded."""


PERCEPTUAL_NETWORKS = ("vgg19", "efficientnet_lite0")
# EfficientNet-Lite0's endpoint compared by the perceptual loss (stride 16:
# object parts, the depth VGG19's relu5_1 has).
EFFICIENTNET_PERCEPTUAL_STRIDE = 16


def build_perceptual_features(network: str, weights: str):
    """The frozen float32 feature model of L_perc, or None when ``weights == 'none'``.

    Args:
        network: ``"vgg19"`` (the paper: relu5_1) or ``"efficientnet_lite0"``
            (ImageNet-pretrained, its stride-16 endpoint: for machines where
            VGG19's weights cannot be had).
        weights: ``"imagenet"``, a weights file, or ``"none"``.

    Returns:
        A ``keras.Model`` from sRGB ``[B, H, W, 3]`` in [0, 1] to features, or
        None.

    Raises:
        PerceptualWeightsError: the weights cannot be had (one line saying
            what to do).
        ValueError: an unknown network.
    """
    if network not in PERCEPTUAL_NETWORKS:
        raise ValueError(
            f"loss.perceptual_network must be one of {PERCEPTUAL_NETWORKS}, "
            f"got {network!r}"
        )
    if network == "vgg19":
        return build_vgg_features(weights)
    if not weights or weights.lower() == "none":
        return None
    from attention_colorization import backbones

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        backbone = backbones.efficientnet_lite0(weights=weights, include_top=False)
    except (ImportError, OSError, ValueError) as error:
        raise PerceptualWeightsError(
            f"could not load EfficientNet-Lite0 weights {weights!r} for the "
            f"perceptual loss ({str(error).splitlines()[0][:200]})"
        ) from None
    finally:
        keras.config.set_dtype_policy(previous)
    backbone.trainable = False
    rgb = keras.Input((None, None, 3), name="rgb")
    scaled = keras.layers.Rescaling(255.0, dtype="float32")(rgb)  # [0, 255]
    endpoint = backbone(scaled, training=False)[
        f"stride{EFFICIENTNET_PERCEPTUAL_STRIDE}"
    ]
    features = keras.Model(rgb, endpoint, name="efficientnet_lite0_perceptual")
    features.trainable = False
    return features


def build_vgg_features(weights: str):
    """VGG19 up to relu5_1, frozen and in float32, or None when ``weights == 'none'``.

    The model takes sRGB in [0, 1] and applies VGG's own preprocessing.

    Args:
        weights: ``"imagenet"`` (Keras downloads the file once into
            ``~/.keras/models``), a path to a VGG19 ``.h5`` weights file
            (``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``), or ``"none"``.

    Raises:
        PerceptualWeightsError: with a one-line message saying how to point at a
            local file or disable the term, when the weights cannot be had.
    """
    if not weights or weights.lower() == "none":
        return None
    if weights != "imagenet" and not os.path.isfile(weights):
        raise PerceptualWeightsError(
            f"loss.perceptual_weights={weights!r} is neither 'imagenet', 'none' nor an "
            "existing VGG19 weights file"
        )
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    try:
        vgg = keras.applications.VGG19(
            include_top=False, weights=weights, input_shape=(None, None, 3)
        )
    except Exception as error:  # Keras raises a bare Exception on URL failures.
        raise PerceptualWeightsError(
            f"could not load VGG19 weights {weights!r} for the perceptual loss "
            f"({str(error).splitlines()[0][:160]}). Offline? Download "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and pass "
            "--config.loss.perceptual_weights=/path/to/it, or disable the term with "
            "--config.loss.perceptual_weights=none --config.loss.perceptual=0"
        ) from None
    finally:
        keras.config.set_dtype_policy(previous)
    relu5_1 = keras.Model(vgg.input, vgg.get_layer(VGG_FEATURE_LAYER).output)
    rgb = keras.Input((None, None, 3), name="rgb")
    caffe = keras.layers.Lambda(vgg_preprocess, name="vgg_preprocess")(rgb)
    features = keras.Model(rgb, relu5_1(caffe), name="vgg19_relu5_1")
    features.trainable = False
    return features


def vgg_preprocess(rgb):
    """sRGB ``[..., 3]`` in [0, 1] -> Caffe-style VGG input (BGR, 0-255, mean-free)."""
    bgr = tf.reverse(_f32(rgb), axis=[-1]) * 255.0
    return bgr - tf.constant(_VGG_MEAN_BGR, tf.float32)


def perceptual_loss(vgg, l_net, ab_true, ab_pred):
    """Eq. 8: mean squared distance of VGG19 relu5_1 features (or the chosen
    network's) of the RGB images built from (L, T̂_ab) and (L, T_ab).

    Args:
        vgg: the model from :func:`build_perceptual_features` (sRGB in [0, 1]
            to features).
        l_net: L ``[batch, S, S, 1]`` in network units.
        ab_true, ab_pred: ``[batch, S, S, 2]`` in network units.
    """
    lightness = color.net_to_l(_f32(l_net))

    def to_rgb(ab):
        lab = tf.concat([lightness, color.net_to_ab(_f32(ab))], axis=-1)
        return color.lab_to_rgb(lab)

    real = tf.stop_gradient(vgg(to_rgb(ab_true), training=False))
    fake = vgg(to_rgb(ab_pred), training=False)
    return tf.reduce_mean(tf.square(_f32(fake) - _f32(real)))
