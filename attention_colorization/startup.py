"""Quiet start-up for the command line tools: TensorFlow's C++ noise hidden.

TensorFlow prints start-up lines that say nothing to a user of a command
line tool: the CUDA stub's probe ("Could not find cuda drivers"), oneDNN's
notice, the CPU features it was not built for, absl's "before
InitializeLog" warning. Some come through its C++ logging, silenced by
``TF_CPP_MIN_LOG_LEVEL`` if it is set before TensorFlow loads
(:func:`quiet_environment`); the rest are printed while its shared libraries
load, before that logging starts, and only a closed stderr hides them
(:func:`import_tensorflow_quietly`). Nothing here imports TensorFlow at
import time.
"""

from __future__ import annotations

import os
import sys


def quiet_environment() -> None:
    """Hides TensorFlow's C++ logging below FATAL (``TF_CPP_MIN_LOG_LEVEL=3``,
    unless already set): must run before TensorFlow is imported; only the
    console entry point calls it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with file descriptor 2 (stderr) on /dev/null meanwhile.

    The messages TensorFlow's shared libraries print while loading (absl's
    "before InitializeLog" warning, the CUDA stub's probe) bypass
    ``TF_CPP_MIN_LOG_LEVEL``. A no-op once TensorFlow is imported; an import
    error is raised as usual, after stderr is back.
    """
    if "tensorflow" in sys.modules:
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, AttributeError, ValueError):  # no usable stderr
        import tensorflow  # noqa: F401

        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow  # noqa: F401
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    import logging

    logging.getLogger("tensorflow").setLevel(logging.ERROR)
