"""Shared fixtures: small synthetic photos and quiet TensorFlow."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

# Two logical CPU devices, so that MirroredStrategy runs with two replicas in tests.
# This must happen before TensorFlow initialises its runtime.
TEST_CPU_DEVICES = 2
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration()] * TEST_CPU_DEVICES,
)


def synthetic_photo(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth, colourful uint8 RGB image [height, width, 3]: gradients plus a disc."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    yy /= max(height - 1, 1)
    xx /= max(width - 1, 1)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    img = np.stack([0.5 + 0.5 * np.sin(3 * xx + 2 * yy + p) for p in phase], axis=-1)
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


def tiny_config(**overrides):
    """configs/test.py with dotted-name overrides, e.g. ``{"train.batch_size": 4}``."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "configs" / "test.py"
    spec = importlib.util.spec_from_file_location("test_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    for key, value in overrides.items():
        section, field = key.split(".")
        config[section][field] = value
    return config


@pytest.fixture(scope="session")
def tiny_workdir(tmp_path_factory):
    """A loadable workdir: the test config and untrained (random) weights."""
    from attention_colorization.model import build_generator
    from attention_colorization.workdir import WEIGHTS_FILE, save_config

    workdir = tmp_path_factory.mktemp("tiny_model")
    config = tiny_config()
    save_config(config, workdir)
    build_generator(config).save_weights(str(workdir / WEIGHTS_FILE))
    return workdir
