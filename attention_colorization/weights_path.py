"""One way to find a model: what ``--weights`` (or ``--saved_model``) points at.

    model = resolve_weights(None)                # the bundled demo model
    model = resolve_weights("workdirs/demo")     # a training workdir
    model = resolve_weights("run/model.weights.h5")  # config.json beside it
    model = resolve_weights("/models/colorizer/1", accept=ALL_KINDS)  # SavedModel
    generator, config = workdir.load_generator(model)

A model is one of:

* ``bundled``: no path (None or ""): the demo model shipped in the package,
  ``attention_colorization/weights/demo/`` (``config.json`` +
  ``model.weights.h5``);
* ``workdir``: a folder with ``config.json`` and ``model.weights.h5`` (a
  finished training run);
* ``weights_file``: a ``*.weights.h5`` file with ``config.json`` beside it;
* ``saved_model``: a SavedModel version folder (``saved_model.pb``), as
  written by ``attention-colorize-export saved_model``; only where a command
  takes one (the TFLite converter, the client).

Anything else raises :class:`ModelPathError` (a ``FileNotFoundError``) with
one message, one line: ``PATH: not a model (REASON); expected WHAT``.
Nothing here imports TensorFlow, so a wrong path fails fast.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import Collection

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
WEIGHTS_SUFFIX = ".weights.h5"
SAVED_MODEL_FILE = "saved_model.pb"
DEMO_WEIGHTS_DIR = "demo"  # attention_colorization/weights/demo/

BUNDLED = "bundled"
WORKDIR = "workdir"
WEIGHTS = "weights_file"
SAVED_MODEL = "saved_model"
KERAS_KINDS = (BUNDLED, WORKDIR, WEIGHTS)  # What builds a Keras generator.
ALL_KINDS = (*KERAS_KINDS, SAVED_MODEL)

_EXPECTED = {
    WORKDIR: f"a training workdir ({CONFIG_FILE} + {WEIGHTS_FILE})",
    WEIGHTS: f"a *{WEIGHTS_SUFFIX} file with {CONFIG_FILE} beside it",
    SAVED_MODEL: f"a SavedModel version folder ({SAVED_MODEL_FILE})",
}


class ModelPathError(FileNotFoundError):
    """A path that is not a model of the accepted kinds; the message is one line."""


@dataclasses.dataclass(frozen=True)
class ModelPath:
    """A resolved model.

    Attributes:
        kind: one of :data:`ALL_KINDS`.
        path: the folder (bundled, workdir, SavedModel) or the weights file.
        weights_file: the ``*.weights.h5`` to load (None for a SavedModel).
        config_file: its ``config.json`` (None for a SavedModel).
    """

    kind: str
    path: pathlib.Path
    weights_file: pathlib.Path | None = None
    config_file: pathlib.Path | None = None

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)


def bundled_dir() -> pathlib.Path:
    """Folder of the bundled demo model (in the installed package)."""
    return pathlib.Path(__file__).resolve().parent / "weights" / DEMO_WEIGHTS_DIR


def expected(accept: Collection[str] = KERAS_KINDS) -> str:
    """What a path of the accepted kinds looks like, in words."""
    items = [
        _EXPECTED[kind] for kind in (WORKDIR, WEIGHTS, SAVED_MODEL) if kind in accept
    ]
    if len(items) <= 2:
        return " or ".join(items)
    return ", ".join(items[:-1]) + ", or " + items[-1]


def _error(subject, reason: str, accept: Collection[str]) -> ModelPathError:
    return ModelPathError(
        f"{subject}: not a model ({reason}); expected {expected(accept)}"
    )


def _saved_model_versions(folder: pathlib.Path) -> list[int]:
    """Numbered subfolders holding a SavedModel (a TF Serving base folder)."""
    try:
        children = list(folder.iterdir())
    except OSError:
        return []
    return sorted(
        int(child.name)
        for child in children
        if re.fullmatch(r"\d+", child.name) and (child / SAVED_MODEL_FILE).is_file()
    )


def _keras_model(
    kind: str, path: pathlib.Path, weights_file: pathlib.Path
) -> ModelPath | str:
    """The model of a weights file, or why it is not one."""
    if not weights_file.is_file():
        return f"no {WEIGHTS_FILE} in it"
    config_file = weights_file.parent / CONFIG_FILE
    if not config_file.is_file():
        return f"no {CONFIG_FILE} beside {weights_file.name}"
    return ModelPath(kind, path, weights_file, config_file)


def _classify(path: pathlib.Path, accept: Collection[str]) -> ModelPath | str:
    """The model at ``path`` (of any kind), or why it is not one."""
    keras = bool({WORKDIR, WEIGHTS} & set(accept))
    if path.is_dir():
        if (path / SAVED_MODEL_FILE).is_file():
            return ModelPath(SAVED_MODEL, path)
        found = _keras_model(WORKDIR, path, path / WEIGHTS_FILE)
        if not isinstance(found, str):
            return found
        versions = _saved_model_versions(path) if SAVED_MODEL in accept else []
        if versions:
            latest = path / str(versions[-1])
            return f"a SavedModel base folder; give a version, e.g. {latest}"
        return found if keras else f"no {SAVED_MODEL_FILE} in it"
    if path.is_file():
        if path.name.endswith(WEIGHTS_SUFFIX):
            return _keras_model(WEIGHTS, path, path)
        return f"not a *{WEIGHTS_SUFFIX} file" if keras else "a file, not a folder"
    return "no such file or folder"


_NOT_TAKEN = {
    SAVED_MODEL: "a SavedModel, which this command does not take",
    WORKDIR: "Keras weights, which this command does not take",
    WEIGHTS: "Keras weights, which this command does not take",
}


def resolve_weights(
    weights: str | os.PathLike | None = None,
    accept: Collection[str] = KERAS_KINDS,
) -> ModelPath:
    """Finds the model that ``weights`` names.

    Args:
        weights: None or "" for the bundled demo model, else a workdir, a
            ``*.weights.h5`` file or a SavedModel version folder (a
            :class:`ModelPath` is checked again and returned).
        accept: the kinds this caller can use (:data:`KERAS_KINDS` by default;
            :data:`ALL_KINDS` to take a SavedModel as well).

    Returns:
        A :class:`ModelPath`.

    Raises:
        ModelPathError: a path that is none of the accepted kinds, a missing
            or incomplete bundled model, or no path where no default applies.
    """
    if isinstance(weights, ModelPath):
        weights = weights.path if weights.kind != BUNDLED else None
    if weights is None or str(weights) == "":
        if BUNDLED not in accept:
            raise _error("(no path given)", "there is no default model here", accept)
        folder = bundled_dir()
        found = _keras_model(BUNDLED, folder, folder / WEIGHTS_FILE)
        if isinstance(found, str):
            raise _error(
                f"the bundled demo model {folder}",
                f"{found}; reinstall the package or give a model",
                accept,
            )
        return found
    path = pathlib.Path(weights).expanduser()
    found = _classify(path, accept)
    if isinstance(found, str):
        raise _error(path, found, accept)
    if found.kind not in accept:
        raise _error(path, _NOT_TAKEN[found.kind], accept)
    return found
