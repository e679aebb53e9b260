"""The machine a benchmark runs on: CPU model, cores, memory, library versions."""

from __future__ import annotations

import os
import pathlib
import platform


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
