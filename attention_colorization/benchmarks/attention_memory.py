"""Section 2: the SCM attention's peak memory, chunked vs plain (one process per run)."""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Sequence

import numpy as np

from attention_colorization.benchmarks.memory import (
    MIB,
    current_rss_bytes,
    peak_rss_bytes,
    reset_peak_rss,
)
from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    markdown_table,
)
from attention_colorization.benchmarks.settings import Settings
from attention_colorization.benchmarks.workers import run_worker

TARGET_ATTENTION_MIB = 128.0  # chunked SCM attention at N = 16384 adds <= 128 MiB
TARGET_ATTENTION_N = 16384


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


def attention_worker(params: dict) -> dict:
    """Worker ``attention``: one ``attend`` call's time and peak RSS increase."""
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
    """Peak memory of the paper config's attention, chunked and plain, per grid."""
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
