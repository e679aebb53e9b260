"""The attention-colorize command: files, folders, references, palettes, bad input."""

import io
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image

from attention_colorization import cli
from attention_colorization.weights_path import bundled_dir

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def inputs(tmp_path):
    """A gray photo, a reference, and a folder with three photos and one corrupt file."""
    gray = tmp_path / "gray.png"
    Image.fromarray(synthetic_photo(37, 45, 1)).convert("L").save(gray)
    ref = tmp_path / "ref.jpg"
    Image.fromarray(synthetic_photo(40, 40, 2)).save(ref)
    ref2 = tmp_path / "ref2.png"
    Image.fromarray(synthetic_photo(30, 50, 3)).save(ref2)
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(synthetic_photo(33, 41, 4)).save(folder / "a.png")
    Image.fromarray(synthetic_photo(29, 35, 5)).save(folder / "b.jpg")
    Image.fromarray(synthetic_photo(32, 32, 6)).save(folder / "sub" / "c.png")
    (folder / "broken.png").write_text("this is not a png")
    return {"gray": gray, "ref": ref, "ref2": ref2, "folder": folder, "root": tmp_path}


def _run(capsys, *args):
    code = cli.run([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_single_file(capsys, inputs, tiny_workdir):
    out_file = inputs["root"] / "out.png"
    code, out, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--output",
        out_file,
        "--weights",
        tiny_workdir,
    )
    assert code == 0, err
    assert Image.open(out_file).size == (45, 37)
    assert f"wrote {out_file}" in out


def test_folder_with_corrupt_file(capsys, inputs, tiny_workdir):
    out_dir = inputs["root"] / "out"
    code, out, err = _run(
        capsys,
        "--input",
        inputs["folder"],
        "--reference",
        inputs["ref"],
        "--output",
        out_dir,
        "--weights",
        tiny_workdir,
        "--quiet",
    )
    assert code == 1  # One file failed.
    assert "broken.png" in err and err.count("error:") == 1
    assert "3 colourised, 1 failed" in out
    assert Image.open(out_dir / "a.png").size == (41, 33)
    assert Image.open(out_dir / "b.png").size == (35, 29)
    assert Image.open(out_dir / "sub" / "c.png").size == (32, 32)
    assert not (out_dir / "broken.png").exists()
    assert not [p for p in out_dir.rglob("*") if p.name.startswith(".")]


def test_folder_prepares_the_references_once(capsys, inputs, tiny_workdir, monkeypatch):
    from attention_colorization import Colorizer

    calls = []
    original = Colorizer._reference
    monkeypatch.setattr(
        Colorizer,
        "_reference",
        lambda self, image: calls.append(1) or original(self, image),
    )
    code, out, err = _run(
        capsys,
        "--input",
        inputs["folder"],
        "--reference",
        inputs["ref"],
        "--reference",
        inputs["ref2"],
        "--output",
        inputs["root"] / "out_once",
        "--weights",
        tiny_workdir,
        "--quiet",
    )
    assert "3 colourised, 1 failed" in out, err
    assert len(calls) == 2  # one per reference, not per photo


def test_glob_several_references_maps_and_compare(capsys, inputs, tiny_workdir):
    out_dir = inputs["root"] / "glob_out"
    code, out, err = _run(
        capsys,
        "--input",
        inputs["folder"] / "*.png",
        "--reference",
        inputs["ref"],
        "--reference",
        inputs["ref2"],
        "--output",
        out_dir,
        "--weights",
        tiny_workdir,
        "--save_maps",
        "--compare",
        "--quiet",
    )
    assert code == 1 and "broken.png" in err  # The glob also matches broken.png.
    assert Image.open(out_dir / "a.png").size == (41, 33)
    assert Image.open(out_dir / "a_alpha.png").size == (41, 33)
    assert Image.open(out_dir / "a_match_0.png").size == (41, 33)
    assert Image.open(out_dir / "a_match_1.png").size == (41, 33)
    panel = Image.open(out_dir / "a_compare.png")
    # gray (41) | ref (40x40 at height 33 -> 33) | ref2 (50x30 -> 55) | result (41)
    assert panel.size == (41 + 33 + 55 + 41, 33)


def test_palette(capsys, inputs, tiny_workdir):
    out_file = inputs["root"] / "pal.png"
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--palette",
        "#d8a47f,#6b8f71",
        "--output",
        out_file,
        "--weights",
        tiny_workdir,
    )
    assert code == 0, err
    assert np.asarray(Image.open(out_file)).shape == (37, 45, 3)


