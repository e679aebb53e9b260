"""tools/benchmark.py and attention_colorization/benchmarks/: the quick code
paths of every section on the test config, and the target checks on given numbers.

No wall-clock assertions: timings here only have to be positive and finite.
"""

from __future__ import annotations

import math
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_config

from attention_colorization.benchmarks import (
    attention_memory,
    end_to_end,
    latency,
    machine,
    memory,
    pipeline,
    runner,
    synthetic,
    tflite,
    workers,
)
from attention_colorization.benchmarks import flops as flops_lib
from attention_colorization.benchmarks import report as report_lib
from attention_colorization.benchmarks.settings import Settings

REPO = pathlib.Path(__file__).resolve().parents[1]
MIB = 1024 * 1024


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


# ------------------------------------------------------------ target logic


@pytest.mark.parametrize(
    "measured, op, limit, status",
    [
        (0.5, ">=", 0.4, "met"),
        (0.4, ">=", 0.4, "met"),
        (0.39, ">=", 0.4, "missed"),
        (3.0, "<", 3.0, "missed"),
        (2.99, "<", 3.0, "met"),
        (4.0, "<=", 4.0, "met"),
        (4.01, "<=", 4.0, "missed"),
        (None, "<=", 4.0, "not measured"),
        (float("nan"), ">=", 1.0, "not measured"),
    ],
)
def test_target_status(measured, op, limit, status):
    target = report_lib.Target("t", measured, op, limit)
    assert target.status == status
    assert target.mark() == (status if status == "not measured" else f"**{status}**")


def test_target_rejects_unknown_comparison():
    with pytest.raises(ValueError, match="op must be one of"):
        report_lib.Target("t", 1.0, "==", 1.0)


def test_latency_target_from_given_numbers():
    # 50 GFLOP in 1 s on a 100 GFLOP/s machine: 50 % >= 40 %.
    (met,) = latency.latency_targets(50e9, 1.0, 100.0)
    assert met.measured == pytest.approx(50.0) and met.status == "met"
    (missed,) = latency.latency_targets(30e9, 1.0, 100.0)
    assert missed.measured == pytest.approx(30.0) and missed.status == "missed"


def test_attention_target_from_given_numbers():
    runs = [
        {
            "mode": "chunked",
            "chunk": 1024,
            "n": 16384,
            "peak_increase_bytes": 100 * MIB,
        },
        {
            "mode": "plain",
            "chunk": 16384,
            "n": 16384,
            "peak_increase_bytes": 4096 * MIB,
        },
        {"mode": "chunked", "chunk": 256, "n": 16384, "peak_increase_bytes": 10 * MIB},
    ]
    (target,) = attention_memory.attention_targets(runs, chunk=1024)
    assert target.measured == pytest.approx(100.0) and target.status == "met"
    runs[0]["peak_increase_bytes"] = 129 * MIB
    assert attention_memory.attention_targets(runs, chunk=1024)[0].status == "missed"
    # Quick mode measures N = 4096 only: the target is not measured.
    quick = [{"mode": "chunked", "chunk": 1024, "n": 4096, "peak_increase_bytes": 1}]
    assert (
        attention_memory.attention_targets(quick, chunk=1024)[0].status
        == "not measured"
    )


def test_end_to_end_targets_from_given_numbers():
    def run(seconds, rest, peak_gb):
        return {
            "seconds": seconds,
            "rest_seconds": rest,
            "peak_rss_bytes": peak_gb * 1e9,
        }

    by_size = {
        (512, 512): run(1.0, 0.5, 1.0),
        (4096, 4096): run(4.0, 3.0, 2.9),
        (1600, 2560): run(2.0, 1.2, 3.0),
    }
    peak, ratio, wide_peak, rest = end_to_end.end_to_end_targets(by_size)
    assert (peak.status, peak.measured) == ("met", pytest.approx(2.9))
    assert (ratio.status, ratio.measured) == ("met", pytest.approx(4.0))
    assert (wide_peak.status, wide_peak.measured) == ("missed", pytest.approx(3.0))
    assert (rest.status, rest.measured) == ("missed", pytest.approx(60.0))
    by_size[(4096, 4096)] = run(4.5, 3.0, 3.5)
    peak, ratio, _, _ = end_to_end.end_to_end_targets(by_size)
    assert peak.status == "missed" and ratio.status == "missed"
    # --quick skips 4096 px.
    del by_size[(4096, 4096)]
    peak, ratio, _, _ = end_to_end.end_to_end_targets(by_size)
    assert peak.status == ratio.status == "not measured"


