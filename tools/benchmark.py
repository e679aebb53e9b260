r"""Measures the performance targets and writes a markdown report.

    python tools/benchmark.py                      # all sections, print the report
    python tools/benchmark.py --output=BENCHMARKS.md
    python tools/benchmark.py --quick --sections=latency,attention
    python tools/benchmark.py --weights=workdirs/demo   # instead of the demo model

Sections (``--sections``, comma-separated, default all): ``latency`` (forward
latency by stage and GFLOP/s vs this machine's matmul throughput),
``attention`` (SCM attention peak memory, chunked vs plain), ``end_to_end``
(``Colorizer.colorize`` time and peak memory by input size), ``tflite`` (each
quantisation vs Keras), ``pipeline`` (input pipeline vs training step
throughput, steps/s by precision policy). ``--quick`` uses fewer repeats and
smaller sizes (no 4096 px input, N = 4096 only) and finishes in a few minutes.

The report always goes to stdout; with ``--output`` it is also written there
(atomically). Each figure comes with the machine (CPU model, cores,
TensorFlow) and this command. The logic lives in the
``attention_colorization/benchmarks/`` package (one module per section).
"""

from __future__ import annotations

import os
import shlex
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

from attention_colorization import benchmarks  # noqa: E402
from attention_colorization import workdir as workdir_lib  # noqa: E402

_QUICK = flags.DEFINE_bool(
    "quick", False, "Fewer repeats and smaller sizes (a few minutes)."
)
_WEIGHTS = flags.DEFINE_string(
    "weights",
    None,
    "Model for the demo-model figures: a workdir or a *.weights.h5 with "
    "config.json beside it (default: the bundled demo weights).",
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Also write the report to this markdown file (atomically)."
)
_SECTIONS = flags.DEFINE_string(
    "sections",
    ",".join(benchmarks.SECTIONS),
    f"Comma-separated sections among {', '.join(benchmarks.SECTIONS)}.",
)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    try:
        sections = benchmarks.parse_sections(_SECTIONS.value)
    except ValueError as error:
        raise app.UsageError(str(error)) from error
    if any(s != "attention" for s in sections):
        try:
            benchmarks.resolve_weights(_WEIGHTS.value)
        except FileNotFoundError as error:
            sys.exit(f"error: {error}")
    make = benchmarks.Settings.quick_mode if _QUICK.value else benchmarks.Settings.full
    settings = make(weights=_WEIGHTS.value)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    report, results = benchmarks.run_benchmarks(sections, settings, command)
    print(report, flush=True)
    if _OUTPUT.value:
        workdir_lib.atomic_write_text(_OUTPUT.value, report)
        print(f"wrote {_OUTPUT.value}", file=sys.stderr)
    if any(r.error for r in results):
        sys.exit(1)


if __name__ == "__main__":
    app.run(main)