def test_existing_output_needs_overwrite(capsys, inputs, tiny_workdir):
    out_file = inputs["root"] / "exists.png"
    out_file.write_bytes(b"keep me")
    args = [
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--output",
        out_file,
        "--weights",
        tiny_workdir,
    ]
    code, _, err = _run(capsys, *args)
    assert code == 1 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert out_file.read_bytes() == b"keep me"
    code, _, _ = _run(capsys, *args, "--overwrite")
    assert code == 0 and Image.open(out_file).size == (45, 37)


def _bad_files(root):
    (root / "zero.png").write_bytes(b"")
    (root / "text.png").write_text("hello")
    buf = io.BytesIO()
    Image.fromarray(synthetic_photo(64, 64, 1)).save(buf, format="JPEG")
    (root / "trunc.jpg").write_bytes(buf.getvalue()[:300])
    Image.fromarray(synthetic_photo(4, 4, 1)).save(root / "tiny.png")
    Image.fromarray(synthetic_photo(120, 120, 1)).save(root / "big.png")
    return {
        "missing.png": "no such file",
        "zero.png": "empty file",
        "text.png": "not a readable image",
        "trunc.jpg": "truncated",
        "tiny.png": "too small",
        "big.png": "too large",
    }


def test_glob_keeps_relative_paths_and_reports_name_clashes(
    capsys, inputs, tiny_workdir
):
    root = inputs["root"] / "clash"
    for sub in ("a", "b"):
        (root / sub).mkdir(parents=True)
        Image.fromarray(synthetic_photo(20, 24, 7)).save(root / sub / "1.png")
    Image.fromarray(synthetic_photo(20, 24, 8)).save(root / "a" / "1.jpg")
    out_dir = inputs["root"] / "clash_out"
    code, out, err = _run(
        capsys,
        "--input",
        root / "*" / "1.*",
        "--reference",
        inputs["ref"],
        "--output",
        out_dir,
        "--weights",
        tiny_workdir,
        "--quiet",
    )
    # a/1.jpg and a/1.png both map to a/1.png: the second is reported.
    assert code == 1 and "2 colourised, 1 failed" in out
    assert "a/1.png: its output name is taken" in err
    assert sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")) == [
        "a",
        "a/1.png",
        "b",
        "b/1.png",
        "failures.csv",
    ]


def test_unwritable_output_format_stops_before_the_model(capsys, inputs, monkeypatch):
    from attention_colorization import Colorizer

    def no_load(*args, **kwargs):
        raise AssertionError("the model must not be loaded for a bad --output")

    monkeypatch.setattr(Colorizer, "load", no_load)
    out_file = inputs["root"] / "out.psd"
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--output",
        out_file,
    )
    assert code == 2 and err.count("\n") == 1 and "cannot write image format" in err
    assert not out_file.exists()


def test_output_without_suffix_is_a_folder(capsys, inputs, tiny_workdir):
    out_dir = inputs["root"] / "results"
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--output",
        out_dir,
        "--weights",
        tiny_workdir,
    )
    assert code == 0, err
    assert Image.open(out_dir / "gray.png").size == (45, 37)


def test_compare_panel_of_a_sixteen_bit_input(capsys, inputs, tiny_workdir):
    gray16 = (synthetic_photo(30, 36, 9).mean(axis=-1) * 257).astype(np.uint16)
    source = inputs["root"] / "deep.png"
    Image.fromarray(gray16).save(source)
    out_file = inputs["root"] / "deep_out.png"
    code, _, err = _run(
        capsys,
        "--input",
        source,
        "--reference",
        inputs["ref"],
        "--output",
        out_file,
        "--weights",
        tiny_workdir,
        "--compare",
    )
    assert code == 0, err
    panel = np.asarray(Image.open(inputs["root"] / "deep_out_compare.png"))
    gray_panel = panel[:, :36, 0].astype(int)
    # The gray panel shows the photo (8-bit view of the 16-bit values), not white.
    np.testing.assert_allclose(gray_panel, np.round(gray16 / 257.0), atol=2)


def test_each_bad_input_is_one_line(capsys, inputs, tiny_workdir):
    for name, message in _bad_files(inputs["root"]).items():
        out_file = inputs["root"] / f"out_{name}.png"
        code, _, err = _run(
            capsys,
            "--input",
            inputs["root"] / name,
            "--reference",
            inputs["ref"],
            "--output",
            out_file,
            "--weights",
            tiny_workdir,
            "--max_pixels",
            "10000",
        )
        lines = err.strip().splitlines()
        assert code == 1, name
        assert (
            len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
        ), err
        assert not out_file.exists()


def test_bad_reference_and_usage(capsys, inputs, tiny_workdir):
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["root"] / "nope.jpg",
        "--weights",
        tiny_workdir,
    )
    assert code == 1 and "reference" in err and "no such file" in err
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--palette",
        "#fff",
    )
    assert code == 2 and "not both" in err
    code, _, err = _run(capsys, "--input", inputs["gray"], "--palette", "#zz")
    assert code == 2 and "palette" in err


