"""Section 3: ``Colorizer.colorize`` time (network vs the rest) and peak RSS by size."""

from __future__ import annotations

import gc
import pathlib
import statistics
import tempfile
import time

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
from attention_colorization.benchmarks.settings import Settings, resolve_weights
from attention_colorization.benchmarks.synthetic import synthetic_gray, synthetic_photo
from attention_colorization.benchmarks.workers import run_worker

TARGET_PEAK_GB = 3.0  # Colorizer peak RSS < 3 GB (10^9 bytes) at 4096 x 4096
TARGET_TIME_RATIO = 4.0  # time(4096) <= 4 x time(512)
TARGET_REST_SHARE = 0.5  # our reading of "the work beyond the network is a small share"


def time_network(colorizer) -> list:
    """Wraps ``colorizer``'s network call; returns the list its seconds go to."""
    network = []
    run = colorizer._run

    def timed_run(*args, **kwargs):
        start = time.perf_counter()
        out = run(*args, **kwargs)
        network.append(time.perf_counter() - start)
        return out

    colorizer._run = timed_run
    return network


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


def end_to_end_worker(params: dict) -> dict:
    """Worker ``end_to_end``: ``Colorizer.colorize`` time and peak RSS at one size."""
    from attention_colorization.colorizer import Colorizer

    height, width = params["height"], params["width"]
    colorizer = Colorizer.load(params["weights"], precision=params["precision"])
    reference = synthetic_photo(params["reference_size"], params["reference_size"], 1)
    network = time_network(colorizer)
    colorizer.colorize(synthetic_gray(64, 64, 2), reference=reference)  # trace, warm
    image = synthetic_gray(height, width, 0)
    gc.collect()
    network.clear()
    reset = reset_peak_rss()
    baseline = current_rss_bytes()
    before = peak_rss_bytes()
    totals, cpu = [], []
    for _ in range(params["repeats"]):
        start, start_cpu = time.perf_counter(), time.process_time()
        out = colorizer.colorize(image, reference=reference)
        totals.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
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
        "cpu_seconds": statistics.median(cpu),
        "precision": colorizer.precision,
        "peak_rss_bytes": peak,
        "peak_increase_bytes": peak - before,
        "baseline_bytes": baseline,
        "peak_reset": reset,
        "repeats": params["repeats"],
    }


def end_to_end(
    weights,
    height: int,
    width: int,
    reference_size=512,
    repeats=3,
    timeout=1800.0,
    precision: str = "auto",
) -> dict:
    """``Colorizer.colorize`` time (network vs rest) and peak RSS, in a fresh process."""
    params = {
        "weights": str(weights),
        "precision": precision,
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
        "uint8). *CPU s* is the process's CPU time of a call (all threads): "
        "unlike wall time, it does not grow when other work shares the "
        "cores. *peak RSS* is the process's peak resident set (`VmHWM`, reset "
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
            settings.precision,
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
                m["cpu_seconds"],
                m["peak_rss_bytes"] / 1e9,
                m["peak_increase_bytes"] / MIB,
            ]
        )
    result.lines += [f"### {title}, {m['precision']}", ""]
    result.lines += markdown_table(
        [
            "input (W×H)",
            "total s",
            "network s",
            "rest s",
            "rest share",
            "CPU s",
            "peak RSS GB",
            "peak increase MiB",
        ],
        rows,
    )
    result.lines.append("")
    for target in end_to_end_targets(by_size):
        target.name += suffix
        result.targets.append(target)
