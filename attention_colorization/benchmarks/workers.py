"""Worker processes: measurements that must not share a process.

Peak memory needs one process per measurement (so peaks do not mix) and the
precision policies need one process each (the Keras policy is process-wide).
:func:`run_worker` starts ``python -m attention_colorization.benchmarks
_worker KIND JSON``; the worker prints progress records and a result line,
which the parent reads back. :data:`WORKERS` names each kind's function.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import traceback

RESULT_PREFIX = "BENCHMARK_RESULT "
PROGRESS_PREFIX = "BENCHMARK_PROGRESS "

# Worker kind -> "module:function" (imported when first run: the section
# modules import this one).
WORKERS = {
    "attention": "attention_colorization.benchmarks.attention_memory:attention_worker",
    "end_to_end": "attention_colorization.benchmarks.end_to_end:end_to_end_worker",
    "train_step": "attention_colorization.benchmarks.pipeline:train_step_worker",
    "peers": "attention_colorization.benchmarks.peers:peers_worker",
}


def worker_function(kind: str):
    """The function of worker ``kind``; raises KeyError for an unknown kind."""
    if kind not in WORKERS:
        raise KeyError(f"unknown worker {kind!r}")
    module, name = WORKERS[kind].split(":")
    return getattr(importlib.import_module(module), name)


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
    """Runs worker ``kind`` (:data:`WORKERS`) on ``params`` in a fresh Python process; returns its dict.

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
            result = worker_function(kind)(dict(params))
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
        "attention_colorization.benchmarks",
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


def worker_main(argv: list[str]) -> int:
    """A worker process's body: ``argv`` = ``[KIND, JSON]``; prints the result line.

    A failure is printed as ``{"error": one line}`` (the traceback on stderr),
    so the parent can report it.
    """
    kind, params = argv[0], json.loads(argv[1])
    try:
        result = worker_function(kind)(params)
    except Exception as error:  # noqa: BLE001 (reported to the parent)
        traceback.print_exc()
        result = {"error": f"{type(error).__name__}: {error}".splitlines()[0][:500]}
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0
