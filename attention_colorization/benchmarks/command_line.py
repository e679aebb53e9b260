"""Section ``cli``: ``attention-colorize`` start-up, and a huge reference.

Each figure is one run of the command (``python -m attention_colorization.cli``)
in a fresh process, started by a small launcher process that times it and
reads its peak RSS from ``wait4`` (the launcher holds no TensorFlow, so the
command's peak is its own: a process started by ``vfork`` inherits its
parent's high-water mark).

* Start-up: ``--help`` (no TensorFlow), ``import tensorflow`` alone, and the
  command on a 64 x 64 gray photo with a 64 px reference: the time to its
  first output line, quiet (default) and ``--verbose``, with the lines each
  writes to stderr.
* A reference costs what the model uses: a gray photo (``cli_photo_size``)
  beside a ``cli_reference_side``² JPEG reference, and beside a 512 px JPEG of
  the same picture; their difference is what the large reference adds.
  Targets: under 3 s and under 1 GB peak RSS with the large one.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    markdown_table,
)
from attention_colorization.benchmarks.settings import Settings
from attention_colorization.benchmarks.synthetic import synthetic_photo

TARGET_REFERENCE_SECONDS = 3.0
TARGET_REFERENCE_PEAK_GB = 1.0
NOISE = ("cuda", "onednn", "cpu_feature_guard", "cpu instructions", "initializelog")

# The launcher: runs argv[1:] once; prints {"seconds", "first_output_seconds",
# "returncode", "peak_rss_bytes", "stdout", "stderr"} as JSON.
LAUNCHER = r"""
import json, os, subprocess, sys, tempfile, time
with tempfile.TemporaryFile("w+") as err:
    start = time.perf_counter()
    proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=err, text=True)
    first, lines = None, []
    for line in proc.stdout:
        if first is None:
            first = time.perf_counter() - start
        lines.append(line)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err.seek(0)
    print(json.dumps({
        "seconds": seconds,
        "first_output_seconds": first,
        "returncode": os.waitstatus_to_exitcode(status),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "stdout": "".join(lines),
        "stderr": err.read(),
    }))
"""


def launch(argv: list[str], env: dict | None = None, timeout: float = 600.0) -> dict:
    """Runs ``argv`` once under :data:`LAUNCHER`; returns its figures."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if done.returncode != 0:
        raise RuntimeError(f"launcher failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)


def noise_lines(stderr: str) -> list[str]:
    """TensorFlow's start-up lines among ``stderr``'s (:data:`NOISE`)."""
    return [
        line
        for line in stderr.splitlines()
        if any(word in line.lower() for word in NOISE)
    ]


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "attention_colorization.cli", *map(str, args)]


def _environment() -> dict:
    """This environment without ``TF_CPP_MIN_LOG_LEVEL``: as a user's shell."""
    return {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}


def _median_run(argv, repeats, timeout) -> dict:
    """:func:`launch` ``repeats`` times: the median run (by seconds), with
    every run's seconds and the largest peak."""
    runs = [launch(argv, _environment(), timeout) for _ in range(repeats)]
    for run in runs:
        if run["returncode"] != 0:
            raise RuntimeError(
                f"{' '.join(argv[2:])} exited with {run['returncode']}: "
                f"{run['stderr'].strip()[-300:]}"
            )
    median = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return dict(
        median,
        times=[r["seconds"] for r in runs],
        peak_rss_bytes=max(r["peak_rss_bytes"] for r in runs),
    )


def write_reference_jpeg(path, side: int, quality: int = 90, seed: int = 0):
    """A ``side``² JPEG: a smooth photo plus grain (a photo's entropy)."""
    from PIL import Image

    image = synthetic_photo(side, side, seed)
    rng = np.random.default_rng(seed)
    for start in range(0, side, 512):  # in blocks: no full-size int16 copy
        block = image[start : start + 512].astype(np.int16)
        block += rng.integers(-24, 25, block.shape, dtype=np.int16)
        image[start : start + 512] = np.clip(block, 0, 255).astype(np.uint8)
    Image.fromarray(image).save(path, quality=quality)
    return image


