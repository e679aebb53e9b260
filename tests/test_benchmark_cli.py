"""The ``cli`` and ``peers`` benchmark sections, at tiny sizes."""

import json
import stat

import numpy as np
import pytest
from conftest import tiny_config

from attention_colorization.benchmarks import command_line, peers, runner
from attention_colorization.benchmarks.settings import Settings


def _settings(weights, **options) -> Settings:
    settings = Settings.quick_mode(weights=str(weights), **options)
    settings.paper_config = tiny_config()
    settings.cli_reference_side = 600
    settings.cli_photo_size = (40, 48)
    settings.worker_timeout = 600.0
    settings.isolate = False
    return settings


def test_sections_are_listed():
    assert runner.parse_sections("cli,peers") == ["cli", "peers"]
    assert {"cli", "peers"} <= set(runner.SECTIONS)


def test_launcher_reports_time_output_and_peak(tmp_path):
    script = "import sys; b = b'x' * (200 * 2**20); print('hi'); sys.exit(3)"
    run = command_line.launch([command_line.sys.executable, "-c", script])
    assert run["returncode"] == 3 and run["stdout"] == "hi\n"
    assert 0 < run["first_output_seconds"] <= run["seconds"]
    assert run["peak_rss_bytes"] > 200 * 2**20  # the child's own 200 MiB


def test_cli_section(tiny_workdir):
    result = command_line.cli_section(_settings(tiny_workdir, precision="float32"))
    assert result.error is None
    startup = result.data["startup"]
    # Quiet by default, TensorFlow's start-up lines with --verbose.
    assert not command_line.noise_lines(startup["64 px photo"]["stderr"])
    assert command_line.noise_lines(startup["64 px photo, --verbose"]["stderr"])
    assert "wrote" in startup["64 px photo"]["stdout"]
    assert startup["--help"]["first_output_seconds"] > 0
    big, small = result.data["references"].values()
    for run in (big, small):
        assert run["returncode"] == 0 and run["peak_rss_bytes"] > 0
    names = [t.name for t in result.targets]
    assert len(names) == 2 and all("600² JPEG" in n for n in names)
    assert all(t.met is not None for t in result.targets)
    assert any("### Start-up" in line for line in result.lines)


def test_peers_without_flags_says_how_to_run(tiny_workdir):
    result = peers.peers_section(_settings(tiny_workdir))
    assert result.data == {"skipped": True} and not result.targets
    assert "--authors_repo" in result.lines[0] and "--torch_python" in result.lines[0]


def test_peers_refuses_a_wrong_checkout(tmp_path, tiny_workdir):
    settings = _settings(
        tiny_workdir, authors_repo=str(tmp_path), torch_python="/bin/sh"
    )
    with pytest.raises(ValueError, match="models/networks.py"):
        peers.peers_section(settings)


def _fake_checkout(tmp_path):
    """A stand-in for the authors' repository and a "torch Python" that prints
    what authors_worker.py would (the real one needs torch)."""
    repo = tmp_path / "authors"
    (repo / "models").mkdir(parents=True)
    (repo / "doc").mkdir()
    (repo / "models" / "networks.py").write_text("")
    np.save(repo / "doc" / "ab_constant_filter.npy", np.zeros((198, 2), np.float32))
    result = {
        "seconds": 0.5,
        "times": [0.5],
        "peak_rss_bytes": 10**9,
        "output_shapes": [[1, 2, 64, 64], [1, 2, 128, 128], [1, 2, 256, 256]],
        "parameters": 123,
        "threads": 2,
        "torch": "0.0",
    }
    python = tmp_path / "torch_python"
    python.write_text(f"#!/bin/sh\necho 'BENCHMARK_RESULT {json.dumps(result)}'\n")
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return repo, python


def test_peers_alternates_theirs_and_ours(tmp_path, tiny_workdir):
    repo, python = _fake_checkout(tmp_path)
    settings = _settings(tiny_workdir, authors_repo=str(repo), torch_python=str(python))
    settings.peers_size = 32  # the test config's resolution
    result = peers.peers_section(settings)
    runs = result.data["runs"]
    assert len(runs["theirs"]) == settings.peers_rounds
    assert [r["precision"] for r in runs["float32"]] == ["float32"]
    assert [r["precision"] for r in runs["bfloat16"]] == ["bfloat16"]
    for run in runs["float32"] + runs["bfloat16"]:
        assert 0 < run["network_seconds"] <= run["seconds"]
        assert run["peak_rss_bytes"] > 0
    assert result.data["ratio_float32"] == pytest.approx(
        runs["float32"][0]["seconds"] / 0.5
    )
    table = [line for line in result.lines if line.startswith("| ")]
    assert len(table) == 4  # header, theirs, float32, bfloat16
    assert "theirs (PyTorch 0.0, float32)" in table[1]
    assert "ours (float32)" in table[2] and "ours (bfloat16)" in table[3]
