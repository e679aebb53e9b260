"""Runs the chosen sections and renders the report (what ``tools/benchmark.py`` calls)."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Sequence

from attention_colorization.benchmarks.attention_memory import attention_section
from attention_colorization.benchmarks.command_line import cli_section
from attention_colorization.benchmarks.end_to_end import end_to_end_section
from attention_colorization.benchmarks.latency import latency_section
from attention_colorization.benchmarks.machine import machine_info
from attention_colorization.benchmarks.peers import peers_section
from attention_colorization.benchmarks.pipeline import pipeline_section
from attention_colorization.benchmarks.report import SectionResult, render_report
from attention_colorization.benchmarks.settings import Settings
from attention_colorization.benchmarks.tflite import tflite_section

SECTIONS = ("latency", "attention", "end_to_end", "tflite", "pipeline", "cli", "peers")

SECTION_FUNCTIONS = {
    "latency": latency_section,
    "attention": attention_section,
    "end_to_end": end_to_end_section,
    "tflite": tflite_section,
    "pipeline": pipeline_section,
    "cli": cli_section,
    "peers": peers_section,
}


def run_section(name: str, settings: Settings) -> SectionResult:
    """Runs one section; a failure becomes a section with ``error`` set."""
    start = time.perf_counter()
    try:
        result = SECTION_FUNCTIONS[name](settings)
    # One failing section must not lose the rest.
    except Exception as error:  # noqa: BLE001
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
