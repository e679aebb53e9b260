"""One way to find a model: weights_path.resolve_weights and every caller's use of it."""

import os
import pathlib

import pytest

from attention_colorization import weights_path
from attention_colorization.weights_path import (
    ALL_KINDS,
    BUNDLED,
    SAVED_MODEL,
    WEIGHTS,
    WORKDIR,
    ModelPath,
    ModelPathError,
    resolve_weights,
)

KERAS_EXPECTED = (
    "expected a training workdir (config.json + model.weights.h5) or a "
    "*.weights.h5 file with config.json beside it"
)
ALL_EXPECTED = (
    "expected a training workdir (config.json + model.weights.h5), a "
    "*.weights.h5 file with config.json beside it, or a SavedModel version "
    "folder (saved_model.pb)"
)


def _touch(path: pathlib.Path, text: str = "x") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def workdir(tmp_path):
    """A finished run's files (resolution only looks at names, not contents)."""
    _touch(tmp_path / "run" / "config.json", "{}")
    _touch(tmp_path / "run" / "model.weights.h5")
    (tmp_path / "run" / "checkpoints").mkdir()
    return tmp_path / "run"


@pytest.fixture
def saved_model(tmp_path):
    """A TF Serving base folder with versions 1 and 3."""
    for version in (1, 3):
        _touch(tmp_path / "served" / str(version) / "saved_model.pb")
        (tmp_path / "served" / str(version) / "variables").mkdir()
    return tmp_path / "served"


def _message(weights, accept=weights_path.KERAS_KINDS) -> str:
    with pytest.raises(ModelPathError) as info:
        resolve_weights(weights, accept=accept)
    message = str(info.value)
    assert "\n" not in message and ": not a model (" in message
    assert isinstance(info.value, FileNotFoundError)  # Old handlers still catch it.
    return message


# ----------------------------------------------------------------- the kinds


def test_bundled_default():
    for weights in (None, ""):
        model = resolve_weights(weights)
        assert model.kind == BUNDLED
        assert model.path == weights_path.bundled_dir()
        assert model.weights_file.is_file() and model.config_file.is_file()
        assert model.weights_file.name == "model.weights.h5"


def test_workdir(workdir):
    model = resolve_weights(workdir)
    assert model == ModelPath(
        WORKDIR, workdir, workdir / "model.weights.h5", workdir / "config.json"
    )
    assert os.fspath(model) == str(model) == str(workdir)


def test_weights_file_with_config_beside_it(tmp_path):
    _touch(tmp_path / "config.json", "{}")
    weights = _touch(tmp_path / "best-step9.weights.h5")
    model = resolve_weights(str(weights))
    assert (model.kind, model.weights_file) == (WEIGHTS, weights)
    assert model.config_file == tmp_path / "config.json"


def test_saved_model_where_it_applies(saved_model):
    version = saved_model / "3"
    model = resolve_weights(version, accept=ALL_KINDS)
    assert (model.kind, model.path) == (SAVED_MODEL, version)
    assert model.weights_file is None and model.config_file is None
    assert resolve_weights(version, accept=(SAVED_MODEL,)).kind == SAVED_MODEL


def test_a_model_path_and_home_are_resolved(workdir, monkeypatch):
    model = resolve_weights(workdir)
    assert resolve_weights(model) == model
    assert resolve_weights(resolve_weights(None)).kind == BUNDLED
    monkeypatch.setenv("HOME", str(workdir.parent))
    assert resolve_weights("~/run").path == workdir


# -------------------------------------------------------------- the one error


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda tmp: tmp / "nowhere", "no such file or folder"),
        (lambda tmp: tmp, "no model.weights.h5 in it"),  # An unfinished run.
        (lambda tmp: _touch(tmp / "model.weights.h5"), "no config.json beside"),
        (lambda tmp: _touch(tmp / "model.h5"), "not a *.weights.h5 file"),
        (lambda tmp: _touch(tmp / "v" / "saved_model.pb").parent, "a SavedModel,"),
    ],
)
def test_not_a_model(tmp_path, make, reason):
    path = make(tmp_path)
    message = _message(path)
    assert message.startswith(f"{path}: not a model ({reason}")
    assert message.endswith(KERAS_EXPECTED)


def test_not_a_model_where_saved_models_apply(tmp_path, saved_model, workdir):
    message = _message(tmp_path / "nowhere", ALL_KINDS)
    assert message.endswith(ALL_EXPECTED)
    message = _message(saved_model, ALL_KINDS)  # The base folder, not a version.
    assert f"a SavedModel base folder; give a version, e.g. {saved_model / '3'}" in (
        message
    )
    message = _message(workdir, (SAVED_MODEL,))
    assert "Keras weights, which this command does not take" in message
    assert message.endswith("expected a SavedModel version folder (saved_model.pb)")
    (tmp_path / "empty").mkdir()
    assert "no saved_model.pb in it" in _message(tmp_path / "empty", (SAVED_MODEL,))
    assert "there is no default" in _message(None, (SAVED_MODEL,))


def test_missing_bundled_model(tmp_path, monkeypatch):
    monkeypatch.setattr(weights_path, "bundled_dir", lambda: tmp_path)
    message = _message(None)
    assert message.startswith(f"the bundled demo model {tmp_path}: not a model (")
    assert "reinstall the package" in message and message.endswith(KERAS_EXPECTED)


# ------------------------------------------------------------------ callers


def test_every_caller_reports_the_same_message(tmp_path):
    from attention_colorization import workdir as workdir_lib
    from attention_colorization.benchmarks import settings

    missing = tmp_path / "nowhere"
    expected = _message(missing)
    for caller in (workdir_lib.load_generator, settings.resolve_weights):
        with pytest.raises(ModelPathError) as info:
            caller(missing)
        assert str(info.value) == expected, caller


def test_callers_take_every_kind(workdir):
    from attention_colorization.benchmarks import settings

    assert settings.resolve_weights(None) == weights_path.bundled_dir()
    assert settings.resolve_weights(str(workdir)) == workdir


def test_colorizer_load_reports_it(tmp_path):
    from attention_colorization import Colorizer

    with pytest.raises(ModelPathError, match="nowhere: not a model"):
        Colorizer.load(tmp_path / "nowhere")
