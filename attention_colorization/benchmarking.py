r"""Performance benchmarks: measurements, target checks and the markdown report.

    python tools/benchmark.py [--quick] [--weights=PATH] [--output=BENCHMARKS.md]
        [--sections=latency,attention,end_to_end,tflite,pipeline]

The tool is a thin command line over :func:`run_benchmarks`. Every section is a
function ``section(settings) -> SectionResult`` that measures, checks its
targets (:class:`Target`) and renders markdown; :func:`render_report` joins the
sections under a header with the machine (CPU model, cores, TensorFlow) and the
command. :class:`Settings` holds every size and repeat count: ``Settings.full``,
``Settings.quick_mode`` (under 5 minutes) and, in the tests, tiny settings with the
test config.

Measurements that must not share a process run in fresh subprocesses
(``python -m attention_colorization.benchmarking _worker KIND JSON``): peak
memory (one process per measurement, so peaks do not mix) and the precision
policies (the Keras policy is process-wide).

Sections:

* ``latency``: forward latency split by stage (F, SCM, DCM, fusion, decoder;
  each sublayer call a separate ``tf.function`` on the real intermediate
  inputs), achieved GFLOP/s as a share of this machine's float32 matmul
  throughput. FLOPs: TensorFlow's profiler (``float_operation``) on the
  concrete function's graph; the conv/matmul-only count
  (:func:`conv_matmul_flops`, 2 per multiply-add) is shown beside it.
* ``attention``: the SCM's attention peak memory, chunked vs plain.
* ``end_to_end``: ``Colorizer.colorize`` time and peak RSS by input size, the
  network pass (``Colorizer._run``) timed separately from the rest.
* ``tflite``: latency and size of each TFLite quantisation vs the Keras
  function (needs ``export/tflite_lib.py``).
* ``pipeline``: input pipeline vs training step throughput; steps/s by
  precision policy.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import json
import math
import os
import pathlib
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence

import numpy as np

SECTIONS = ("latency", "attention", "end_to_end", "tflite", "pipeline")
RESULT_PREFIX = "BENCHMARK_RESULT "
PROGRESS_PREFIX = "BENCHMARK_PROGRESS "
MIB = 1024.0 * 1024.0
REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]

# Targets (ISSUE/brief numbers).
TARGET_FLOP_SHARE = 0.40  # paper model GFLOP/s >= 40 % of the machine's matmul GFLOP/s
TARGET_ATTENTION_MIB = 128.0  # chunked SCM attention at N = 16384 adds <= 128 MiB
TARGET_ATTENTION_N = 16384
TARGET_PEAK_GB = 3.0  # Colorizer peak RSS < 3 GB (10^9 bytes) at 4096 x 4096
TARGET_TIME_RATIO = 4.0  # time(4096) <= 4 x time(512)
TARGET_REST_SHARE = 0.5  # our reading of "the work beyond the network is a small share"
TARGET_FLOAT16_RATIO = 1.2  # TFLite float16 latency <= 1.2 x Keras CPU latency
TARGET_PIPELINE_RATIO = 2.0  # input pipeline >= 2 x training step throughput

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


# ----------------------------------------------------------------- targets


_OPS = {
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
}


@dataclasses.dataclass
class Target:
    """A performance target: ``measured OP limit``.

    Attributes:
        name: what is checked, one line of markdown.
        measured: the measured number, or None when it was not measured
            (e.g. a size that ``--quick`` skips).
        op: one of ``<=``, ``<``, ``>=``, ``>``.
        limit: the threshold.
        unit: printed after both numbers.
    """

    name: str
    measured: float | None
    op: str
    limit: float
    unit: str = ""

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"op must be one of {sorted(_OPS)}, got {self.op!r}")

    @property
    def met(self) -> bool | None:
        """True/False, or None when not measured (or not a finite number)."""
        if self.measured is None or not math.isfinite(self.measured):
            return None
        return bool(_OPS[self.op](self.measured, self.limit))

    @property
    def status(self) -> str:
        """``met``, ``missed`` or ``not measured``."""
        return {True: "met", False: "missed", None: "not measured"}[self.met]

    def mark(self) -> str:
        return "not measured" if self.met is None else f"**{self.status}**"

    def row(self, section: str) -> list[str]:
        measured = "—" if self.measured is None else f"{fmt(self.measured)}{self.unit}"
        return [
            section,
            self.name,
            measured,
            f"{self.op} {fmt(self.limit)}{self.unit}",
            self.mark(),
        ]


@dataclasses.dataclass
class SectionResult:
    """One section of the report.

    Attributes:
        name: the section key (one of :data:`SECTIONS`).
        title: its heading.
        lines: its markdown body (tables, notes).
        targets: the targets it checked.
        data: the raw numbers (for tests and machine reading).
        error: one line when the section failed; the body then says why.
        seconds: wall time the section took.
    """

    name: str
    title: str
    lines: list[str] = dataclasses.field(default_factory=list)
    targets: list[Target] = dataclasses.field(default_factory=list)
    data: dict = dataclasses.field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0

    def markdown(self, provenance: str = "") -> str:
        """The section as markdown; ``provenance`` (machine, command) ends it."""
        parts = [f"## {self.title}", ""]
        if self.error:
            parts += [f"**Failed**: {self.error}", ""]
        parts += self.lines
        if self.targets:
            parts += ["", "Targets:", ""]
            for t in self.targets:
                measured = (
                    "not measured"
                    if t.measured is None
                    else f"measured {fmt(t.measured)}{t.unit}"
                )
                parts.append(
                    f"- {t.name}: {measured} (target {t.op} {fmt(t.limit)}{t.unit}) "
                    f"— {t.mark()}"
                )
        footer = f"Section time: {self.seconds:.1f} s."
        if provenance:
            footer = f"{provenance} {footer}"
        parts += ["", f"_{footer}_", ""]
        return "\n".join(parts)


def fmt(value, digits: int = 3) -> str:
    """A number with ``digits`` significant digits (integers as they are)."""
    if value is None:
        return "—"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    if abs(value) >= 10 ** (digits + 2) or abs(value) < 1e-3:
        return f"{value:.{digits - 1}e}"
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(value)))))
    return f"{value:.{decimals}f}"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence]) -> list[str]:
    """A GitHub markdown table as lines; cells are formatted with :func:`fmt`."""

    def cell(x):
        return x if isinstance(x, str) else fmt(x)

    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row {row!r} does not have {len(headers)} cells")
        lines.append("| " + " | ".join(cell(x) for x in row) + " |")
    return lines


# Each section's targets from its numbers: pure functions, tested with given numbers.


def latency_targets(
    forward_flops: float, forward_seconds: float, matmul_gflops: float
) -> list[Target]:
    """Paper model: achieved GFLOP/s >= 40 % of the machine's matmul GFLOP/s."""
    share = forward_flops / forward_seconds / 1e9 / matmul_gflops
    return [
        Target(
            "paper model forward GFLOP/s as a share of matmul GFLOP/s",
            100 * share,
            ">=",
            100 * TARGET_FLOP_SHARE,
            " %",
        )
    ]


def attention_targets(runs: Sequence[dict], chunk: int) -> list[Target]:
    """The chunked call (chunk = the config's) at N = 16384 adds <= 128 MiB.

    Args:
        runs: dicts with ``n``, ``chunk``, ``mode`` and ``peak_increase_bytes``.
        chunk: the paper config's attention chunk.
    """
    measured = None
    for run in runs:
        if (run["mode"], run["chunk"], run["n"]) == (
            "chunked",
            chunk,
            TARGET_ATTENTION_N,
        ):
            measured = run["peak_increase_bytes"] / MIB
    return [
        Target(
            f"chunked attention (chunk {chunk}) at N = {TARGET_ATTENTION_N} adds",
            measured,
            "<=",
            TARGET_ATTENTION_MIB,
            " MiB",
        )
    ]