def test_unwritable_output(capsys, inputs, tiny_workdir):
    blocker = inputs["root"] / "afile"
    blocker.write_text("x")
    code, _, err = _run(
        capsys,
        "--input",
        inputs["folder"],
        "--reference",
        inputs["ref"],
        "--output",
        blocker / "out",
        "--weights",
        tiny_workdir,
    )
    assert code == 1 and "cannot write" in err and len(err.strip().splitlines()) == 1


def test_bad_weights(capsys, inputs):
    code, _, err = _run(
        capsys,
        "--input",
        inputs["gray"],
        "--reference",
        inputs["ref"],
        "--weights",
        inputs["root"] / "no_such_workdir",
    )
    assert code == 1 and "cannot load weights" in err


def test_console_script_bad_input_no_traceback(tmp_path):
    (tmp_path / "text.png").write_text("hello")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "attention_colorization.cli",
            "--input",
            str(tmp_path / "text.png"),
            "--reference",
            str(tmp_path / "text.png"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: reference")


def test_no_arguments_colourises_the_bundled_example(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(capsys)
    assert code == 0, err
    example = Image.open(tmp_path / "colorized" / "example_gray.png")
    bundled = Image.open(bundled_dir() / "example_gray.png")
    assert example.size == bundled.size and example.mode == "RGB"
    for suffix in ("_compare", "_alpha", "_match"):
        assert (tmp_path / "colorized" / f"example_gray{suffix}.png").is_file()
    assert "colorized/example_gray.png" in out
    # The bundled model puts colour in: the result is not gray.
    rgb = np.asarray(example, np.int16)
    assert np.abs(rgb[..., 0] - rgb[..., 2]).mean() > 5


# ------------------------------------------------------- folder runs at scale


def _photo_folder(root, count: int) -> pathlib.Path:
    """``count`` tiny photos, each a different width (so each output names its input)."""
    folder = root / "photos"
    (folder / "sub").mkdir(parents=True)
    for i in range(count):
        sub = "sub/" if i % 3 == 2 else ""
        Image.fromarray(synthetic_photo(24, 24 + i, 10 + i)).save(
            folder / f"{sub}p{i}.png"
        )
    return folder


def _temporary_files(folder) -> list:
    return [p for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name]


def test_interrupted_folder_run_resumes_with_skip_existing(
    capsys, inputs, tiny_workdir, monkeypatch
):
    """Ctrl-C while the 4th of 7 outputs is being written, then --skip_existing.

    The output folder is inside the input folder: the resumed run must not take
    the first run's results for inputs.
    """
    from attention_colorization import Colorizer

    folder = _photo_folder(inputs["root"], 7)
    out_dir = folder / "colorized"
    colorized = []  # the input width of every colorize call
    original_colorize = Colorizer.colorize

    def counting_colorize(self, image, *args, **kwargs):
        colorized.append(np.asarray(image).shape[1])
        return original_colorize(self, image, *args, **kwargs)

    monkeypatch.setattr(Colorizer, "colorize", counting_colorize)
    original_save = Image.Image.save
    saves = []

    def interrupted_save(self, fp, *args, **kwargs):
        saves.append(1)
        if len(saves) == 4:  # Half a PNG, then Ctrl-C.
            fp.write(b"\x89PNG\r\n\x1a\n half")
            raise KeyboardInterrupt
        return original_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    args = ["--input", folder, "--reference", inputs["ref"], "--output", out_dir]
    args += ["--weights", tiny_workdir, "--quiet"]
    with pytest.raises(KeyboardInterrupt):
        _run(capsys, *args)
    capsys.readouterr()
    first = sorted(out_dir.rglob("*.png"))
    assert len(first) == 3 and len(colorized) == 4
    assert _temporary_files(out_dir) == []  # The half-written 4th was removed.
    stamps = {p: p.stat().st_mtime_ns for p in first}
    monkeypatch.setattr(Image.Image, "save", original_save)

    code, out, err = _run(capsys, *args, "--skip_existing")
    assert code == 0, err
    assert "4 colourised, 0 failed, 3 skipped (output exists)" in out
    # Each photo was colourised once to completion: the 4th twice (interrupted).
    assert sorted(colorized) == sorted([24 + i for i in range(7)] + [colorized[3]])
    assert {p: p.stat().st_mtime_ns for p in first} == stamps  # not rewritten
    outputs = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*"))
    assert outputs == ["p0.png", "p1.png", "p3.png", "p4.png", "p6.png", "sub"] + [
        "sub/p2.png",
        "sub/p5.png",
    ]
    for path in out_dir.rglob("*.png"):
        width = int(path.stem[1:]) + 24
        assert Image.open(path).size == (width, 24)  # complete, readable PNGs
    # A third run has nothing left: it does not even load the model.
    monkeypatch.setattr(Colorizer, "load", None)
    code, out, _ = _run(capsys, *args, "--skip_existing")
    assert code == 0 and "0 colourised, 0 failed, 7 skipped" in out


def test_failures_csv_lists_the_bad_files(capsys, inputs, tiny_workdir):
    import csv

    out_dir = inputs["root"] / "out_failures"
    args = ["--input", inputs["folder"], "--reference", inputs["ref"]]
    args += ["--output", out_dir, "--weights", tiny_workdir, "--quiet"]
    code, out, err = _run(capsys, *args)
    assert code == 1 and err.count("error:") == 1
    failures = out_dir / "failures.csv"
    assert f"failures listed in {failures}" in out
    with open(failures, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["file", "reason"] and len(rows) == 2
    file, reason = rows[1]
    assert file == str(inputs["folder"] / "broken.png")
    assert reason.startswith("not a readable image") and "\n" not in reason
    assert _temporary_files(out_dir) == []
    # Fixed, and resumed: only the formerly broken file is done; the stale
    # failures.csv goes.
    Image.fromarray(synthetic_photo(30, 30, 9)).save(inputs["folder"] / "broken.png")
    code, out, err = _run(capsys, *args, "--skip_existing")
    assert code == 0, err
    assert "1 colourised, 0 failed, 3 skipped" in out
    assert not failures.exists()
    assert Image.open(out_dir / "broken.png").size == (30, 30)


def test_progress_bar_on_a_terminal_only(capsys, inputs, tiny_workdir, monkeypatch):
    args = ["--input", inputs["folder"], "--reference", inputs["ref"]]
    args += ["--weights", tiny_workdir, "--skip_existing"]
    # Not a terminal (captured stderr): no bar.
    code, _, err = _run(capsys, *args, "--output", inputs["root"] / "o1")
    assert code == 1 and "/4 [" not in err and "%|" not in err
    monkeypatch.setattr(cli, "_stderr_is_tty", lambda: True)
    code, _, err = _run(capsys, *args, "--output", inputs["root"] / "o2")
    assert code == 1
    # tqdm: count, elapsed<time left, rate (s/image below one a second); the
    # error line above the bar.
    bar = r"4/4 \[\d\d:\d\d<\d\d:\d\d, +[\d.]+ ?(image/s|s/image)\]"
    assert re.search(bar, err), err
    assert "error:" in err and "broken.png" in err
    code, _, err = _run(capsys, *args, "--output", inputs["root"] / "o3", "--quiet")
    assert "/4 [" not in err
    # Resumed: the bar starts at the photos already done.
    code, _, err = _run(capsys, *args, "--output", inputs["root"] / "o2")
    assert re.search(r"3/4 \[", err) and re.search(r"4/4 \[", err), err


def test_skip_existing_and_overwrite_conflict(capsys, inputs):
    code, _, err = _run(
        capsys, "--input", inputs["gray"], "--overwrite", "--skip_existing"
    )
    assert code == 2 and "not both" in err and len(err.strip().splitlines()) == 1


def test_skip_existing_single_file(capsys, inputs, monkeypatch):
    from attention_colorization import Colorizer

    out_file = inputs["root"] / "done.png"
    out_file.write_bytes(b"kept")
    monkeypatch.setattr(Colorizer, "load", None)  # Not loaded.
    code, out, _ = _run(
        capsys, "--input", inputs["gray"], "--output", out_file, "--skip_existing"
    )
    assert code == 0 and "skipped" in out and out_file.read_bytes() == b"kept"


def test_inference_size_flag(capsys, inputs, tiny_workdir, monkeypatch):
    code, _, err = _run(capsys, "--input", inputs["gray"], "--inference_size", "20")
    assert code == 2 and err.count("\n") == 1
    assert "--inference_size" in err and "multiple of 8" in err
    from attention_colorization.colorizer import Colorizer

    sizes = []
    load = Colorizer.load.__func__

    def spy(cls, *args, **kwargs):
        colorizer = load(cls, *args, **kwargs)
        sizes.append(colorizer.image_size)
        return colorizer

    monkeypatch.setattr(Colorizer, "load", classmethod(spy))
    out_file = inputs["root"] / "out64.png"
    args = ("--input", inputs["gray"], "--reference", inputs["ref"])
    args += ("--weights", tiny_workdir, "--output", out_file, "--inference_size", "64")
    code, _, err = _run(capsys, *args)
    assert code == 0, err
    assert sizes == [64] and Image.open(out_file).size == (45, 37)
