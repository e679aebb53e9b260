"""Section ``peers``: the authors' PyTorch generator against ours, at 256 px.

    python tools/benchmark.py --sections=peers \\
        --authors_repo=DIR --torch_python=PATH

``DIR`` is a checkout of github.com/wangyins/transformer-for-image-colorization
(only its ``models/networks.py`` and ``doc/ab_constant_filter.npy`` are
read), ``PATH`` a Python with torch and numpy. Without both the section says
how to run it and measures nothing.

Each measurement is a fresh process, and the implementations alternate
round by round (theirs, ours float32, ours bfloat16, then again), so a
change in the machine's load falls on all of them alike:

* theirs (:mod:`.authors_worker`, run by ``PATH``): ``define_G(1, 198, 2,
  'instance', 'normal', 0.02, [])`` with random weights, one forward pass on
  random inputs of the shapes their test pipeline feeds it (target and
  reference L ``[1, 1, 256, 256]``, reference ab ``[1, 2, 64, 64]``,
  histogram ``[1, 198]``, their ab constants);
* ours (:func:`peers_worker`): ``configs/paper.py``'s generator (random
  weights) through ``Colorizer.colorize`` on a 256 x 256 gray photo and a
  256 px reference, in float32 and in bfloat16; the network pass alone
  (``Colorizer._run``) is timed too.

Both report the median seconds of their timed calls and their peak RSS
(``VmHWM``, the whole process: framework and model included).
"""

from __future__ import annotations

import json
import pathlib
import statistics
import subprocess
import tempfile
import time

from attention_colorization.benchmarks.memory import peak_rss_bytes
from attention_colorization.benchmarks.report import SectionResult, markdown_table
from attention_colorization.benchmarks.settings import Settings
from attention_colorization.benchmarks.workers import RESULT_PREFIX, run_worker

AUTHORS_URL = "https://github.com/wangyins/transformer-for-image-colorization"
AUTHORS_FILES = ("models/networks.py", "doc/ab_constant_filter.npy")
OUR_PRECISIONS = ("float32", "bfloat16")
HOW_TO_RUN = (
    "Skipped: give `--authors_repo=DIR` (a checkout of "
    f"[the authors' code]({AUTHORS_URL})) and `--torch_python=PATH` (a Python "
    "with torch and numpy), e.g. `python tools/benchmark.py --sections=peers "
    "--authors_repo=/tmp/transformer-for-image-colorization "
    "--torch_python=/tmp/torchvenv/bin/python`."
)


def check_peer_inputs(authors_repo, torch_python) -> str | None:
    """Why the peers section cannot run (one line), or None when it can."""
    if not authors_repo or not torch_python:
        return HOW_TO_RUN
    repo = pathlib.Path(authors_repo)
    missing = [f for f in AUTHORS_FILES if not (repo / f).is_file()]
    if missing:
        return f"{repo}: not a checkout of {AUTHORS_URL} (no {', '.join(missing)})"
    if not pathlib.Path(torch_python).is_file():
        return f"{torch_python}: no such Python"
    return None