def test_tflite_targets_from_given_numbers():
    modes = {
        "none": {"seconds": 0.06},
        "float16": {"seconds": 0.08},
        "int8": {"seconds": 0.066},
    }
    errors = [{"related": 2.5, "unrelated": 3.9}, {"related": 1.0, "unrelated": 0.5}]
    float32, float16, int8, error = tflite.tflite_targets(0.10, modes, errors)
    assert (float32.status, float32.measured) == ("met", pytest.approx(0.6))
    assert (float16.status, float16.measured) == ("missed", pytest.approx(0.8))
    assert (int8.status, int8.measured) == ("missed", pytest.approx(1.1))
    assert (error.status, error.measured) == ("met", pytest.approx(3.9))
    modes["int8"] = {"error": "conversion failed"}
    float32, float16, int8, error = tflite.tflite_targets(0.12, modes, errors)
    assert float16.status == "met" and int8.status == error.status == "not measured"


def test_pipeline_target_from_given_numbers():
    train = {
        "float32": {
            "stages": {
                "1": {"images_per_second": 10.0},
                "2": {"images_per_second": 5.0},
            }
        }
    }
    # The faster stage (10 images/s) is the one the pipeline must feed.
    (target,) = pipeline.pipeline_targets(20.0, train)
    assert (target.status, target.measured) == ("met", pytest.approx(2.0))
    assert pipeline.pipeline_targets(19.0, train)[0].status == "missed"
    failed = {"float32": {"error": "worker died"}}
    assert pipeline.pipeline_targets(19.0, failed)[0].status == "not measured"


# -------------------------------------------------------- helpers and FLOPs


def test_fmt_and_markdown_table():
    assert report_lib.fmt(1234.5678) == "1235"
    assert report_lib.fmt(0.012345) == "0.0123"
    assert report_lib.fmt(7) == "7"
    assert report_lib.fmt(None) == "—"
    lines = report_lib.markdown_table(["a", "b"], [["x", 1.5], ["y", 2]])
    assert lines == ["| a | b |", "|---|---|", "| x | 1.50 |", "| y | 2 |"]
    with pytest.raises(ValueError):
        report_lib.markdown_table(["a", "b"], [["only one"]])


def test_parse_sections():
    assert runner.parse_sections("") == list(runner.SECTIONS)
    assert runner.parse_sections("tflite, latency") == ["tflite", "latency"]
    with pytest.raises(ValueError, match="unknown sections"):
        runner.parse_sections("latency,gpu")


def test_conv_matmul_flops_of_a_known_graph():
    @tf.function
    def fn(image, kernel, a, b, x, y, small, up_kernel):
        conv = tf.nn.conv2d(image, kernel, 1, "SAME")  # [1, 8, 8, 4]
        up = tf.nn.conv2d_transpose(
            small, up_kernel, [1, 8, 8, 4], strides=2, padding="SAME"
        )
        products = tf.matmul(a, b), tf.matmul(x, y, adjoint_b=True)
        return conv, up, products, tf.einsum("bcd,bnd->bcn", x, y)  # [2, 4, 6]

    spec = [
        tf.TensorSpec([1, 8, 8, 3]),
        tf.TensorSpec([3, 3, 3, 4]),
        tf.TensorSpec([2, 3]),
        tf.TensorSpec([3, 5]),
        tf.TensorSpec([2, 4, 3]),
        tf.TensorSpec([2, 6, 3]),
        tf.TensorSpec([1, 4, 4, 6]),
        tf.TensorSpec([4, 4, 4, 6]),  # transposed conv: [kh, kw, out, in]
    ]
    flops, unknown = flops_lib.conv_matmul_flops(fn.get_concrete_function(*spec).graph)
    conv = 2 * (8 * 8 * 4) * (3 * 3 * 3)
    transposed = 2 * (4 * 4 * 6) * (4 * 4 * 4)
    matmul = 2 * (2 * 5) * 3
    batched = 2 * (2 * 4 * 6) * 3
    assert any(
        op.type == "Einsum"
        for op in fn.get_concrete_function(*spec).graph.get_operations()
    )
    assert flops == conv + transposed + matmul + 2 * batched  # the einsum = batched
    assert unknown == []


