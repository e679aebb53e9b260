"""Synthetic inputs: smooth, colourful photos and gray images of any size."""

from __future__ import annotations

import numpy as np


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, colourful uint8 RGB photo ``[height, width, 3]`` (gradients and a disc)."""
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
    disc_colour = rng.uniform(0, 255, size=3)
    out = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        channel = 127.5 + 127.5 * np.sin(3 * xx + 2 * yy + phase[c])
        out[..., c] = np.where(disc, disc_colour[c], channel).astype(np.uint8)
    return out


def synthetic_gray(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 gray image ``[height, width]``."""
    rgb = synthetic_photo(height, width, seed)
    gray = np.empty((height, width), np.uint8)
    for start in range(0, height, 512):  # Blocks: no full-size float temporaries.
        block = rgb[start : start + 512].astype(np.float32)
        gray[start : start + 512] = np.round(block @ [0.299, 0.587, 0.114])
    return gray