def end_to_end_targets(by_size: dict) -> list[Target]:
    """Peak < 3 GB at 4096² and 2560×1600, time(4096²) <= 4 x time(512²), rest share.

    Args:
        by_size: ``{(height, width): {"seconds", "rest_seconds", "peak_rss_bytes"}}``.
    """
    big, small = by_size.get((4096, 4096)), by_size.get((512, 512))
    wide = by_size.get((1600, 2560))
    return [
        Target(
            "peak RSS at 4096×4096",
            big["peak_rss_bytes"] / 1e9 if big else None,
            "<",
            TARGET_PEAK_GB,
            " GB",
        ),
        Target(
            "time(4096²) / time(512²)",
            big["seconds"] / small["seconds"] if big and small else None,
            "<=",
            TARGET_TIME_RATIO,
        ),
        Target(
            "peak RSS at 2560×1600",
            wide["peak_rss_bytes"] / 1e9 if wide else None,
            "<",
            TARGET_PEAK_GB,
            " GB",
        ),
        Target(
            "share of the 2560×1600 time spent beyond the network "
            "(our reading of 'a small share')",
            100 * wide["rest_seconds"] / wide["seconds"] if wide else None,
            "<=",
            100 * TARGET_REST_SHARE,
            " %",
        ),
    ]


def tflite_targets(keras_seconds: float, modes: dict) -> list[Target]:
    """float16 <= 1.2 x Keras latency; int8 no slower than float32 TFLite.

    Args:
        keras_seconds: the Keras function's latency.
        modes: ``{mode: {"seconds": ...}}``; a mode that failed or was not run
            (absent, or with ``"error"``) leaves its target not measured.
    """
    ok = {k: v for k, v in modes.items() if "error" not in v}
    float16 = ok["float16"]["seconds"] / keras_seconds if "float16" in ok else None
    int8 = (
        ok["int8"]["seconds"] / ok["none"]["seconds"]
        if "int8" in ok and "none" in ok
        else None
    )
    return [
        Target(
            "TFLite float16 latency / Keras CPU latency",
            float16,
            "<=",
            TARGET_FLOAT16_RATIO,
        ),
        Target("TFLite int8 latency / TFLite float32 latency", int8, "<=", 1.0),
    ]


def pipeline_targets(pipeline_images_per_second: float, train: dict) -> list[Target]:
    """Input pipeline >= 2 x the float32 training throughput (its faster stage).

    Args:
        pipeline_images_per_second: the input pipeline's images/s.
        train: ``{policy: {"stages": {stage: {"images_per_second"}}}}`` (a
            policy that failed has ``"error"`` instead).
    """
    ratio = None
    stages = train.get("float32", {}).get("stages")
    if stages:
        fastest = max(s["images_per_second"] for s in stages.values())
        ratio = pipeline_images_per_second / fastest
    return [
        Target(
            "pipeline images/s ÷ float32 training images/s (faster stage)",
            ratio,
            ">=",
            TARGET_PIPELINE_RATIO,
        )
    ]


# ----------------------------------------------------------------- machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (else ``platform.processor()``)."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def cpu_count() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # Not Linux.
        return os.cpu_count() or 1


