"""The palette prior: each palette colour where its lightness fits, and its effect."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from attention_colorization import Colorizer, color
from attention_colorization.evaluation import metrics
from attention_colorization.palette_prior import palette_prior

DARK_BLUE, LIGHT_YELLOW = (0.05, 0.1, 0.45), (0.98, 0.92, 0.3)


def _nearest_bin(rgb) -> int:
    ab = color.rgb_to_lab(tf.constant([[rgb]], tf.float32))[0, 0, 1:]
    return int(np.argmin(np.linalg.norm(color.ab_bins() - ab.numpy(), axis=-1)))


def test_prior_puts_each_colour_in_its_lightness_band():
    lightness = np.tile(np.linspace(5.0, 95.0, 16, dtype=np.float32), (16, 1))
    # Given light first: the prior sorts the palette by lightness itself.
    prior = palette_prior(lightness, [LIGHT_YELLOW, DARK_BLUE]).numpy()
    assert prior.shape == (16, 16, color.NUM_BINS)
    np.testing.assert_allclose(prior.sum(-1), 1.0, atol=1e-5)
    blue, yellow = _nearest_bin(DARK_BLUE), _nearest_bin(LIGHT_YELLOW)
    dark, light = prior[:, :4].mean((0, 1)), prior[:, -4:].mean((0, 1))
    assert dark[blue] > 20 * dark[yellow]
    assert light[yellow] > 20 * light[blue]


def test_prior_keeps_a_colour_off_the_lightness_where_it_cannot_be_shown():
    """A bright yellow cannot be shown at L 50 (it would lose 19 of its 75
    units of chroma): the gamut fit hands those pixels to the navy, which fits
    there, where the lightness bands alone give them to the yellow."""
    navy, yellow = (0.15, 0.17, 0.25), (0.98, 0.92, 0.3)  # L 18 and 92
    lightness = np.full((8, 8), 10.0, np.float32)
    lightness[:, 4:6] = 50.0  # quantiles 0.50-0.75: the yellow's band
    lightness[:, 6:] = 90.0  # quantiles 0.75-1: the yellow's band, in gamut
    navy_bin, yellow_bin = _nearest_bin(navy), _nearest_bin(yellow)
    fit = palette_prior(lightness, [navy, yellow]).numpy()
    bands = palette_prior(lightness, [navy, yellow], gamut_fit=None).numpy()
    np.testing.assert_allclose(fit.sum(-1), 1.0, atol=1e-5)
    at_50_fit, at_50_bands = fit[:, 4:6].mean((0, 1)), bands[:, 4:6].mean((0, 1))
    assert at_50_bands[yellow_bin] > at_50_bands[navy_bin]
    assert at_50_fit[navy_bin] > 5 * at_50_fit[yellow_bin]
    # Where the yellow can be shown, the fit changes nothing.
    np.testing.assert_allclose(fit[:, 6:], bands[:, 6:], atol=1e-5)
    assert fit[:, 6:].mean((0, 1))[yellow_bin] > 5 * fit[:, 6:].mean((0, 1))[navy_bin]


def test_prior_of_one_colour_is_its_histogram_everywhere():
    lightness = np.random.default_rng(0).uniform(0, 100, (8, 8)).astype(np.float32)
    prior = palette_prior(lightness, [DARK_BLUE], floor=1e-4).numpy()
    expected = color.palette_histogram(np.array([DARK_BLUE]), 1e-4).numpy()
    np.testing.assert_allclose(prior, np.broadcast_to(expected, prior.shape), atol=1e-5)


def test_bundled_model_paints_a_two_colour_palette_by_lightness():
    """Dark pixels take the dark colour and light pixels the light one."""
    gray = np.tile(np.linspace(10, 245, 128).astype(np.uint8), (128, 1))
    palette = ["#0d1a73", "#faeb4d"]  # DARK_BLUE, LIGHT_YELLOW
    colorizer = Colorizer.load()
    out = colorizer.colorize(gray, palette=palette)
    lab = color.rgb_to_lab(tf.constant(out, tf.float32) / 255.0).numpy()
    dark_b, light_b = lab[:, :32, 2].mean(), lab[:, -32:, 2].mean()
    assert dark_b < -5.0 < 5.0 < light_b, (dark_b, light_b)  # blue, then yellow

    swatch = np.repeat(np.array([[[13, 26, 115], [250, 235, 77]]], np.uint8), 64, 1)
    automatic = colorizer.colorize(gray)
    assert metrics.his(out, swatch) > metrics.his(automatic, swatch) + 0.2


def test_colorizer_follows_the_models_palette_likelihood_setting():
    """The bundled model colours a palette from the prior alone
    (``model.palette_likelihood = False``); switched on, its DCM's classifier
    weighs in and the picture changes."""
    gray = np.tile(np.linspace(10, 245, 64).astype(np.uint8), (64, 1))
    palette = ["#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51"]
    colorizer = Colorizer.load(inference_size=64)
    assert colorizer.config.model.palette_likelihood is False
    prior_only = colorizer.colorize(gray, palette=palette).astype(np.float32)
    colorizer.config.model.palette_likelihood = True
    weighed = colorizer.colorize(gray, palette=palette).astype(np.float32)
    assert np.abs(prior_only - weighed).mean() > 1.0
