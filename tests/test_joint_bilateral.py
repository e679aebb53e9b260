"""Joint bilateral upsampling of the fused colour (the bundled model's decoder)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from attention_colorization.config import validate
from attention_colorization.layers import Decoder, JointBilateralUpsampling
from attention_colorization.layers.joint_bilateral import joint_bilateral_upsample
from tests.conftest import tiny_config


def _reference(color, guide, sigma_range, sigma_spatial, radius):
    """The filter pixel by pixel in numpy: the formula of the docstring."""
    batch, grid, _, channels = color.shape
    size = guide.shape[1]
    factor = size // grid
    cell = guide.reshape(batch, grid, factor, grid, factor).mean(axis=(2, 4))
    out = np.zeros((batch, size, size, channels))
    for b in range(batch):
        for y in range(size):
            for x in range(size):
                py, px = (y + 0.5) / factor, (x + 0.5) / factor
                num, den = 0.0, 0.0
                for qy in range(int(py) - radius, int(py) + radius + 1):
                    for qx in range(int(px) - radius, int(px) + radius + 1):
                        cy, cx = min(max(qy, 0), grid - 1), min(max(qx, 0), grid - 1)
                        d2 = (py - qy - 0.5) ** 2 + (px - qx - 0.5) ** 2
                        w = np.exp(-d2 / (2 * sigma_spatial**2))
                        w *= np.exp(
                            -((guide[b, y, x, 0] - cell[b, cy, cx]) ** 2)
                            / (2 * sigma_range**2)
                        )
                        num, den = num + w * color[b, cy, cx], den + w
                out[b, y, x] = num / den
    return out


@pytest.mark.parametrize("sigmas", [(5.0, 1.0, 1), (20.0, 0.7, 2)])
def test_matches_the_formula_pixel_by_pixel(sigmas):
    rng = np.random.default_rng(0)
    color = rng.normal(size=(2, 4, 4, 2)).astype(np.float32)
    guide = rng.uniform(0, 100, (2, 16, 16, 1)).astype(np.float32)
    got = joint_bilateral_upsample(color, guide, *sigmas).numpy()
    np.testing.assert_allclose(got, _reference(color, guide, *sigmas), atol=1e-5)


def test_keeps_a_colour_edge_that_bilinear_blurs():
    """Two regions of L (20 | 80) with their own colours (+0.5 | -0.5), the edge
    inside a grid cell: joint bilateral gives each pixel its side's colour."""
    size, grid = 32, 8
    guide = np.full((1, size, size, 1), 20.0, np.float32)
    guide[:, :, 14:] = 80.0  # the edge at x = 14: inside cell 3 (x 12..15)
    color = np.where(np.arange(grid) < 4, 0.5, -0.5).astype(np.float32)
    color = np.broadcast_to(color[None, None, :, None], (1, grid, grid, 2)).copy()
    color[:, :, 3] = 0.0  # cell 3 holds both sides: their mean
    want = np.where(np.arange(size) < 14, 0.5, -0.5)[None, None, :, None]
    joint = joint_bilateral_upsample(color, guide, 5.0, 1.0, 1).numpy()
    bilinear = tf.image.resize(color, [size, size], "bilinear").numpy()
    near = slice(10, 18)  # the pixels around the edge
    assert np.abs(joint - want)[:, :, near].max() < 0.1
    assert np.abs(bilinear - want)[:, :, near].max() > 0.3


def test_is_a_convex_combination():
    """No overshoot: each output lies within its channel's grid range, and a
    constant grid stays constant whatever the guide."""
    rng = np.random.default_rng(1)
    color = rng.uniform(-1, 1, (1, 8, 8, 2)).astype(np.float32)
    guide = rng.uniform(0, 100, (1, 32, 32, 1)).astype(np.float32)
    out = JointBilateralUpsampling(sigma_range=2.0)(color, guide).numpy()
    assert out.shape == (1, 32, 32, 2)
    assert np.all(out >= color.min((1, 2), keepdims=True) - 1e-6)
    assert np.all(out <= color.max((1, 2), keepdims=True) + 1e-6)
    flat = np.full_like(color, 0.3)
    np.testing.assert_allclose(joint_bilateral_upsample(flat, guide), 0.3, atol=1e-6)


def test_decoder_and_config_checks():
    with pytest.raises(ValueError, match="needs a residual decoder"):
        Decoder(0.125, residual=False, upsampling="joint_bilateral")
    with pytest.raises(ValueError, match="upsampling must be one of"):
        Decoder(0.125, residual=True, upsampling="bicubic")
    with pytest.raises(ValueError, match="model.upsampling"):
        validate(tiny_config(**{"model.upsampling": "nearest"}))
    with pytest.raises(ValueError, match="residual_decoder"):
        validate(
            tiny_config(
                **{
                    "model.upsampling": "joint_bilateral",
                    "model.residual_decoder": False,
                }
            )
        )
    with pytest.raises(ValueError, match="sigmas must be positive"):
        JointBilateralUpsampling(sigma_range=0.0)


def test_generator_upsamples_the_fused_colour_guided_by_l():
    """An untrained residual decoder returns c' upsampled: with
    ``joint_bilateral`` that is the filter of c' guided by the input L."""
    from attention_colorization.model import build_generator

    config = tiny_config(
        **{"model.residual_decoder": True, "model.upsampling": "joint_bilateral"}
    )
    generator = build_generator(config)
    size = config.data.image_size
    rng = np.random.default_rng(2)
    inputs = {
        "l": rng.uniform(0, 100, (1, size, size, 1)).astype(np.float32),
        "ref_lab": np.concatenate(
            [
                rng.uniform(0, 100, (1, size, size, 1)),
                rng.uniform(-60, 60, (1, size, size, 2)),
            ],
            -1,
        ).astype(np.float32),
    }
    out = generator(inputs, stage=2, return_maps=True)
    want = joint_bilateral_upsample(out["fused_ab"], inputs["l"]).numpy()
    np.testing.assert_allclose(out["ab"].numpy(), np.clip(want, -1, 1), atol=1e-5)
