"""The ``attention-colorize-export`` dispatcher and the commands' fast failures.

No TensorFlow here: a wrong path fails before it is imported. The commands'
real work is tested in test_export.py.
"""

import pathlib
import subprocess
import sys
import tomllib

import pytest

from attention_colorization.export import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _exit_code(capsys, argv):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_usage_without_a_subcommand(capsys):
    code, out, err = _exit_code(capsys, [])
    assert (
        code == 2 and out == "" and err.startswith("usage: attention-colorize-export")
    )
    code, out, err = _exit_code(capsys, ["--help"])
    assert code == 0 and "saved_model" in out and "tflite" in out


def test_unknown_subcommand(capsys):
    code, out, err = _exit_code(capsys, ["onnx", "--output=x"])
    assert code == 2
    assert err.startswith(
        "error: unknown subcommand 'onnx'; expected one of saved_model, tflite"
    )


def test_console_scripts_point_at_the_package():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert (
        scripts["attention-colorize-export"] == "attention_colorization.export.cli:main"
    )
    assert (
        scripts["attention-colorize-client"]
        == "attention_colorization.export.client:main"
    )


def _one_error_line(err: str) -> str:
    (line,) = err.strip().splitlines()
    assert line.startswith("error: ")
    return line


def test_saved_model_command_bad_weights(tmp_path, capsys):
    code = cli.export_saved_model(str(tmp_path / "nowhere"), str(tmp_path / "m"))
    line = _one_error_line(capsys.readouterr().err)
    assert code == 1 and "nowhere: not a model (no such file or folder)" in line
    assert not (tmp_path / "m").exists()


def test_tflite_command_refusals(tmp_path, capsys):
    output = str(tmp_path / "m.tflite")
    assert cli.export_tflite(output, saved_model="a", weights="b") == 1
    assert "not both" in _one_error_line(capsys.readouterr().err)
    assert cli.export_tflite(output, saved_model=str(tmp_path)) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "no saved_model.pb in it" in line and line.endswith("(saved_model.pb)")
    assert cli.export_tflite(output, weights=str(tmp_path / "x.h5")) == 1
    line = _one_error_line(capsys.readouterr().err)
    assert "no such file or folder" in line and "SavedModel version folder" in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("subcommand", ["saved_model", "tflite"])
def test_subcommand_help_is_its_own(subcommand):
    result = subprocess.run(
        [sys.executable, "-m", "attention_colorization.export", subcommand, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]  # absl: 1
    text = result.stdout + result.stderr
    assert "Traceback" not in text
    assert f"attention-colorize-export {subcommand} --" in text
    assert "--weights:" in text  # Its flags are listed, not only --helpfull's.
    assert ("--export_dir" in text) == (subcommand == "saved_model")
    assert ("--quantize" in text) == (subcommand == "tflite")


def test_required_flag(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "attention_colorization.export", "tflite"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 1 and "--output" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_import_path_edits():
    """Export works from an installed package: nothing edits ``sys.path``."""
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("attention_colorization", "export", "tools")
        for path in (ROOT / folder).rglob("*.py")
        if "sys.path" in path.read_text()
    ]
    assert offenders == []
