"""Colour augmentation of training pairs: one transform for target and reference."""

import math

import numpy as np
import pytest
import tensorflow as tf

from attention_colorization import color
from attention_colorization.config import default_config
from attention_colorization.data import augment, make_dataset


def _mean_hue_deg(ab):
    """Chroma-weighted mean hue (degrees) of ab ``[..., 2]``."""
    ab = np.asarray(ab, np.float64).reshape(-1, 2)
    return math.degrees(math.atan2(ab[:, 1].sum(), ab[:, 0].sum()))


def _hue_shift(before, after):
    return (_mean_hue_deg(after) - _mean_hue_deg(before) + 180.0) % 360.0 - 180.0


def _random_lab(rng, size):
    l_chan = rng.uniform(20, 80, (size, size, 1))
    ab = np.stack(
        [rng.normal(30, 8, (size, size)), rng.normal(10, 8, (size, size))], -1
    )
    return tf.constant(np.concatenate([l_chan, ab], -1), tf.float32)


def test_rotate_ab_moves_hue_and_scales_chroma():
    ab = tf.constant([[30.0, 0.0], [0.0, 20.0]])
    out = augment.rotate_ab(ab, math.pi / 2, 1.5).numpy()
    np.testing.assert_allclose(out, [[0.0, 45.0], [-30.0, 0.0]], atol=1e-4)


def test_one_transform_for_target_and_reference_inside_dataset_map():
    rng = np.random.default_rng(0)
    target, ref = _random_lab(rng, 16), _random_lab(rng, 12)

    def apply(index):
        seed = tf.stack([tf.constant(7, tf.int64), index])
        return augment.augment_pair_colors(
            target,
            ref,
            seed,
            probability=1.0,
            max_angle_deg=170.0,
            chroma_range=(0.8, 1.2),
        )

    ds = tf.data.Dataset.range(6).map(apply)
    shifts = []
    for out_target, out_ref in ds:
        # L untouched.
        np.testing.assert_allclose(out_target[..., 0], target[..., 0])
        np.testing.assert_allclose(out_ref[..., 0], ref[..., 0])
        t_shift = _hue_shift(target[..., 1:], out_target[..., 1:])
        r_shift = _hue_shift(ref[..., 1:], out_ref[..., 1:])
        assert t_shift == pytest.approx(r_shift, abs=0.5)
        shifts.append(t_shift)
    # Different elements get different angles.
    assert np.ptp(shifts) > 10.0
    # Eager and in-map results agree (deterministic from the seed).
    eager_target, _ = apply(tf.constant(3, tf.int64))
    mapped = list(ds.skip(3).take(1))[0][0]
    np.testing.assert_allclose(eager_target, mapped, atol=1e-5)


def test_probability_zero_is_identity():
    rng = np.random.default_rng(1)
    target, ref = _random_lab(rng, 8), _random_lab(rng, 8)
    out_t, out_r = augment.augment_pair_colors(
        target, ref, tf.constant([1, 2], tf.int64), 0.0, 180.0, (0.5, 1.5)
    )
    np.testing.assert_allclose(out_t, target)
    np.testing.assert_allclose(out_r, ref)


def test_pipeline_augments_training_pairs_only(photo_dir):
    config = default_config()
    config.data.train_dir = str(photo_dir)
    config.data.val_dir = str(photo_dir)
    config.data.image_size = 32
    config.data.resize_short = 40
    config.data.related_prob = 1.0
    config.data.deterministic = True
    config.data.color_aug_prob = 1.0
    config.train.batch_size = 2

    plain = config.copy_and_resolve_references()
    plain.data.color_aug_prob = 0.0

    aug = next(iter(make_dataset(config, "train")))
    ref = next(iter(make_dataset(plain, "train")))
    # Same crops (same seeds), same L; ab rotated.
    np.testing.assert_allclose(aug["l"], ref["l"], atol=1e-4)
    assert float(tf.reduce_max(tf.abs(aug["ab"] - ref["ab"]))) > 1.0
    # The histogram is the augmented reference's.
    hist = color.reference_histogram(
        aug["ref_lab"][..., 1:], floor=config.data.hist_floor
    )
    np.testing.assert_allclose(aug["ref_hist"], hist, atol=1e-5)
    # Validation is never augmented.
    val_aug = next(iter(make_dataset(config, "val")))
    val_ref = next(iter(make_dataset(plain, "val")))
    np.testing.assert_allclose(val_aug["ab"], val_ref["ab"], atol=1e-5)
