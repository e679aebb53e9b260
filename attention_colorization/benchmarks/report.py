"""The report's building blocks: targets, sections, number formatting, markdown.

:class:`Target` is one performance check (``measured OP limit``),
:class:`SectionResult` one section of the report; :func:`render_report` joins
the sections under a header naming the machine and the command.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Sequence

import numpy as np

from attention_colorization.benchmarks.machine import machine_line

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
