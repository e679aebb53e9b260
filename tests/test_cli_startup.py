"""The command's start-up: quiet unless --verbose, --precision, references
decoded small (and a one-line error for a broken one)."""

import os
import pathlib
import subprocess
import sys

import pytest
from conftest import synthetic_photo
from PIL import Image

from attention_colorization import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def inputs(tmp_path):
    """A gray photo and a JPEG reference."""
    gray = tmp_path / "gray.png"
    Image.fromarray(synthetic_photo(37, 45, 1)).convert("L").save(gray)
    ref = tmp_path / "ref.jpg"
    Image.fromarray(synthetic_photo(40, 40, 2)).save(ref)
    return {"gray": gray, "ref": ref, "root": tmp_path}


def _run(capsys, *args):
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# TensorFlow's start-up lines: CUDA probing, oneDNN, CPU features, absl.
NOISE = (
    "cuda",
    "onednn",
    "cpu_feature_guard",
    "cpu instructions",
    "rebuild tensorflow",
    "absl::initializelog",
)


def _noise(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    return [line for line in lines if any(n in line.lower() for n in NOISE)]


def _console(args, verbose=False):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "attention_colorization.cli", *map(str, args)]
        + (["--verbose"] if verbose else []),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )


def test_console_is_quiet_unless_verbose(inputs, tiny_workdir):
    args = ["--input", inputs["gray"], "--reference", inputs["ref"], "--weights"]
    args += [tiny_workdir, "--output", inputs["root"] / "quiet.png"]
    done = _console(args)
    assert done.returncode == 0, done.stderr
    assert not _noise(done.stderr), done.stderr
    assert "wrote" in done.stdout
    loud = _console(args + ["--overwrite"], verbose=True)
    assert loud.returncode == 0, loud.stderr
    # --verbose shows TensorFlow's start-up lines (a CPU-only machine prints
    # the CUDA probe and CPU features) and the precision "auto" chose, once.
    assert _noise(loud.stderr), loud.stderr
    assert loud.stderr.count("precision auto:") == 1, loud.stderr


def test_precision_flag(capsys, inputs, tiny_workdir):
    code, out, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--output",
        inputs["root"] / "bf16.png",
        "--weights",
        tiny_workdir,
        "--precision",
        "bfloat16",
    )
    assert code == 0, err
    with pytest.raises(SystemExit) as exit_info:
        cli.run(["--precision", "float16"])
    assert exit_info.value.code == 2


def test_broken_reference_is_one_line_before_the_model_loads(
    capsys, inputs, tiny_workdir, monkeypatch
):
    from attention_colorization import colorizer

    def no_load(*args, **kwargs):
        raise AssertionError("the model must not load for a bad reference")

    monkeypatch.setattr(colorizer.Colorizer, "load", no_load)
    broken = inputs["root"] / "broken.jpg"
    broken.write_bytes(b"not a jpeg at all")
    code, out, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        broken,
        "--output",
        inputs["root"] / "x.png",
        "--weights",
        tiny_workdir,
    )
    assert code != 0 and not out
    assert len(err.strip().splitlines()) == 1 and "error: reference" in err


def test_truncated_jpeg_reference_is_one_line(capsys, inputs, tiny_workdir):
    data = inputs["ref"].read_bytes()
    truncated = inputs["root"] / "truncated.jpg"
    truncated.write_bytes(data[: len(data) // 2])  # the header reads, the decode fails
    code, out, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        truncated,
        "--output",
        inputs["root"] / "y.png",
        "--weights",
        tiny_workdir,
    )
    assert code != 0
    assert len(err.strip().splitlines()) == 1 and "error: reference" in err
