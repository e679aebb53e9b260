"""End-to-end runs of the data tools: tools/make_tfrecords.py, tools/benchmark_pipeline.py."""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]


def run_tool(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture()
def photos_with_junk(tmp_path, photo_dir):
    """The 8 synthetic photos plus a text file named .png."""
    root = tmp_path / "photos"
    shutil.copytree(photo_dir, root)
    (root / "junk.png").write_text("not an image")
    return root


def test_make_tfrecords_writes_named_shards_and_counts_skips(
    photos_with_junk, tmp_path
):
    out = tmp_path / "out"
    result = run_tool(
        "tools/make_tfrecords.py",
        f"--input_dir={photos_with_junk}",
        f"--output_pattern={out}/train",
        "--num_shards=3",
    )
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(out)) == [
        f"train-0000{i}-of-00003.tfrecord" for i in range(3)
    ]
    assert "skipped 1 undecodable" in result.stdout
    assert "junk.png" in result.stdout
    assert "wrote 8 image(s) to 3 shard(s)" in result.stdout


def test_make_tfrecords_fails_clearly_without_images(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_tool(
        "tools/make_tfrecords.py",
        f"--input_dir={empty}",
        f"--output_pattern={tmp_path}/x",
    )
    assert result.returncode == 1
    assert "No image files" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_benchmark_prints_skips_then_throughput(photos_with_junk):
    result = run_tool(
        "tools/benchmark_pipeline.py",
        f"--data_dir={photos_with_junk}",
        "--config=configs/test.py",
        "--batches=3",
        "--warmup=1",
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "skipped files: 1" in lines
    assert re.fullmatch(r"\d+(\.\d+)? images/s", lines[-1]), lines[-1]
    assert float(lines[-1].split()[0]) > 0