def authors_forward(
    torch_python: str,
    authors_repo: str,
    size: int = 256,
    repeats: int = 5,
    warmup: int = 2,
    timeout: float = 1800.0,
) -> dict:
    """Their generator's forward time and peak RSS, in a fresh ``torch_python``."""
    params = {
        "repo": str(authors_repo),
        "size": int(size),
        "repeats": int(repeats),
        "warmup": int(warmup),
    }
    script = pathlib.Path(__file__).with_name("authors_worker.py")
    done = subprocess.run(
        [str(torch_python), str(script), json.dumps(params)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
    raise RuntimeError(f"authors' worker exited with {done.returncode}: {tail}")


def peers_worker(params: dict) -> dict:
    """Worker ``peers``: ``Colorizer.colorize`` of our model at one precision."""
    from attention_colorization.benchmarks.end_to_end import time_network
    from attention_colorization.benchmarks.synthetic import (
        synthetic_gray,
        synthetic_photo,
    )
    from attention_colorization.colorizer import Colorizer

    size = params["size"]
    colorizer = Colorizer.load(params["weights"], precision=params["precision"])
    network = time_network(colorizer)
    gray = synthetic_gray(size, size, 0)
    reference = synthetic_photo(size, size, 1)
    for _ in range(params["warmup"]):
        colorizer.colorize(gray, reference=reference)
    network.clear()
    times = []
    for _ in range(params["repeats"]):
        start = time.perf_counter()
        colorizer.colorize(gray, reference=reference)
        times.append(time.perf_counter() - start)
    return {
        "seconds": statistics.median(times),
        "times": times,
        "network_seconds": statistics.median(network),
        "peak_rss_bytes": peak_rss_bytes(),
        "precision": colorizer.precision,
        "parameters": int(colorizer.generator.count_params()),
    }


def peers_section(settings: Settings) -> SectionResult:
    """Theirs vs ours (float32, bfloat16), alternating, one process each."""
    result = SectionResult("peers", "Peers: the authors' PyTorch generator vs ours")
    why = check_peer_inputs(settings.authors_repo, settings.torch_python)
    if why is not None:
        if why != HOW_TO_RUN:
            raise ValueError(why)
        result.lines = [HOW_TO_RUN]
        result.data["skipped"] = True
        return result
    from attention_colorization.benchmarks.end_to_end import _write_random_workdir

    runs = {"theirs": [], **{p: [] for p in OUR_PRECISIONS}}
    with tempfile.TemporaryDirectory(prefix="benchmark-peers-") as tmp:
        _write_random_workdir(settings.paper_config, tmp)
        for _ in range(settings.peers_rounds):
            runs["theirs"].append(
                authors_forward(
                    settings.torch_python,
                    settings.authors_repo,
                    settings.peers_size,
                    settings.peers_repeats,
                    settings.peers_warmup,
                    settings.worker_timeout,
                )
            )
            for precision in OUR_PRECISIONS:
                params = {
                    "weights": tmp,
                    "precision": precision,
                    "size": settings.peers_size,
                    "repeats": settings.peers_repeats,
                    "warmup": settings.peers_warmup,
                }
                runs[precision].append(
                    run_worker(
                        "peers", params, settings.worker_timeout, settings.isolate
                    )
                )
    result.data["runs"] = runs
    _render(result, runs, settings)
    return result


def _render(result: SectionResult, runs: dict, settings: Settings) -> None:
    theirs = statistics.median(r["seconds"] for r in runs["theirs"])
    rows = [
        [
            f"theirs (PyTorch {runs['theirs'][0]['torch']}, float32)",
            " / ".join(f"{r['seconds']:.3f}" for r in runs["theirs"]),
            theirs,
            "—",
            1.0,
            max(r["peak_rss_bytes"] or 0 for r in runs["theirs"]) / 1e9,
        ]
    ]
    for precision in OUR_PRECISIONS:
        ours = runs[precision]
        median = statistics.median(r["seconds"] for r in ours)
        rows.append(
            [
                f"ours ({precision})",
                " / ".join(f"{r['seconds']:.3f}" for r in ours),
                median,
                statistics.median(r["network_seconds"] for r in ours),
                median / theirs,
                max(r["peak_rss_bytes"] for r in ours) / 1e9,
            ]
        )
        result.data[f"ratio_{precision}"] = median / theirs
    size = settings.peers_size
    result.lines += markdown_table(
        [
            "implementation",
            "median s per round",
            "median s",
            "network s",
            "× theirs",
            "peak RSS GB",
        ],
        rows,
    )
    result.lines += [
        "",
        f"{settings.peers_rounds} round(s), each a fresh process per row in "
        f"the order shown; a process times {settings.peers_repeats} call(s) "
        f"after {settings.peers_warmup} untimed one(s). Theirs: one forward "
        f"pass of `define_G(1, 198, 2, 'instance', 'normal', 0.02, [])` "
        f"({runs['theirs'][0]['parameters']:,} parameters, random weights) on "
        f"random inputs: target and reference L [1, 1, {size}, {size}], "
        f"reference ab [1, 2, {size // 4}, {size // 4}], histogram [1, 198], "
        "their `doc/ab_constant_filter.npy`. Ours: `Colorizer.colorize` of a "
        f"{size}×{size} gray photo with a {size} px reference, "
        "`configs/paper.py`'s generator "
        f"({runs['float32'][0]['parameters']:,} parameters, matching on F as "
        "the paper does, random weights; in bfloat16 F stays float32, "
        "`precision.keep_float32`); *network s* is its `Colorizer._run` alone. "
        "Both use every core (torch's and TensorFlow's default threads). "
        "*peak RSS* is each process's `VmHWM` (framework and model included).",
    ]
