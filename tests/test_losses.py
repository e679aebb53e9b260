"""Losses of Eq. 7-12 against hand-computed values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from attention_colorization import color, losses


def test_l1_hand_computed():
    a = tf.constant([[0.0, 0.5], [1.0, -1.0]])
    b = tf.constant([[0.5, 0.5], [0.0, -1.0]])
    assert float(losses.l1_loss(a, b)) == pytest.approx((0.5 + 0 + 1 + 0) / 4)


def test_lsgan_values():
    assert float(losses.lsgan_generator_loss(tf.ones([2, 4, 4, 1]))) == 0.0
    assert float(losses.lsgan_generator_loss(tf.zeros([2, 4, 4, 1]))) == pytest.approx(
        0.5
    )
    real, fake = tf.ones([1, 2, 2, 1]), tf.zeros([1, 2, 2, 1])
    assert float(losses.lsgan_discriminator_loss(real, fake)) == 0.0
    # Swapped labels: 1/2 * 1 + 1/2 * 1.
    assert float(losses.lsgan_discriminator_loss(fake, real)) == pytest.approx(1.0)
    d = tf.constant([0.5, 2.0])
    assert float(losses.lsgan_discriminator_loss(d, d)) == pytest.approx(
        0.5 * (0.25 + 4.0) / 2 + 0.5 * (0.25 + 1.0) / 2
    )


def test_sparse_loss_is_gate_entropy():
    one_hot = tf.one_hot(tf.constant([[0, 1], [1, 0]]), 2)  # [2, 2, 2]
    assert float(losses.sparse_loss(one_hot)) == pytest.approx(0.0, abs=1e-5)
    uniform3 = tf.fill([1, 3, 3, 3], 1.0 / 3.0)
    assert float(losses.sparse_loss(uniform3)) == pytest.approx(math.log(3), abs=1e-5)
    alpha = tf.constant([[0.2, 0.8]])
    expected = -(0.2 * math.log(0.2) + 0.8 * math.log(0.8))
    assert float(losses.sparse_loss(alpha)) == pytest.approx(expected, abs=1e-5)


def test_sparse_loss_float16_input_gives_float32():
    alpha = tf.constant([[0.5, 0.5]], tf.float16)
    value = losses.sparse_loss(alpha)
    assert value.dtype == tf.float32
    assert float(value) == pytest.approx(math.log(2), abs=1e-3)


def test_chi_square_zero_for_equal_positive_otherwise():
    h = tf.constant([[0.2, 0.3, 0.5]])
    assert float(losses.chi_square(h, h)[0]) == 0.0
    g = tf.constant([[0.5, 0.3, 0.2]])
    expected = 2 * (0.09 / 0.7 + 0 + 0.09 / 0.7)
    assert float(losses.chi_square(h, g)[0]) == pytest.approx(expected, rel=1e-5)


def test_histogram_loss_zero_for_same_colours_and_differentiable():
    rng = np.random.default_rng(0)
    ab = tf.constant(rng.uniform(-0.5, 0.5, (2, 8, 8, 2)), tf.float32)
    assert float(losses.histogram_loss(ab, ab)) == pytest.approx(0.0, abs=1e-6)
    pred = tf.Variable(tf.zeros([2, 8, 8, 2]))
    with tf.GradientTape() as tape:
        loss = losses.histogram_loss(pred, ab)
    grad = tape.gradient(loss, pred)
    assert float(loss) > 0.1
    assert np.isfinite(grad.numpy()).all() and np.abs(grad.numpy()).sum() > 0


def test_perceptual_weights_none_disables_term():
    assert losses.build_vgg_features("none") is None
    assert losses.build_vgg_features("") is None


def test_perceptual_weights_missing_file_is_clear():
    with pytest.raises(losses.PerceptualWeightsError, match="neither"):
        losses.build_vgg_features("/nonexistent/vgg19.h5")


def test_perceptual_imagenet_offline_message(monkeypatch):
    from keras.src.applications import vgg19

    def offline(*args, **kwargs):
        raise Exception(
            "URL fetch failure on https://example.invalid/vgg19.h5: None -- "
            "[Errno -2] Name or service not known"
        )

    monkeypatch.setattr(vgg19.file_utils, "get_file", offline)
    with pytest.raises(losses.PerceptualWeightsError) as info:
        losses.build_vgg_features("imagenet")
    message = str(info.value)
    assert "perceptual_weights=none" in message and "/path/to/it" in message
    assert "\n" not in message


def test_perceptual_loss_from_weights_file(tmp_path):
    vgg = keras.applications.VGG19(
        include_top=False, weights=None, input_shape=(32, 32, 3)
    )
    path = tmp_path / "vgg19_notop.weights.h5"
    vgg.save_weights(str(path))
    features = losses.build_vgg_features(str(path))
    assert features.output.shape[-1] == 512
    rng = np.random.default_rng(1)
    l_net = tf.constant(rng.uniform(-0.8, 0.8, (1, 32, 32, 1)), tf.float32)
    ab = tf.constant(rng.uniform(-0.4, 0.4, (1, 32, 32, 2)), tf.float32)
    same = losses.perceptual_loss(features, l_net, ab, ab)
    other = losses.perceptual_loss(features, l_net, ab, -ab)
    assert float(same) == pytest.approx(0.0, abs=1e-6)
    assert float(other) > 0.0
    assert same.dtype == tf.float32


def test_vgg_preprocess_caffe_convention():
    rgb = tf.constant([[[1.0, 0.0, 0.0]]])
    out = losses.vgg_preprocess(rgb).numpy()[0, 0]
    np.testing.assert_allclose(out, [0 - 103.939, 0 - 116.779, 255 - 123.68], atol=1e-3)


def test_color_helpers_used_by_losses_are_inverse():
    x = tf.constant([0.0, 50.0, 100.0])
    np.testing.assert_allclose(color.net_to_l(color.l_to_net(x)).numpy(), x.numpy())