def cli_section(settings: Settings) -> SectionResult:
    result = SectionResult("cli", "Command line: start-up and a huge reference")
    from PIL import Image

    from attention_colorization.benchmarks.synthetic import synthetic_gray

    weights = ["--weights", settings.weights] if settings.weights else []
    common = [*weights, "--precision", settings.precision, "--overwrite"]
    repeats, timeout = settings.cli_repeats, settings.worker_timeout
    with tempfile.TemporaryDirectory(prefix="benchmark-cli-") as tmp:
        tmp = pathlib.Path(tmp)
        Image.fromarray(synthetic_gray(64, 64, 3)).save(tmp / "tiny.png")
        Image.fromarray(synthetic_photo(64, 64, 4)).save(tmp / "tiny_ref.png")
        tiny = ["--input", tmp / "tiny.png", "--reference", tmp / "tiny_ref.png"]
        tiny += ["--output", tmp / "tiny_out.png", *common]
        startup = {
            "--help": _median_run(command("--help"), repeats, timeout),
            "import tensorflow": _median_run(
                [sys.executable, "-c", "import tensorflow"], repeats, timeout
            ),
            "64 px photo": _median_run(command(*tiny), repeats, timeout),
            "64 px photo, --verbose": _median_run(
                command(*tiny, "--verbose"), repeats, timeout
            ),
        }
        height, width = settings.cli_photo_size
        Image.fromarray(synthetic_gray(height, width, 5)).save(tmp / "photo.png")
        side = settings.cli_reference_side
        big = write_reference_jpeg(tmp / "big.jpg", side)
        small = Image.fromarray(big).resize((512, 512), Image.BOX)
        del big
        small.save(tmp / "small.jpg", quality=90)
        photo = ["--input", tmp / "photo.png", "--output", tmp / "out.png", *common]
        references = {
            f"{side}² JPEG": _median_run(
                command(*photo, "--reference", tmp / "big.jpg"), repeats, timeout
            ),
            "512² JPEG": _median_run(
                command(*photo, "--reference", tmp / "small.jpg"), repeats, timeout
            ),
        }
        big_bytes = (tmp / "big.jpg").stat().st_size
    result.data.update(startup=startup, references=references)
    _render(result, settings, startup, references, big_bytes)
    return result


def _render(result, settings, startup, references, big_bytes) -> None:
    rows = [
        [
            name,
            run["first_output_seconds"] if run["first_output_seconds"] else "—",
            run["seconds"],
            " / ".join(f"{t:.2f}" for t in run["times"]),
            len(run["stderr"].splitlines()),
            len(noise_lines(run["stderr"])),
            run["peak_rss_bytes"] / 1e9,
        ]
        for name, run in startup.items()
    ]
    result.lines += ["### Start-up", ""]
    result.lines += markdown_table(
        [
            "run",
            "first output s",
            "total s",
            "every run s",
            "stderr lines",
            "TensorFlow start-up lines",
            "peak RSS GB",
        ],
        rows,
    )
    height, width = settings.cli_photo_size
    side = settings.cli_reference_side
    big, small = references[f"{side}² JPEG"], references["512² JPEG"]
    rows = [
        [
            name,
            run["seconds"],
            " / ".join(f"{t:.2f}" for t in run["times"]),
            run["peak_rss_bytes"] / 1e9,
        ]
        for name, run in references.items()
    ]
    rows.append(
        [
            "difference",
            big["seconds"] - small["seconds"],
            "",
            (big["peak_rss_bytes"] - small["peak_rss_bytes"]) / 1e9,
        ]
    )
    result.lines += ["", f"### A {width}×{height} gray photo beside a reference", ""]
    result.lines += markdown_table(
        ["reference", "total s", "every run s", "peak RSS GB"], rows
    )
    weights = settings.weights or "the bundled demo model"
    result.lines += [
        "",
        "Each row: `python -m attention_colorization.cli --input ... --reference "
        f"... --output ... --precision {settings.precision}` ({weights}), "
        f"{settings.cli_repeats} run(s), the median shown; a fresh process per "
        "run, so every total includes Python, TensorFlow's import and the "
        "model's load. *first output* is the time to the command's first line "
        "on stdout (for one photo, its `wrote` line: the photo is done). *peak "
        "RSS*: the command's own (`wait4`). The large reference is a "
        f"{side}×{side} JPEG of {big_bytes / 1e6:.1f} MB (quality 90, a "
        "smooth picture with grain), the small one the same picture at 512 px.",
    ]
    result.targets += [
        Target(
            f"{width}×{height} photo with a {side}² JPEG reference: total time",
            big["seconds"],
            "<",
            TARGET_REFERENCE_SECONDS,
            " s",
        ),
        Target(
            f"{width}×{height} photo with a {side}² JPEG reference: peak RSS",
            big["peak_rss_bytes"] / 1e9,
            "<",
            TARGET_REFERENCE_PEAK_GB,
            " GB",
        ),
    ]