def machine_info() -> dict:
    """CPU model, cores, memory, TensorFlow/Keras/Python versions, load average."""
    import keras
    import tensorflow as tf

    info = {
        "cpu": cpu_model(),
        "cores": cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "memory_gib": None,
        "load_average": None,
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = pages / 1024**3
    except (ValueError, OSError, AttributeError):
        pass
    try:
        info["load_average"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def machine_line(machine: dict) -> str:
    """One line naming the machine, for each section."""
    return (
        f"{machine['cpu']}, {machine['cores']} cores, TensorFlow "
        f"{machine['tensorflow']}, Keras {machine['keras']}"
    )


# ------------------------------------------------------------ measurements


def median_seconds(
    fn: Callable, *args, repeats: int = 5, warmup: int = 1, **kwargs
) -> tuple[float, list[float]]:
    """Median wall time of ``fn(*args, **kwargs)`` after ``warmup`` calls.

    TensorFlow runs eager ops and ``tf.function`` calls on the CPU
    synchronously, so the call's return is the end of the work.

    Returns:
        (median seconds, every timed call's seconds).
    """
    if repeats < 1:
        raise ValueError("repeats must be >= 1")
    for _ in range(warmup):
        fn(*args, **kwargs)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def matmul_gflops(size: int = 2048, repeats: int = 5, warmup: int = 2) -> dict:
    """This machine's float32 matmul throughput: ``size``² @ ``size``² under tf.function.

    Returns:
        ``{"size", "seconds", "gflops"}`` (median time; 2·size³ FLOPs a call).
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((size, size), np.float32))
    b = tf.constant(rng.standard_normal((size, size), np.float32))
    matmul = tf.function(tf.matmul)
    seconds, _ = median_seconds(matmul, a, b, repeats=repeats, warmup=warmup)
    return {"size": size, "seconds": seconds, "gflops": 2.0 * size**3 / seconds / 1e9}


def _static_shape(tensor) -> list[int] | None:
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        return None
    return shape.as_list()


def conv_matmul_flops(graph) -> tuple[int, list[str]]:
    """FLOPs of the convolutions and matrix products of a graph, 2 per multiply-add.

    Counts ``Conv2D``, ``Conv2DBackpropInput`` (transposed convolutions),
    ``DepthwiseConv2dNative``, ``MatMul``, ``BatchMatMul{,V2,V3}`` and
    two-operand ``Einsum``; elementwise ops, reductions, softmax, resizes and
    pooling are not counted. Ops inside loop bodies are not seen: count a
    graph without loops (the SCM's ``loop=False``).
    Dilated convolutions appear as ``SpaceToBatchND`` + ``Conv2D``; the count
    then includes the zero padding of the space-to-batch blocks.

    Args:
        graph: a ``tf.Graph`` (e.g. ``concrete_function.graph``), static shapes.

    Returns:
        (FLOPs, names of the counted-type ops whose shapes were not static).
    """
    total, unknown = 0, []
    for op in graph.get_operations():
        kind = op.type
        if kind not in (
            "Conv2D",
            "Conv2DBackpropInput",
            "DepthwiseConv2dNative",
            "MatMul",
            "BatchMatMul",
            "BatchMatMulV2",
            "BatchMatMulV3",
            "Einsum",
        ):
            continue
        if kind == "Conv2DBackpropInput":
            filt, grad = _static_shape(op.inputs[1]), _static_shape(op.inputs[2])
            if filt is None or grad is None:
                unknown.append(op.name)
                continue
            # Each output-gradient element meets kh * kw * c_in weights.
            total += 2 * int(np.prod(grad)) * filt[0] * filt[1] * filt[2]
            continue
        out = _static_shape(op.outputs[0])
        if kind in ("Conv2D", "DepthwiseConv2dNative"):
            filt = _static_shape(op.inputs[1])
            if out is None or filt is None:
                unknown.append(op.name)
                continue
            per_output = filt[0] * filt[1] * (filt[2] if kind == "Conv2D" else 1)
            total += 2 * int(np.prod(out)) * per_output
            continue
        if kind == "Einsum":
            flops = _einsum_flops(op)
            if flops is None:
                unknown.append(op.name)
            else:
                total += flops
            continue
        a = _static_shape(op.inputs[0])
        if out is None or a is None:
            unknown.append(op.name)
            continue
        if kind == "MatMul":
            inner = a[0] if op.get_attr("transpose_a") else a[1]
        else:
            inner = a[-2] if op.get_attr("adj_x") else a[-1]
        total += 2 * int(np.prod(out)) * inner
    return total, unknown


def _einsum_flops(op) -> int | None:
    """FLOPs of a two-operand ``Einsum`` op: 2 x the product of every index's size.

    Returns None for shapes that are not static, an ellipsis or one operand.
    """
    equation = op.get_attr("equation").decode()
    shapes = [_static_shape(x) for x in op.inputs]
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    if len(inputs) != 2 or "." in equation or any(s is None for s in shapes):
        return None
    sizes = {}
    for letters, shape in zip(inputs, shapes, strict=True):
        sizes.update(zip(letters, shape, strict=True))
    return 2 * int(np.prod(list(sizes.values())))


def profiler_flops(graph) -> int | None:
    """TensorFlow profiler's ``float_operation`` total for a graph, or None if it fails.

    This registry counts convolutions and matmuls (2 per multiply-add) and
    most elementwise ops and reductions (1 per output element).
    """
    import tensorflow as tf

    try:
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
        return int(profile.total_float_ops)
    except Exception:  # noqa: BLE001 (the profiler is a best-effort cross-check)
        return None


def count_flops(concrete) -> dict:
    """``{"profiler": int|None, "conv_matmul": int, "flops": int, "uncounted": [...]}``.

    ``flops`` is the profiler's number when it works, else the conv/matmul count.
    """
    conv_matmul, unknown = conv_matmul_flops(concrete.graph)
    profiled = profiler_flops(concrete.graph)
    if profiled:
        # The profiler's registry has no Einsum: add those products.
        profiled += sum(
            _einsum_flops(op) or 0
            for op in concrete.graph.get_operations()
            if op.type == "Einsum"
        )
    return {
        "profiler": profiled,
        "conv_matmul": conv_matmul,
        "flops": profiled if profiled else conv_matmul,
        "uncounted": unknown,
    }


# ------------------------------------------------------------ peak memory


def current_rss_bytes() -> int | None:
    """Resident set size now (Linux /proc/self/statm), or None."""
    try:
        pages = int(pathlib.Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmHWM``, ``VmRSS``) in KiB, or None."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak RSS in bytes.

    ``VmHWM`` of /proc/self/status where there is one (Linux), else
    ``getrusage(RUSAGE_SELF).ru_maxrss``. Both are the high-water mark of the
    resident set, but ``ru_maxrss`` also takes the maximum with the peak of the
    process image that ran before ``exec``: Python starts subprocesses with
    ``vfork``, so a worker's ``ru_maxrss`` never drops below its parent's peak
    (TensorFlow and models: gigabytes), even after a reset. ``VmHWM`` belongs
    to the worker's own address space.
    """
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak_rss() -> bool:
    """Resets this process's peak RSS to its current RSS (Linux >= 4.0).

    Writes ``5`` to ``/proc/self/clear_refs``; the peak (:func:`peak_rss_bytes`)
    then restarts from the current RSS, so a measurement after set-up (and
    after a warm-up call) sees only its own peak. Returns False where that is
    not possible.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    current = current_rss_bytes()
    return current is not None and peak_rss_bytes() <= current + 4 * MIB


# --------------------------------------------------------------- settings


def _load_config_file(path: os.PathLike):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"benchmark_config_{pathlib.Path(path).stem}", str(path)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def config_file(name: str):
    """``configs/NAME.py`` of this repository, loaded."""
    return _load_config_file(REPO_ROOT / "configs" / f"{name}.py")


@dataclasses.dataclass
class Settings:
    """Sizes and repeat counts of every section.

    Attributes:
        quick: quick mode (reported in the header).
        weights: the demo model (a workdir or ``*.weights.h5``); None = the
            bundled demo weights.
        paper_config: configuration of the paper-size model (random weights).
        repeats / warmup: timed and untimed calls per latency figure.
        matmul_size: side of the square matmul measuring the machine's throughput.
        attention_grids: attention grid sides G (N = G²).
        attention_chunks: extra chunk sizes measured besides the paper config's.
        end_to_end_sizes: (height, width) of the gray inputs.
        end_to_end_repeats: colorize calls timed per size.
        end_to_end_paper: also measure the paper-size model (random weights)
            end to end.
        reference_size: side of the square reference.
        tflite_modes: quantisations converted.
        tflite_calibration: int8 calibration pairs (None: all of tflite_lib's).
        pipeline_config: configuration of the input pipeline / training steps.
        pipeline_batches / pipeline_warmup: batches timed / pulled before.
        train_steps / train_warmup: training steps timed / run before, per stage.
        policies: precision policies of the training-step comparison.
        train_budget_seconds: a stage's time budget (fewer timed steps past it).
        policy_timeout: seconds before a policy's training-step process is stopped.
        worker_timeout: seconds before another subprocess is stopped.
        isolate: run the attention and training-step measurements in fresh
            processes (False: in this process; tests only, see :func:`run_worker`).
            The end-to-end measurement always runs in a fresh process.
    """

    quick: bool = False
    weights: str | None = None
    paper_config: object = None
    repeats: int = 10
    warmup: int = 2
    matmul_size: int = 2048
    attention_grids: tuple = (64, 128)
    attention_chunks: tuple = (256,)
    end_to_end_sizes: tuple = (
        (512, 512),
        (1024, 1024),
        (2560, 2560),
        (4096, 4096),
        (1600, 2560),
    )
    end_to_end_repeats: int = 3
    end_to_end_paper: bool = True
    reference_size: int = 512
    tflite_modes: tuple = ("none", "float16", "dynamic", "int8")
    tflite_calibration: int | None = None
    tflite_repeats: int = 10
    pipeline_config: object = None
    pipeline_batches: int = 40
    pipeline_warmup: int = 5
    train_steps: int = 10
    train_warmup: int = 2
    train_stages: tuple = (1, 2)
    train_budget_seconds: float = 120.0
    policy_timeout: float = 900.0
    isolate: bool = True
    policies: tuple = POLICIES
    worker_timeout: float = 1800.0

    @classmethod
    def full(cls, weights=None) -> Settings:
        return cls(
            weights=weights,
            paper_config=config_file("paper"),
            pipeline_config=config_file("small"),
        )

    @classmethod
    def quick_mode(cls, weights=None) -> Settings:
        """Fewer repeats, smaller sizes: under 5 minutes on a 2-core machine."""
        return cls(
            quick=True,
            weights=weights,
            paper_config=config_file("paper"),
            repeats=3,
            warmup=1,
            matmul_size=2048,
            attention_grids=(64,),
            attention_chunks=(),
            end_to_end_sizes=((512, 512), (1024, 1024), (1600, 2560)),
            end_to_end_repeats=1,
            end_to_end_paper=False,
            tflite_modes=("none", "float16"),
            tflite_repeats=3,
            pipeline_config=config_file("small"),
            pipeline_batches=8,
            pipeline_warmup=2,
            train_steps=3,
            train_warmup=1,
            train_budget_seconds=60.0,
            policy_timeout=300.0,
            policies=("float32", "mixed_bfloat16"),
            worker_timeout=600.0,
        )


def resolve_weights(weights) -> pathlib.Path:
    """``weights`` or the bundled demo model; raises FileNotFoundError with a hint."""
    from attention_colorization import workdir as workdir_lib

    # colorizer.bundled_weights_dir(), without importing TensorFlow (fast errors).
    bundled = pathlib.Path(__file__).resolve().parent / "weights" / "demo"
    path = pathlib.Path(weights) if weights else bundled
    weights_file = path / workdir_lib.WEIGHTS_FILE if path.is_dir() else path
    if not weights_file.is_file():
        raise FileNotFoundError(
            f"no model weights at {weights_file}; pass --weights=WORKDIR (a "
            "training workdir or a *.weights.h5 file with config.json beside it)"
        )
    return path


# -------------------------------------------------------------- workers


class WorkerTimeout(RuntimeError):
    """A worker ran past its time limit; ``progress`` holds what it reported."""

    def __init__(self, message: str, progress: list[dict]):
        super().__init__(message)
        self.progress = progress


def _progress_lines(stdout) -> list[dict]:
    if isinstance(stdout, bytes):
        stdout = stdout.decode(errors="replace")
    return [
        json.loads(line[len(PROGRESS_PREFIX) :])
        for line in (stdout or "").splitlines()
        if line.startswith(PROGRESS_PREFIX)
    ]


def report_progress(**values) -> None:
    """From a worker: one progress record, which the parent sees even on a timeout."""
    print(PROGRESS_PREFIX + json.dumps(values), flush=True)


def run_worker(
    kind: str, params: dict, timeout: float = 1800.0, isolate: bool = True
) -> dict:
    """Runs ``_worker_KIND(params)`` in a fresh Python process; returns its dict.

    ``isolate=False`` runs it in this process instead (the tests' shortcut: the
    same code without a TensorFlow start-up; its memory figures then mix with
    this process's and the timeout does not apply).

    Raises:
        WorkerTimeout: it ran past ``timeout`` (with its progress records).
        RuntimeError: the process failed or printed no result; the message ends
            with the last lines of its output.
    """
    if not isolate:
        try:
            result = _WORKERS[kind](dict(params))
        except Exception as error:
            raise RuntimeError(
                f"{kind} worker: {type(error).__name__}: {error}"
            ) from error
        return json.loads(json.dumps(result))
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("KERAS_BACKEND", "tensorflow")
    command = [
        sys.executable,
        "-m",
        "attention_colorization.benchmarking",
        "_worker",
        kind,
        json.dumps(params),
    ]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired as error:
        raise WorkerTimeout(
            f"{kind} worker timed out after {timeout:.0f} s",
            _progress_lines(error.stdout),
        ) from error
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX) :])
            if "error" in result:
                raise RuntimeError(f"{kind} worker: {result['error']}")
            return result
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    raise RuntimeError(f"{kind} worker exited with {done.returncode}: {tail}")


def _worker_main(argv: list[str]) -> int:
    kind, params = argv[0], json.loads(argv[1])
    try:
        if kind not in _WORKERS:
            raise KeyError(f"unknown worker {kind!r}")
        result = _WORKERS[kind](params)
    except Exception as error:  # noqa: BLE001 (reported to the parent)
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}".splitlines()[0][:500]}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# ----------------------------------------------------------------- latency


def synthetic_inputs(config, seed: int = 0) -> dict:
    """Model inputs of batch 1: a smooth gray L, one smooth reference and its histogram."""
    import tensorflow as tf

    from attention_colorization import color

    s = int(config.data.image_size)
    gray = synthetic_photo(s, s, seed)
    ref = synthetic_photo(s, s, seed + 1)
    lightness = color.rgb_to_lightness(tf.constant(gray, tf.float32) / 255.0)
    ref_lab = color.rgb_to_lab(tf.constant(ref, tf.float32) / 255.0)
    ref_hist = color.reference_histogram(ref_lab[..., 1:], floor=config.data.hist_floor)
    return {"l": lightness[None], "ref_lab": ref_lab[None], "ref_hist": ref_hist[None]}


def stage_functions(generator, inputs: dict) -> list[tuple[str, Callable, tuple]]:
    """The generator's forward split into its sublayer calls, each a tf.function.

    Runs each stage once to get the real inputs of the next one (one
    reference, stage 2, inference mode), exactly as ``Generator.call`` does.

    Returns:
        ``[(stage name, tf.function, args, counted)]`` for F (gray and
        reference, one batched call), SCM, DCM, fusion, decoder, then
        ``forward`` (the whole ``generator(...)`` call). ``counted`` is the
        function whose graph the FLOPs are counted on: the same computation
        with the SCM's chunks unrolled, since counters do not look into loops.
    """
    import tensorflow as tf
    from keras import ops

    from attention_colorization import color

    g = generator
    l_net = ops.cast(color.l_to_net(tf.cast(inputs["l"], tf.float32)), g.compute_dtype)
    ref_lab = tf.cast(inputs["ref_lab"], tf.float32)
    ref_hist = tf.cast(inputs["ref_hist"], tf.float32)

    encode = tf.function(lambda x, r: g._encode_with_references(x, r, False))
    features, ref_features, ref_l, ref_ab = encode(l_net, ref_lab)
    queries = [features[n] for n in g.query_layers] + [l_net]
    keys = [ref_features[n][:, 0] for n in g.query_layers] + [ref_l[:, 0]]
    scm = tf.function(lambda q, k, v: g.semantic_color(q, k, v))
    scm_unrolled = tf.function(lambda q, k, v: g.semantic_color(q, k, v, loop=False))
    c_r, w_r, _ = scm(queries, keys, ref_ab[:, 0])
    prior = g._prior(ref_hist, ref_ab)
    dcm = tf.function(lambda f, p: g.database_color(f, p))
    c_d, w_d = dcm(features["conv8"], prior)
    gate = tf.function(lambda c, w: g.gate(c, w))
    fused, _ = gate([c_r, c_d], [w_r, w_d])
    decoder = tf.function(lambda c, f: g.decoder(c, f, training=False))
    forward = tf.function(lambda x: g(x, training=False, stage=2))
    forward_unrolled = tf.function(
        lambda x: g(x, training=False, stage=2, attention_loop=False)
    )
    model_inputs = {"l": inputs["l"], "ref_lab": ref_lab, "ref_hist": ref_hist}
    return [
        ("F (gray + reference)", encode, (l_net, ref_lab), encode),
        ("SCM", scm, (queries, keys, ref_ab[:, 0]), scm_unrolled),
        ("DCM", dcm, (features["conv8"], prior), dcm),
        ("fusion", gate, ([c_r, c_d], [w_r, w_d]), gate),
        ("decoder", decoder, (fused, features), decoder),
        ("forward", forward, (model_inputs,), forward_unrolled),
    ]


def stage_latency(generator, config, repeats: int = 10, warmup: int = 2) -> dict:
    """Median latency and FLOPs of each stage of one forward (batch 1, one reference).

    Returns:
        ``{"image_size", "stages": [{"stage", "seconds", "flops",
        "conv_matmul_flops", "profiler_flops"}], "forward": {...}, "sum_seconds"}``.
    """
    inputs = synthetic_inputs(config)
    rows = []
    for name, fn, args, counted in stage_functions(generator, inputs):
        flops = count_flops(counted.get_concrete_function(*args))
        seconds, _ = median_seconds(fn, *args, repeats=repeats, warmup=warmup)
        rows.append(
            {
                "stage": name,
                "seconds": seconds,
                "flops": flops["flops"],
                "conv_matmul_flops": flops["conv_matmul"],
                "profiler_flops": flops["profiler"],
                "uncounted": flops["uncounted"],
            }
        )
    stages, forward = rows[:-1], rows[-1]
    return {
        "image_size": int(config.data.image_size),
        "width": float(config.model.width),
        "stages": stages,
        "forward": forward,
        "sum_seconds": sum(r["seconds"] for r in stages),
    }


def _latency_table(result: dict, peak_gflops: float) -> list[str]:
    rows = []
    total = result["sum_seconds"]
    for r in result["stages"] + [result["forward"]]:
        gflops = r["flops"] / r["seconds"] / 1e9
        rows.append(
            [
                r["stage"],
                1000 * r["seconds"],
                (
                    f"{100 * r['seconds'] / total:.0f} %"
                    if r in result["stages"]
                    else f"sum of stages {1000 * total:.1f} ms"
                ),
                r["flops"] / 1e9,
                r["conv_matmul_flops"] / 1e9,
                gflops,
                f"{100 * gflops / peak_gflops:.1f} %",
            ]
        )
    return markdown_table(
        [
            "stage",
            "median ms",
            "share",
            "GFLOP (profiler)",
            "GFLOP (conv+matmul)",
            "GFLOP/s",
            "of matmul peak",
        ],
        rows,
    )


def latency_section(settings: Settings) -> SectionResult:
    import keras

    from attention_colorization import workdir as workdir_lib
    from attention_colorization.model import build_generator

    result = SectionResult("latency", "1. Forward latency by stage")
    peak = matmul_gflops(settings.matmul_size, settings.repeats, settings.warmup)
    result.data["matmul"] = peak
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    models = [
        (
            "paper config (random weights)",
            build_generator(settings.paper_config),
            settings.paper_config,
        )
    ]
    weights = resolve_weights(settings.weights)
    generator, config = workdir_lib.load_generator(weights)
    models.append((f"demo model ({weights})", generator, config))

    result.lines += [
        f"float32 matmul throughput of this machine: {fmt(peak['gflops'])} GFLOP/s "
        f"(median of {settings.repeats} tf.function calls of "
        f"{peak['size']}×{peak['size']} @ {peak['size']}×{peak['size']}, "
        f"{fmt(1000 * peak['seconds'])} ms each).",
        "",
    ]
    for label, model, config in models:
        measured = stage_latency(model, config, settings.repeats, settings.warmup)
        result.data.setdefault("models", []).append({"model": label, **measured})
        forward = measured["forward"]
        result.lines += [
            f"### {label}: {measured['image_size']} px, width {measured['width']}",
            "",
            f"Batch 1, one reference, inference, float32 policy; median of "
            f"{settings.repeats} calls after {settings.warmup} warm-up call(s), each "
            "stage a separate tf.function on the real intermediate inputs.",
            "",
        ]
        result.lines += _latency_table(measured, peak["gflops"])
        result.lines.append("")
        if label.startswith("paper"):
            result.targets += latency_targets(
                forward["flops"], forward["seconds"], peak["gflops"]
            )
        del model
        gc.collect()
    result.lines += [
        "FLOPs: `tf.compat.v1.profiler` `float_operation` on each concrete "
        "function's graph (convolutions and matmuls at 2 per multiply-add, plus "
        "elementwise ops and reductions at 1 per element; ops it has no entry for, "
        "e.g. resizes and top-k, count 0). The conv+matmul column counts only "
        "`Conv2D`, `Conv2DBackpropInput` and `(Batch)MatMul` at 2 per multiply-add; "
        "dilated convolutions are counted on their space-to-batch shapes (zero "
        "padding included). The SCM's attention products are in both counts.",
    ]
    return result


# --------------------------------------------------------------- attention


def attention_dim(config) -> int:
    """D, the SCM embedding width: the query layers' channels plus L."""
    from attention_colorization.layers import FeatureExtractor
    from attention_colorization.model import DEFAULT_QUERY_LAYERS

    channels = FeatureExtractor(config.model.width).channels
    return int(sum(channels[n] for n in DEFAULT_QUERY_LAYERS) + 1)


def _unit_rows(rng, n: int, d: int) -> np.ndarray:
    """``[1, n, d]`` float32 unit vectors, made in blocks (no float64 temporaries)."""
    out = np.empty((n, d), np.float32)
    for start in range(0, n, 1024):
        block = rng.standard_normal((min(1024, n - start), d), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out[None]


def _worker_attention(params: dict) -> dict:
    import tensorflow as tf

    from attention_colorization.layers.semantic_color import SemanticColorModule

    grid, dim, chunk = params["grid"], params["dim"], params["chunk"]
    top_k, tau = params["top_k"], params["tau"]
    n = grid * grid
    rng = np.random.default_rng(0)
    # Warm TensorFlow (runtime, thread pools, kernels) on a small problem.
    small = SemanticColorModule(8, tau=tau, chunk_size=16, top_k=min(top_k, 64))
    q8 = tf.constant(_unit_rows(rng, 64, dim))
    tf.function(small.attend)(q8, q8, tf.zeros((1, 64, 2)))

    layer = SemanticColorModule(grid, tau=tau, chunk_size=chunk, top_k=top_k)
    query = tf.constant(_unit_rows(rng, n, dim))
    key = tf.constant(_unit_rows(rng, n, dim))
    value = tf.constant(rng.uniform(-1, 1, (1, n, 2)).astype(np.float32))
    # Traced, not run: the call below is its first, as in a fresh process, so
    # nothing it allocates is already resident from an earlier call.
    attend = tf.function(layer.attend).get_concrete_function(query, key, value)
    gc.collect()
    reset = reset_peak_rss()  # Forget the peak of making the inputs.
    before = peak_rss_bytes()
    baseline = current_rss_bytes()
    start = time.perf_counter()
    colors, tops, matches = attend(query, key, value)
    seconds = time.perf_counter() - start
    after = peak_rss_bytes()
    checksum = float(tf.reduce_sum(colors)) + float(tf.reduce_sum(tops))
    return {
        "n": n,
        "dim": dim,
        "chunk": chunk,
        "seconds": seconds,
        "peak_increase_bytes": after - before,
        "baseline_bytes": baseline,
        "inputs_bytes": int(query.numpy().nbytes + key.numpy().nbytes),
        "peak_reset": reset,
        "finite": bool(math.isfinite(checksum)),
        "matches_valid": bool(np.all((matches.numpy() >= 0) & (matches.numpy() < n))),
    }


def attention_memory(
    grid: int,
    dim: int,
    chunk: int,
    top_k: int = 8,
    tau: float = 0.01,
    timeout=1800.0,
    isolate: bool = True,
) -> dict:
    """Peak RSS increase of one SCM ``attend`` call in a fresh process.

    ``chunk >= grid²`` is the plain (unchunked) attention.
    """
    params = {"grid": grid, "dim": dim, "chunk": chunk, "top_k": top_k, "tau": tau}
    return run_worker("attention", params, timeout, isolate)


def attention_section(settings: Settings) -> SectionResult:
    config = settings.paper_config
    dim = attention_dim(config)
    chunk = int(config.model.attention_chunk)
    top_k, tau = int(config.model.confidence_topk), float(config.model.tau)
    result = SectionResult("attention", "2. SCM attention peak memory")
    rows = []
    for grid in settings.attention_grids:
        n = grid * grid
        modes = [("chunked", chunk)] + [
            ("chunked", c) for c in settings.attention_chunks if c < n and c != chunk
        ]
        modes.append(("plain", n))
        for mode, size in modes:
            m = attention_memory(
                grid, dim, size, top_k, tau, settings.worker_timeout, settings.isolate
            )
            m["mode"] = mode
            result.data.setdefault("runs", []).append(m)
            plain_matrix = 4.0 * n * n / MIB
            rows.append(
                [
                    f"{grid}×{grid}",
                    n,
                    dim,
                    mode,
                    size,
                    m["peak_increase_bytes"] / MIB,
                    plain_matrix,
                    1000 * m["seconds"],
                ]
            )
    result.targets += attention_targets(result.data.get("runs", []), chunk)
    result.lines += markdown_table(
        [
            "grid",
            "N",
            "D",
            "mode",
            "chunk",
            "peak RSS increase MiB",
            "N×N float32 MiB",
            "call ms",
        ],
        rows,
    )
    result.lines += [
        "",
        f"`SemanticColorModule.attend(q, k, v)` (tf.function) with unit-norm random "
        f"q, k `[1, N, {dim}]` (D of the paper config: its six query layers plus L) "
        f"and v `[1, N, 2]`, top-k {top_k}, τ {tau}. One fresh process per row: "
        "TensorFlow is warmed on a small problem (N = 64), the measured function "
        "is traced, the inputs are made, the peak RSS is reset "
        "(`/proc/self/clear_refs`), and the figure is the peak RSS after minus "
        "before the function's first call (inputs excluded). Peak RSS = "
        "`VmHWM` of /proc/self/status, not `ru_maxrss`: Python starts the worker "
        "with vfork, so its `ru_maxrss` never drops below the parent's peak. "
        "Plain = chunk ≥ N.",
    ]
    return result


# -------------------------------------------------------------- end to end


def synthetic_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth, colourful uint8 RGB photo ``[height, width, 3]`` (gradients and a disc)."""
    rng = np.random.default_rng(seed)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    xx = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    phase = rng.uniform(0, 2 * np.pi, size=3)
    cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
    disc = ((yy - cy) ** 2 + (xx - cx) ** 2) < r**2
    disc_colour = rng.uniform(0, 255, size=3)
    out = np.empty((height, width, 3), np.uint8)
    for c in range(3):
        channel = 127.5 + 127.5 * np.sin(3 * xx + 2 * yy + phase[c])
        out[..., c] = np.where(disc, disc_colour[c], channel).astype(np.uint8)
    return out


def synthetic_gray(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth uint8 gray image ``[height, width]``."""
    rgb = synthetic_photo(height, width, seed)
    gray = np.empty((height, width), np.uint8)
    for start in range(0, height, 512):  # Blocks: no full-size float temporaries.
        block = rgb[start : start + 512].astype(np.float32)
        gray[start : start + 512] = np.round(block @ [0.299, 0.587, 0.114])
    return gray


def _worker_end_to_end(params: dict) -> dict:
    from attention_colorization.colorizer import Colorizer

    height, width = params["height"], params["width"]
    colorizer = Colorizer.load(params["weights"])
    reference = synthetic_photo(params["reference_size"], params["reference_size"], 1)
    network = []
    run = colorizer._run

    def timed_run(*args, **kwargs):
        start = time.perf_counter()
        out = run(*args, **kwargs)
        network.append(time.perf_counter() - start)
        return out

    colorizer._run = timed_run
    colorizer.colorize(synthetic_gray(64, 64, 2), reference=reference)  # trace, warm
    image = synthetic_gray(height, width, 0)
    gc.collect()
    network.clear()
    reset = reset_peak_rss()
    baseline = current_rss_bytes()
    before = peak_rss_bytes()
    totals = []
    for _ in range(params["repeats"]):
        start = time.perf_counter()
        out = colorizer.colorize(image, reference=reference)
        totals.append(time.perf_counter() - start)
        del out
    peak = peak_rss_bytes()
    total = statistics.median(totals)
    net = statistics.median(network)
    return {
        "height": height,
        "width": width,
        "seconds": total,
        "network_seconds": net,
        "rest_seconds": max(total - net, 0.0),
        "peak_rss_bytes": peak,
        "peak_increase_bytes": peak - before,
        "baseline_bytes": baseline,
        "peak_reset": reset,
        "repeats": params["repeats"],
    }


def end_to_end(
    weights, height: int, width: int, reference_size=512, repeats=3, timeout=1800.0
) -> dict:
    """``Colorizer.colorize`` time (network vs rest) and peak RSS, in a fresh process."""
    params = {
        "weights": str(weights),
        "height": int(height),
        "width": int(width),
        "reference_size": int(reference_size),
        "repeats": int(repeats),
    }
    return run_worker("end_to_end", params, timeout)


def end_to_end_section(settings: Settings) -> SectionResult:
    """The demo model's end-to-end figures, then (full mode) the paper model's."""
    weights = resolve_weights(settings.weights)
    result = SectionResult("end_to_end", "3. End to end: `Colorizer.colorize`")
    _end_to_end_model(result, settings, weights, f"demo model ({weights})", "")
    if settings.end_to_end_paper and settings.paper_config is not None:
        with tempfile.TemporaryDirectory(prefix="benchmark-paper-") as tmp:
            _write_random_workdir(settings.paper_config, tmp)
            _end_to_end_model(
                result,
                settings,
                tmp,
                "paper config (random weights): 256 px, width 1.0",
                " (paper model)",
            )
    result.lines += [
        "",
        "Synthetic gray uint8 inputs of the sizes shown and one "
        f"{settings.reference_size} px reference; median of "
        f"{settings.end_to_end_repeats} call(s) after a warm-up call at 64 px (which "
        "traces the network). One fresh process per size. *network* is the "
        "`Colorizer._run` call (the generator at its model size), *rest* everything "
        "else (decode, resizes, colour conversion, ab upsampling, gamut fitting, "
        "uint8). *peak RSS* is the process's peak resident set (`VmHWM`, reset "
        "before the timed calls) during the timed calls "
        "(TensorFlow and the model included; GB = 10⁹ bytes), *peak increase* that "
        "minus the RSS before them.",
    ]
    return result


def _write_random_workdir(config, path) -> None:
    """A loadable workdir (``config.json``, weights) of ``config``, untrained."""
    from attention_colorization import workdir as workdir_lib
    from attention_colorization.model import build_generator

    workdir_lib.save_config(config, path)
    generator = build_generator(config)
    generator.save_weights(str(pathlib.Path(path) / workdir_lib.WEIGHTS_FILE))


def _end_to_end_model(result, settings, weights, title: str, suffix: str) -> None:
    """Measures one model at every size; adds its table and targets to ``result``."""
    rows, by_size = [], {}
    for height, width in settings.end_to_end_sizes:
        m = end_to_end(
            weights,
            height,
            width,
            settings.reference_size,
            settings.end_to_end_repeats,
            settings.worker_timeout,
        )
        m["model"] = title
        by_size[(height, width)] = m
        result.data.setdefault("runs", []).append(m)
        rows.append(
            [
                f"{width}×{height}",
                m["seconds"],
                m["network_seconds"],
                m["rest_seconds"],
                f"{100 * m['rest_seconds'] / m['seconds']:.0f} %",
                m["peak_rss_bytes"] / 1e9,
                m["peak_increase_bytes"] / MIB,
            ]
        )
    result.lines += [f"### {title}", ""]
    result.lines += markdown_table(
        [
            "input (W×H)",
            "total s",
            "network s",
            "rest s",
            "rest share",
            "peak RSS GB",
            "peak increase MiB",
        ],
        rows,
    )
    result.lines.append("")
    for target in end_to_end_targets(by_size):
        target.name += suffix
        result.targets.append(target)


# ------------------------------------------------------------------ tflite


TFLITE_API = (
    "QUANTIZE_MODES",
    "SIGNATURE",
    "convert",
    "interpreter",
    "mobile_function_from_module",
    "representative_pairs",
)


def load_tflite_lib():
    """``export.tflite_lib`` if it exists with the API this section uses, else None."""
    import importlib

    try:
        module = importlib.import_module("export.tflite_lib")
    except ImportError:
        if str(REPO_ROOT) in sys.path:
            return None
        sys.path.append(str(REPO_ROOT))
        try:
            module = importlib.import_module("export.tflite_lib")
        except ImportError:
            return None
    if not all(hasattr(module, name) for name in TFLITE_API):
        return None
    return module


def tflite_latency(
    weights,
    modes=("none", "float16", "dynamic", "int8"),
    repeats=10,
    warmup=2,
    calibration: int | None = None,
) -> dict:
    """TFLite latency and size per quantisation, and the Keras latency of the same function.

    Both run the fixed-size mobile function (``gray`` uint8 ``[1, S, S, 1]``,
    ``reference`` uint8 ``[1, S, S, 3]`` -> ab ``[1, S, S, 2]``) on all cores.

    Returns:
        ``{"image_size", "threads", "keras_seconds", "modes": {mode: {"seconds",
        "bytes"}}}``, or ``{"available": False}`` without ``export/tflite_lib.py``.
    """
    import tensorflow as tf

    lib = load_tflite_lib()
    if lib is None:
        return {"available": False}
    from export import saved_model_lib

    module = saved_model_lib.load_module(weights)
    concrete, keep, size = lib.mobile_function_from_module(module)
    gray = synthetic_gray(size, size, 0)[None, ..., None]
    reference = synthetic_photo(size, size, 1)[None]
    keras_seconds, _ = median_seconds(
        module.mobile_ab,
        tf.constant(gray),
        tf.constant(reference),
        repeats=repeats,
        warmup=warmup,
    )
    threads = cpu_count()
    out = {
        "available": True,
        "image_size": size,
        "threads": threads,
        "keras_seconds": keras_seconds,
        "modes": {},
    }
    for mode in modes:
        samples = None
        if mode == "int8" and calibration is not None:
            samples = lib.representative_pairs(size)[:calibration]
        start = time.perf_counter()
        try:
            model = lib.convert(concrete, keep, mode, calibration=samples)
        except Exception as error:  # noqa: BLE001 (reported per mode)
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            out["modes"][mode] = {"error": message}
            continue
        convert_seconds = time.perf_counter() - start
        runner = lib.interpreter(model, num_threads=threads).get_signature_runner(
            lib.SIGNATURE
        )
        seconds, _ = median_seconds(
            runner, gray=gray, reference=reference, repeats=repeats, warmup=warmup
        )
        ab = runner(gray=gray, reference=reference)["ab"]
        out["modes"][mode] = {
            "seconds": seconds,
            "bytes": len(model),
            "convert_seconds": convert_seconds,
            "finite": bool(np.all(np.isfinite(ab))),
        }
    return out


def tflite_section(settings: Settings) -> SectionResult:
    result = SectionResult("tflite", "4. TFLite")
    weights = resolve_weights(settings.weights)
    m = tflite_latency(
        weights,
        settings.tflite_modes,
        settings.tflite_repeats,
        settings.warmup,
        settings.tflite_calibration,
    )
    result.data = m
    if not m["available"]:
        result.lines.append(
            "not available: `export/tflite_lib.py` is missing or lacks "
            f"{', '.join(TFLITE_API)}."
        )
        return result
    rows = [["Keras (tf.function, CPU)", 1000 * m["keras_seconds"], "—", "1.00"]]
    for mode, r in m["modes"].items():
        if "error" in r:
            rows.append([f"TFLite {mode}", "failed", "—", r["error"]])
            continue
        rows.append(
            [
                f"TFLite {mode}",
                1000 * r["seconds"],
                r["bytes"] / MIB,
                f"{r['seconds'] / m['keras_seconds']:.2f}",
            ]
        )
    result.lines += markdown_table(
        ["runtime", "median ms", "file MiB", "× Keras latency"], rows
    )
    result.lines += [
        "",
        f"Model: {weights}, fixed size {m['image_size']} px, one reference: the "
        "`mobile_ab` function of `export/saved_model_lib.ColorizerModule` (uint8 "
        "gray and reference in, ab out; colour conversion and the reference "
        "histogram in the graph), converted by `export/tflite_lib.convert`. "
        f"LiteRT interpreter with {m['threads']} threads (the machine's cores, as "
        f"TensorFlow uses); median of {settings.tflite_repeats} calls.",
    ]
    result.targets += tflite_targets(m["keras_seconds"], m["modes"])
    return result


# ---------------------------------------------------------------- pipeline


def sample_photos(folder: os.PathLike) -> list[pathlib.Path]:
    """Copies the colour photos shipped by installed packages into ``folder``.

    scikit-image's data photos, scikit-learn's ``china.jpg``/``flower.jpg`` and
    matplotlib's ``grace_hopper.jpg``, whichever are installed.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    try:
        import skimage.data

        base = pathlib.Path(skimage.data.__file__).parent
        sources += [
            base / name
            for name in (
                "astronaut.png",
                "chelsea.png",
                "coffee.png",
                "rocket.jpg",
                "motorcycle_left.png",
                "motorcycle_right.png",
                "hubble_deep_field.jpg",
                "retina.jpg",
                "ihc.png",
                "color.png",
            )
        ]
    except ImportError:
        pass
    try:
        import sklearn

        base = pathlib.Path(sklearn.__file__).parent / "datasets" / "images"
        sources += [base / "china.jpg", base / "flower.jpg"]
    except ImportError:
        pass
    try:
        import matplotlib

        sources.append(
            pathlib.Path(matplotlib.get_data_path())
            / "sample_data"
            / "grace_hopper.jpg"
        )
    except ImportError:
        pass
    copied = []
    for i, path in enumerate(p for p in sources if p.is_file()):
        target = folder / f"{i:02d}_{path.name}"
        shutil.copyfile(path, target)
        copied.append(target)
    if not copied:
        raise FileNotFoundError(
            "no sample photos: install scikit-image, scikit-learn or matplotlib"
        )
    return copied


def pipeline_config(config, photo_dir: os.PathLike):
    """``config`` reading ``photo_dir`` for both splits (no held-out share)."""
    config = config.copy_and_resolve_references()
    config.data.train_dir = str(photo_dir)
    config.data.val_dir = str(photo_dir)
    config.data.train_tfrecords = ""
    config.data.val_tfrecords = ""
    config.data.pairs_csv = ""
    return config


def pipeline_throughput(config, batches: int = 40, warmup: int = 5) -> dict:
    """Images/s of ``make_dataset(config, "train")`` over ``batches`` batches."""
    from attention_colorization.data import PipelineStats, make_dataset

    stats = PipelineStats()
    iterator = iter(make_dataset(config, "train", stats=stats))
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    batch["ref_hist"].numpy()
    seconds = time.perf_counter() - start
    images = batches * int(config.train.batch_size)
    return {
        "images_per_second": images / seconds,
        "seconds": seconds,
        "batches": batches,
        "batch_size": int(config.train.batch_size),
        "files": stats.num_files,
        "skipped": stats.skipped,
    }


def _worker_train_step(params: dict) -> dict:
    import keras
    import tensorflow as tf

    from attention_colorization import workdir as workdir_lib
    from attention_colorization.data import make_dataset
    from attention_colorization.model import build_discriminator, build_generator
    from attention_colorization.train_lib import make_gan, make_optimizer

    policy = params["policy"]
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    config = workdir_lib.load_config(params["config"])
    batch = next(iter(make_dataset(config, "train")))
    generator, discriminator = build_generator(config), build_discriminator(config)
    gan = make_gan(config, generator, discriminator, vgg=None)
    out = {"policy": policy, "batch_size": int(config.train.batch_size), "stages": {}}
    for stage in params["stages"]:
        gan.stage = stage
        g_optimizer = make_optimizer(config.train, policy)
        d_optimizer = make_optimizer(config.train, policy)
        gan.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
        g_optimizer.build(gan.stage_variables())
        d_optimizer.build(discriminator.trainable_variables)
        step = tf.function(gan.train_step)
        # The first call traces; then warm-up and timed steps while the stage's
        # time budget lasts (at least one timed step: a slow policy, e.g.
        # float16 on a CPU without fast float16 kernels, gets fewer steps).
        start = time.perf_counter()
        logs = step(batch)
        first = time.perf_counter() - start
        report_progress(stage=stage, first_call_seconds=first)
        budget = params.get("budget_seconds") or float("inf")
        for _ in range(params["warmup"] - 1):
            if time.perf_counter() - start > budget / 2:
                break
            logs = step(batch)
        times = []
        while len(times) < params["steps"]:
            if times and time.perf_counter() - start > budget:
                break
            t0 = time.perf_counter()
            logs = step(batch)
            times.append(time.perf_counter() - t0)
            report_progress(stage=stage, step_seconds=times[-1])
        seconds = statistics.median(times)
        out["stages"][str(stage)] = {
            "seconds": seconds,
            "steps_per_second": 1.0 / seconds,
            "images_per_second": out["batch_size"] / seconds,
            "steps_timed": len(times),
            "first_call_seconds": first,
            "g_loss_finite": math.isfinite(float(logs["g_loss"])),
        }
    return out


def train_step_throughput(
    config,
    policy: str = "float32",
    stages=(1, 2),
    steps=10,
    warmup=2,
    timeout=1800.0,
    budget_seconds: float | None = None,
    isolate: bool = True,
) -> dict:
    """Steps/s of the compiled ``gan.train_step`` per stage, under ``policy``, in a fresh process.

    ``config`` must read a photo folder (see :func:`pipeline_config`); the step
    runs on one batch of its pipeline, repeated, so the pipeline is not timed.
    """
    from attention_colorization import workdir as workdir_lib

    with tempfile.TemporaryDirectory(prefix="benchmark-config-") as tmp:
        workdir_lib.save_config(config, tmp)
        params = {
            "config": tmp,
            "policy": policy,
            "stages": list(stages),
            "steps": int(steps),
            "warmup": max(1, int(warmup)),
            "budget_seconds": budget_seconds,
        }
        return run_worker("train_step", params, timeout, isolate)


def partial_train_result(progress: list[dict], batch_size: int, message: str) -> dict:
    """A timed-out training-step worker's result from its progress records.

    Stages with timed steps get their median; the note says how far it got.
    """
    stages, firsts = {}, {}
    for record in progress:
        stage = str(record["stage"])
        if "first_call_seconds" in record:
            firsts[stage] = record["first_call_seconds"]
        if "step_seconds" in record:
            stages.setdefault(stage, []).append(record["step_seconds"])
    out = {"stages": {}, "batch_size": batch_size}
    for stage, times in stages.items():
        seconds = statistics.median(times)
        out["stages"][stage] = {
            "seconds": seconds,
            "steps_per_second": 1.0 / seconds,
            "images_per_second": batch_size / seconds,
            "steps_timed": len(times),
            "first_call_seconds": firsts.get(stage),
        }
    reached = ", ".join(
        f"stage {k} first call (trace + step) {v:.0f} s" for k, v in firsts.items()
    )
    out["error"] = message + (f"; {reached}" if reached else "; no step finished")
    return out


def pipeline_section(settings: Settings) -> SectionResult:
    result = SectionResult("pipeline", "5. Input pipeline vs training step")
    with tempfile.TemporaryDirectory(prefix="benchmark-photos-") as tmp:
        photos = sample_photos(tmp)
        config = pipeline_config(settings.pipeline_config, tmp)
        size = int(config.data.image_size)
        data = pipeline_throughput(
            config, settings.pipeline_batches, settings.pipeline_warmup
        )
        result.data["pipeline"] = data
        train = {}
        for policy in settings.policies:
            try:
                train[policy] = train_step_throughput(
                    config,
                    policy,
                    settings.train_stages,
                    settings.train_steps,
                    settings.train_warmup,
                    settings.policy_timeout,
                    settings.train_budget_seconds,
                    settings.isolate,
                )
            except WorkerTimeout as error:
                train[policy] = partial_train_result(
                    error.progress, int(config.train.batch_size), str(error)
                )
            except RuntimeError as error:
                train[policy] = {"error": str(error).splitlines()[0][:300]}
        result.data["train"] = train

    rows = []
    for policy, r in train.items():
        row = [policy]
        for stage in ("1", "2"):
            run = r.get("stages", {}).get(stage)
            row += (
                [run["steps_per_second"], run["images_per_second"]]
                if run
                else ["—", "—"]
            )
        notes = [
            f"stage {k}: {v['steps_timed']} step(s) timed (time budget)"
            for k, v in r.get("stages", {}).items()
            if v.get("steps_timed", settings.train_steps) < settings.train_steps
        ]
        if "error" in r:
            notes.insert(0, r["error"])
        rows.append(row + ["; ".join(notes)])
    for policy in POLICIES:
        if policy not in settings.policies:
            rows.append([policy, "—", "—", "—", "—", "not run in this mode"])
    result.lines += [
        f"Input pipeline: {fmt(data['images_per_second'])} images/s "
        f"({data['batches']} batches of {data['batch_size']} at {size} px after "
        f"{settings.pipeline_warmup} warm-up batch(es); {data['files']} photos from "
        f"installed packages: {', '.join(p.name for p in photos)}).",
        "",
    ]
    result.lines += markdown_table(
        [
            "policy",
            "stage 1 steps/s",
            "stage 1 images/s",
            "stage 2 steps/s",
            "stage 2 images/s",
            "note",
        ],
        rows,
    )
    result.lines += [
        "",
        f"Training step: `tf.function(gan.train_step)` of `train_lib.make_gan` "
        f"(generator + PatchGAN, both optimizers from `make_optimizer`, no VGG as in "
        f"the config), batch {data['batch_size']} at {size} px; median of "
        f"{settings.train_steps} steps after {settings.train_warmup} warm-up step(s) "
        "(the first traces) on one pipeline batch, fewer when a stage runs past "
        f"{settings.train_budget_seconds:.0f} s; one fresh process per policy (the "
        "Keras policy is process-wide), stopped after "
        f"{settings.policy_timeout:.0f} s. The pipeline was measured alone: in "
        "training it shares the cores with the steps.",
    ]
    result.targets += pipeline_targets(data["images_per_second"], train)
    return result


_WORKERS = {
    "attention": _worker_attention,
    "end_to_end": _worker_end_to_end,
    "train_step": _worker_train_step,
}


# ----------------------------------------------------------------- report


SECTION_FUNCTIONS = {
    "latency": latency_section,
    "attention": attention_section,
    "end_to_end": end_to_end_section,
    "tflite": tflite_section,
    "pipeline": pipeline_section,
}


def run_section(name: str, settings: Settings) -> SectionResult:
    """Runs one section; a failure becomes a section with ``error`` set."""
    start = time.perf_counter()
    try:
        result = SECTION_FUNCTIONS[name](settings)
    except (
        Exception
    ) as error:  # noqa: BLE001 (one failing section must not lose the rest)
        traceback.print_exc()
        result = SectionResult(name, name)
        result.error = f"{type(error).__name__}: {error}".splitlines()[0][:500]
    result.seconds = time.perf_counter() - start
    return result


def parse_sections(text: str | None) -> list[str]:
    """``"latency,attention"`` -> ``["latency", "attention"]`` (empty: all, in order)."""
    if not text:
        return list(SECTIONS)
    names = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(
            f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}"
        )
    return names


def render_report(
    results: Sequence[SectionResult], machine: dict, command: str, quick: bool
) -> str:
    """The markdown report: header (machine, command), target summary, sections."""
    load = machine.get("load_average")
    lines = [
        "# Benchmarks",
        "",
        f"Generated {datetime.datetime.now().isoformat(timespec='seconds')} by "
        f"`{command}`{' (quick mode: fewer repeats, smaller sizes)' if quick else ''}.",
        "",
        "## Machine",
        "",
    ]
    lines += markdown_table(
        [
            "CPU",
            "cores",
            "memory GiB",
            "TensorFlow",
            "Keras",
            "Python",
            "load average (1 min): start / end",
        ],
        [
            [
                machine["cpu"],
                machine["cores"],
                machine.get("memory_gib") or "—",
                machine["tensorflow"],
                machine["keras"],
                machine["python"],
                " / ".join(
                    "—" if x is None else f"{x:.2f}"
                    for x in (load, machine.get("load_average_end"))
                ),
            ]
        ],
    )
    lines += [
        "",
        f"Every figure below was measured on this machine ({machine_line(machine)}) "
        f"by the command above. A load average near or above the core count means "
        "the timings share the CPU with other work.",
        "",
        "## Targets",
        "",
    ]
    rows = [t.row(r.name) for r in results for t in r.targets]
    rows += [[r.name, "section failed", "—", "—", r.error] for r in results if r.error]
    lines += markdown_table(["section", "target", "measured", "target", "status"], rows)
    lines.append("")
    for r in results:
        lines.append(r.markdown(f"Measured on {machine_line(machine)} by `{command}`."))
    return "\n".join(lines).rstrip() + "\n"


def run_benchmarks(
    sections: Sequence[str], settings: Settings, command: str
) -> tuple[str, list[SectionResult]]:
    """Runs ``sections`` and renders the report. Returns (markdown, results)."""
    machine = machine_info()
    results = [run_section(name, settings) for name in sections]
    try:
        machine["load_average_end"] = os.getloadavg()[0]
    except OSError:
        pass
    return render_report(results, machine, command, settings.quick), results


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "_worker":
        sys.exit(_worker_main(sys.argv[2:]))
    sys.exit("usage: python tools/benchmark.py --help")
