"""The training workdir: its layout, the resolved config, and loading a model from it.

    WORKDIR/config.json           the resolved config (ml_collections JSON)
    WORKDIR/checkpoints/          tf.train checkpoints (generator, discriminator,
                                  both optimizers, step, stage)
    WORKDIR/tensorboard/train/    TensorBoard scalars, images, histograms
    WORKDIR/tensorboard/validation/
    WORKDIR/model.weights.h5      the final generator weights

A workdir with ``config.json`` and ``model.weights.h5`` is a loadable model;
:func:`load_generator` takes any model that
:func:`attention_colorization.weights_path.resolve_weights` finds.
"""

from __future__ import annotations

import json
import os
import pathlib

import ml_collections

from attention_colorization.atomic import atomic_write_text
from attention_colorization.config import check_inference_size
from attention_colorization.weights_path import (  # noqa: F401 (re-exported)
    CONFIG_FILE,
    WEIGHTS_FILE,
    ModelPath,
    resolve_weights,
)

CHECKPOINT_DIR = "checkpoints"
TENSORBOARD_DIR = "tensorboard"
# Fields that change the network's variables: a resumed run must not change them.
ARCHITECTURE_FIELDS = (
    ("model", "width"),
    ("model", "num_bins"),
    ("model", "confidence_topk"),
    ("model", "matching"),
    ("model", "residual_decoder"),
    ("data", "image_size"),
)


def save_config(config: ml_collections.ConfigDict, workdir: os.PathLike) -> None:
    atomic_write_text(pathlib.Path(workdir) / CONFIG_FILE, config.to_json(indent=2))


def load_config(path: os.PathLike) -> ml_collections.ConfigDict:
    """Reads a ``config.json`` (a file, or the workdir that holds it)."""
    path = pathlib.Path(path)
    if path.is_dir():
        path = path / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_FILE} at {path}")
    from attention_colorization.config import default_config

    config = default_config()
    saved = json.loads(path.read_text())
    _merge(config, saved)
    return config


def _merge(config: ml_collections.ConfigDict, values: dict) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and key in config:
            _merge(config[key], value)
        else:
            config[key] = value


def check_compatible(
    saved: ml_collections.ConfigDict, config: ml_collections.ConfigDict
):
    """Raises ValueError when resuming would change the network's architecture."""
    for section, field in ARCHITECTURE_FIELDS:
        old, new = saved[section][field], config[section][field]
        if old != new:
            raise ValueError(
                f"the workdir was trained with {section}.{field}={old!r} but the config "
                f"says {new!r}; use a new --workdir or the original value"
            )


def save_weights_atomic(model, path: os.PathLike) -> None:
    """``model.save_weights`` to a temporary ``*.weights.h5`` beside ``path``, then renames."""
    path = pathlib.Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        model.save_weights(str(tmp))
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_generator(
    path: os.PathLike | ModelPath | None = None, inference_size: int | None = None
):
    """Builds a generator and loads its weights.

    Args:
        path: None for the bundled demo model, a workdir (``config.json`` +
            ``model.weights.h5``), a ``*.weights.h5`` file with ``config.json``
            beside it, or a :class:`ModelPath` (see
            :func:`attention_colorization.weights_path.resolve_weights`).
        inference_size: the resolution the network runs at, overriding the
            model's ``model.inference_size`` (a multiple of 8, at least 16);
            None or 0 keeps the model's.

    Returns:
        (generator, config). With ``model.inference_size`` set, the generator
        runs at that resolution (every weight is resolution-independent) and
        the returned config's ``data.image_size`` says so.

    Raises:
        attention_colorization.weights_path.ModelPathError: (a
            ``FileNotFoundError``) a path that is none of these.
        ValueError: an ``inference_size`` that is not a multiple of 8 >= 16.
    """
    if inference_size:
        check_inference_size(inference_size)
    model = resolve_weights(path)  # Before importing TensorFlow: fails fast.
    from attention_colorization.model import build_generator

    config = load_config(model.config_file)
    if inference_size:
        config.model.inference_size = int(inference_size)
    if config.model.inference_size:
        config.data.image_size = int(config.model.inference_size)
    generator = build_generator(config)
    generator.load_weights(str(model.weights_file))
    return generator, config
