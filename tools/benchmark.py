r"""Measures the performance targets and writes a markdown report.

    python tools/benchmark.py                      # all sections, print the report
    python tools/benchmark.py --output=BENCHMARKS.md
    python tools/benchmark.py --quick --sections=latency,attention
    python tools/benchmark.py --weights=workdirs/demo   # instead of the demo model
    python tools/benchmark.py --sections=end_to_end,cli --precision=bfloat16
    python tools/benchmark.py --sections=peers \
        --authors_repo=/tmp/transformer-for-image-colorization \
        --torch_python=/tmp/torchvenv/bin/python

Sections (``--sections``, comma-separated, default all): ``latency`` (forward
latency by stage and GFLOP/s vs this machine's matmul throughput),
``attention`` (SCM attention peak memory, chunked vs plain), ``end_to_end``
(``Colorizer.colorize`` time and peak memory by input size), ``tflite`` (each
quantisation vs Keras), ``pipeline`` (input pipeline vs training step
throughput, steps/s by precision policy), ``cli`` (``attention-colorize``
start-up, and a 7000 px JPEG reference beside a small photo), ``peers`` (the
authors' PyTorch generator vs ours at 256 px; needs ``--authors_repo`` and
``--torch_python``, else it only says how to run it). ``--precision`` is
``Colorizer.load``'s in ``end_to_end`` and ``cli``. ``--quick`` uses fewer
repeats and smaller sizes (no 4096 px input, N = 4096 only) and finishes in a
few minutes.

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
_PRECISION = flags.DEFINE_enum(
    "precision",
    "auto",
    ["auto", "float32", "bfloat16"],
    "Colorizer.load's precision in the end_to_end and cli sections (auto: "
    "bfloat16 where the hardware computes it natively, else float32).",
)
_AUTHORS_REPO = flags.DEFINE_string(
    "authors_repo",
    None,
    "peers: a checkout of github.com/wangyins/transformer-for-image-colorization.",
)
_TORCH_PYTHON = flags.DEFINE_string(
    "torch_python", None, "peers: a Python with torch and numpy."
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
    settings = make(
        weights=_WEIGHTS.value,
        precision=_PRECISION.value,
        authors_repo=_AUTHORS_REPO.value,
        torch_python=_TORCH_PYTHON.value,
    )
    if "peers" in sections:
        from attention_colorization.benchmarks.peers import (
            HOW_TO_RUN,
            check_peer_inputs,
        )

        why = check_peer_inputs(settings.authors_repo, settings.torch_python)
        if why is not None and why != HOW_TO_RUN:
            sys.exit(f"error: {why}")
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
