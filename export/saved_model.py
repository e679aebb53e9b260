r"""Exports the colouriser as a versioned TF Serving SavedModel.

    python export/saved_model.py --export_dir=/models/colorizer \
        [--weights=WORKDIR] [--version=N] [--overwrite] [--model_name=colorizer]

Writes ``EXPORT_DIR/N`` (N: the next free version unless given) atomically,
with the signatures ``serving_default`` (uint8 arrays) and ``colorize_bytes``
(encoded images), ``mobile_ab`` for the TFLite exporter, and TF Serving
warm-up requests. ``--weights`` defaults to the bundled demo model. See
export/saved_model_lib.py. Check a version the way TF Serving loads it:

    saved_model_cli run --dir EXPORT_DIR/N --tag_set serve \
        --signature_def serving_default --inputs 'gray=g.npy;reference=r.npy'
"""

from __future__ import annotations

import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script: import ``export`` from the repository root, and keep this
# folder (whose tflite.py would shadow a ``tflite`` package) off the path.
_HERE = pathlib.Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if pathlib.Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from absl import app, flags, logging  # noqa: E402

_WEIGHTS = flags.DEFINE_string(
    "weights", None, "A workdir or *.weights.h5 (default: the bundled demo model)."
)
_EXPORT_DIR = flags.DEFINE_string(
    "export_dir", None, "The model's base folder; versions go to EXPORT_DIR/N."
)
_VERSION = flags.DEFINE_integer("version", None, "Version number (default: next free).")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing version.")
_MODEL_NAME = flags.DEFINE_string(
    "model_name", "colorizer", "Model name written into the warm-up requests."
)
flags.mark_flag_as_required("export_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    from export import saved_model_lib

    start = time.time()
    try:
        path = saved_model_lib.export_from_weights(
            _WEIGHTS.value,
            _EXPORT_DIR.value,
            _VERSION.value,
            _OVERWRITE.value,
            _MODEL_NAME.value,
        )
    except (saved_model_lib.ExportError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    size = saved_model_lib.directory_size(path) / 1e6
    print(f"exported {path} ({size:.1f} MB) in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    app.run(main)
