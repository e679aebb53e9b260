"""Shared fixtures: small synthetic photos and quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402


def synthetic_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth, colourful uint8 RGB image [height, width, 3]: gradients plus a disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= max(height - 1, 1)
    xx /= max(width - 1, 1)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    img = np.stack(
        [0.5 + 0.5 * np.sin(3 * xx + 2 * yy + p) for p in phase], axis=-1
    )
    cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
    img[disc] = rng.uniform(0, 1, size=3)
    return (np.clip(img, 0, 1) * 255).astype(np.uint8)


@pytest.fixture(scope="session")
def photo_dir(tmp_path_factory):
    """A folder of 8 small synthetic photos (PNG and JPEG, one in a subfolder)."""
    root = tmp_path_factory.mktemp("photos")
    (root / "sub").mkdir()
    for i in range(8):
        h, w = 48 + 8 * (i % 3), 64 - 4 * (i % 2)
        img = Image.fromarray(synthetic_photo(h, w, seed=i))
        folder = root / "sub" if i == 7 else root
        if i % 2:
            img.save(folder / f"photo_{i}.jpg", quality=95)
        else:
            img.save(folder / f"photo_{i}.png")
    return root
