"""Wall-clock timing: the median of repeated calls, and this machine's matmul peak."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np


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
