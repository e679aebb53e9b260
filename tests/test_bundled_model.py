"""Behaviour of the shipped demo model on its bundled example: it follows its reference.

These test the bundled weights, not the code: a model that recalls colours from
gray values and ignores its reference fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from attention_colorization import Colorizer, color
from attention_colorization.data.augment import rotate_ab
from attention_colorization.evaluation import metrics
from attention_colorization.weights_path import bundled_dir

ROTATION_DEG = 120.0


def _rotated(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """``rgb`` uint8 with its ab plane rotated by ``degrees`` (L kept, in gamut)."""
    lab = color.rgb_to_lab(tf.constant(rgb, tf.float32) / 255.0)
    ab = rotate_ab(lab[..., 1:], math.radians(degrees), 1.0)
    lab = color.fit_to_gamut(tf.concat([lab[..., :1], ab], axis=-1))
    return np.round(color.lab_to_rgb(lab).numpy() * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def example():
    folder = bundled_dir()
    gray = np.asarray(Image.open(folder / "example_gray.png"))
    reference = np.asarray(Image.open(folder / "example_reference.png").convert("RGB"))
    return gray, reference


@pytest.fixture(scope="module")
def colorizer():
    return Colorizer.load()


def test_rotated_reference_moves_the_output_hue(colorizer, example):
    gray, reference = example
    rotated = _rotated(reference, ROTATION_DEG)
    # The rotation really moved the reference's hue.
    assert metrics.hue_shift(reference, rotated) > 100.0
    out = colorizer.colorize(gray, reference=reference)
    out_rotated = colorizer.colorize(gray, reference=rotated)
    assert metrics.hue_shift(out, out_rotated) >= 60.0


def test_output_is_closest_to_its_own_reference(colorizer, example):
    gray, reference = example
    rotated = _rotated(reference, ROTATION_DEG)
    out = colorizer.colorize(gray, reference=reference)
    out_rotated = colorizer.colorize(gray, reference=rotated)
    assert metrics.his(out, reference) > metrics.his(out, rotated)
    assert metrics.his(out_rotated, rotated) > metrics.his(out_rotated, reference)