def test_peak_rss_helpers():
    assert memory.peak_rss_bytes() > 0
    current = memory.current_rss_bytes()
    if memory.reset_peak_rss():  # Linux: the peak restarts from the current RSS.
        block = np.ones(64 * MIB // 8)  # 64 MiB, touched
        assert memory.peak_rss_bytes() >= current + 48 * MIB
        del block


def test_synthetic_images():
    gray = synthetic.synthetic_gray(40, 72, seed=3)
    assert gray.shape == (40, 72) and gray.dtype == np.uint8 and gray.std() > 5
    rgb = synthetic.synthetic_photo(16, 24, seed=1)
    assert rgb.shape == (16, 24, 3) and rgb.dtype == np.uint8


def test_machine_info():
    info = machine.machine_info()
    assert info["cpu"] and info["cores"] >= 1
    assert info["tensorflow"] == tf.__version__


# ------------------------------------------------ quick code paths, tiny sizes


def _tiny_settings(weights) -> Settings:
    """Settings.quick_mode's code paths with the test config and tiny sizes."""
    quick = Settings.quick_mode(weights=str(weights))
    quick.paper_config = tiny_config()
    quick.pipeline_config = tiny_config()
    quick.repeats, quick.warmup, quick.matmul_size = 2, 1, 128
    quick.attention_grids = (8,)  # N = 64; the test config's chunk is 16
    quick.attention_chunks = ()
    quick.end_to_end_sizes = ((40, 72),)
    quick.end_to_end_paper = True  # the "paper" model is the test config here
    quick.reference_size = 48
    quick.tflite_modes = ("float16",)
    quick.tflite_repeats = 2
    quick.pipeline_batches, quick.pipeline_warmup = 2, 1
    quick.train_steps, quick.train_warmup = 1, 1
    quick.policies = ("float32",)
    quick.train_stages = (1,)  # One (the cheaper) trace of the GAN step here.
    quick.worker_timeout = 300.0
    # Attention and training steps in this process (no TensorFlow start-ups);
    # the end-to-end worker still runs in a subprocess.
    quick.isolate = False
    return quick


# The command-line section starts the CLI five times (about a minute); its own
# test is tests/test_benchmark_cli.py::test_cli_section.
TINY_SECTIONS = [name for name in runner.SECTIONS if name != "cli"]


@pytest.fixture(scope="module")
def tiny_report(tiny_workdir):
    settings = _tiny_settings(tiny_workdir)
    return runner.run_benchmarks(
        TINY_SECTIONS, settings, "python tools/benchmark.py --quick"
    )


def _table_rows(lines) -> list[list[str]]:
    rows = [line for line in lines if line.startswith("| ")]
    return [[c.strip() for c in line.strip("|").split("|")] for line in rows]


def test_every_section_runs(tiny_report):
    report, results = tiny_report
    assert [r.name for r in results] == TINY_SECTIONS
    for r in results:
        assert r.error is None, (r.name, r.error)
        assert r.seconds > 0
        assert f"## {r.title}" in report


def test_report_header_names_machine_and_command(tiny_report):
    report, _ = tiny_report
    assert report.startswith("# Benchmarks")
    assert "`python tools/benchmark.py --quick`" in report
    assert "quick mode" in report
    assert machine.cpu_model() in report and tf.__version__ in report
    # Every section names the machine and the command again.
    provenance = f"Measured on {machine.cpu_model()}, "
    assert report.count(provenance) == len(TINY_SECTIONS)
    assert report.count("by `python tools/benchmark.py --quick`") == 1 + len(
        TINY_SECTIONS
    )
    summary = report.split("## Targets", 1)[1].split("\n## ", 1)[0]
    rows = _table_rows(summary.splitlines())[1:]  # Without the header row.
    assert rows and all(len(row) == 5 for row in rows)
    for row in rows:
        assert row[4] in ("**met**", "**missed**", "not measured")


def test_latency_section(tiny_report):
    result = dict((r.name, r) for r in tiny_report[1])["latency"]
    assert _positive(result.data["matmul"]["gflops"])
    models = result.data["models"]
    assert len(models) == 2
    for model in models:
        names = [s["stage"] for s in model["stages"]]
        assert names == ["F (gray + reference)", "SCM", "DCM", "fusion", "decoder"]
        for stage in model["stages"] + [model["forward"]]:
            assert _positive(stage["seconds"])
            assert stage["uncounted"] == []
        for stage in ("F (gray + reference)", "SCM", "DCM", "decoder"):
            row = model["stages"][names.index(stage)]
            assert _positive(row["flops"]) and _positive(row["conv_matmul_flops"])
        forward = model["forward"]
        # The whole forward holds every stage's convolutions and matmuls.
        assert forward["conv_matmul_flops"] == pytest.approx(
            sum(s["conv_matmul_flops"] for s in model["stages"]), rel=0.01
        )
    (target,) = result.targets
    assert _positive(target.measured) and target.status in ("met", "missed")
    rows = _table_rows(result.lines)
    assert len(rows) == 2 * (1 + 6)  # two tables: header + 5 stages + forward


def test_attention_section(tiny_report):
    result = dict((r.name, r) for r in tiny_report[1])["attention"]
    runs = result.data["runs"]
    assert [(r["mode"], r["chunk"]) for r in runs] == [("chunked", 16), ("plain", 64)]
    dim = attention_memory.attention_dim(tiny_config())
    for run in runs:
        assert run["n"] == 64 and run["dim"] == dim
        assert _positive(run["seconds"]) and run["peak_increase_bytes"] >= 0
        assert run["finite"] and run["matches_valid"]
    assert len(_table_rows(result.lines)) == 1 + len(runs)
    assert result.targets[0].status == "not measured"  # N = 16384 not run


def test_end_to_end_section(tiny_report):
    result = dict((r.name, r) for r in tiny_report[1])["end_to_end"]
    demo, paper = result.data["runs"]
    assert demo["model"].startswith("demo model") and paper["model"].startswith(
        "paper config"
    )
    for run in (demo, paper):
        assert (run["height"], run["width"]) == (40, 72)
        for key in ("seconds", "network_seconds", "peak_rss_bytes", "baseline_bytes"):
            assert _positive(run[key]), key
        assert 0 <= run["rest_seconds"] <= run["seconds"]
        assert run["peak_rss_bytes"] >= run["baseline_bytes"] - MIB
    assert len(_table_rows(result.lines)) == 4  # two tables of header + one row
    # --quick-like sizes: no 4096 px, so those targets are not measured.
    assert [t.status for t in result.targets[:3]] == ["not measured"] * 3
    assert len(result.targets) == 8
    assert all(t.name.endswith("(paper model)") for t in result.targets[4:])


def test_tflite_section(tiny_report):
    result = dict((r.name, r) for r in tiny_report[1])["tflite"]
    if not result.data["available"]:
        assert any("not available" in line for line in result.lines)
        return
    assert _positive(result.data["keras_seconds"])
    assert set(result.data["modes"]) == {"float16"}
    rows = _table_rows(result.lines)
    assert len(rows) == 1 + 1 + 1  # header, Keras, one mode
    for mode, run in result.data["modes"].items():
        if "error" in run:  # A conversion failure is reported, not raised.
            assert run["error"] and any("failed" in r for r in rows if mode in r[0])
            continue
        assert _positive(run["seconds"]) and run["bytes"] > 1000 and run["finite"]
        assert run["partitions"] == 1 and run["undelegated"] == []  # All XNNPACK.
    statuses = [t.status for t in result.targets]
    assert statuses[0] == statuses[2] == statuses[3] == "not measured"  # Not run.


def test_pipeline_section(tiny_report):
    result = dict((r.name, r) for r in tiny_report[1])["pipeline"]
    data = result.data["pipeline"]
    assert _positive(data["images_per_second"]) and data["files"] >= 1
    train = result.data["train"]["float32"]
    assert set(train["stages"]) == {"1"}
    for stage in train["stages"].values():
        assert _positive(stage["steps_per_second"]) and stage["g_loss_finite"]
    (target,) = result.targets
    assert _positive(target.measured) and target.status in ("met", "missed")
    rows = _table_rows(result.lines)[1:]
    assert [row[0] for row in rows] == ["float32", "mixed_float16", "mixed_bfloat16"]
    assert rows[0][3:5] == ["—", "—"]  # stage 2 not run here
    assert _positive(float(rows[0][1])) and _positive(float(rows[0][2]))
    assert rows[1][5] == rows[2][5] == "not run in this mode"


def test_worker_errors_come_back_as_one_line():
    with pytest.raises(RuntimeError, match="nope worker: KeyError: .unknown worker"):
        workers.run_worker("nope", {}, timeout=120)


def test_worker_timeout_keeps_progress():
    with pytest.raises(workers.WorkerTimeout, match="timed out after") as caught:
        workers.run_worker("attention", {}, timeout=0.05)
    assert caught.value.progress == []


def test_partial_train_result_from_progress_records():
    progress = [
        {"stage": 1, "first_call_seconds": 30.0},
        {"stage": 1, "step_seconds": 4.0},
        {"stage": 1, "step_seconds": 2.0},
        {"stage": 1, "step_seconds": 3.0},
        {"stage": 2, "first_call_seconds": 50.0},
    ]
    result = pipeline.partial_train_result(progress, 8, "train_step worker timed out")
    assert set(result["stages"]) == {"1"}
    stage = result["stages"]["1"]
    assert stage["seconds"] == 3.0 and stage["steps_timed"] == 3
    assert stage["images_per_second"] == pytest.approx(8 / 3.0)
    assert "stage 2 first call (trace + step) 50 s" in result["error"]
    assert pipeline.partial_train_result([], 8, "x")["error"] == "x; no step finished"


# -------------------------------------------------------------------- tool


def test_tool_rejects_unknown_sections():
    done = subprocess.run(
        [sys.executable, str(REPO / "tools" / "benchmark.py"), "--sections=gpu"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert re.search(r"unknown sections \['gpu'\]", done.stderr)


def test_tool_reports_missing_weights(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "tools" / "benchmark.py"),
            f"--weights={tmp_path}",
            "--sections=latency",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert f"error: {tmp_path}: not a model (no model.weights.h5 in it)" in done.stderr
    assert "expected a training workdir" in done.stderr
