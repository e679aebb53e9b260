"""Peak and current resident memory of this process (Linux /proc, else getrusage)."""

from __future__ import annotations

import os
import pathlib
import resource
import sys

MIB = 1024.0 * 1024.0


def current_rss_bytes() -> int | None:
    """Resident set size now (Linux /proc/self/statm), or None."""
    try:
        pages = int(pathlib.Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _status_kib(field: str) -> int | None:
    """A ``kB`` field of /proc/self/status (``VmHWM``, ``VmRSS``) in KiB, or None."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak RSS in bytes.

    ``VmHWM`` of /proc/self/status where there is one (Linux), else
    ``getrusage(RUSAGE_SELF).ru_maxrss``. Both are the high-water mark of the
    resident set, but ``ru_maxrss`` also takes the maximum with the peak of the
    process image that ran before ``exec``: Python starts subprocesses with
    ``vfork``, so a worker's ``ru_maxrss`` never drops below its parent's peak
    (TensorFlow and models: gigabytes), even after a reset. ``VmHWM`` belongs
    to the worker's own address space.
    """
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def reset_peak_rss() -> bool:
    """Resets this process's peak RSS to its current RSS (Linux >= 4.0).

    Writes ``5`` to ``/proc/self/clear_refs``; the peak (:func:`peak_rss_bytes`)
    then restarts from the current RSS, so a measurement after set-up (and
    after a warm-up call) sees only its own peak. Returns False where that is
    not possible.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    current = current_rss_bytes()
    return current is not None and peak_rss_bytes() <= current + 4 * MIB
