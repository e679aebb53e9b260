r"""Converts the colouriser to a fixed-size TFLite (LiteRT) model, builtin ops only.

    python export/tflite.py --saved_model=/models/colorizer/1 \
        --output=colorizer.tflite [--quantize=none|float16|dynamic|int8] \
        [--image_size=S]
    python export/tflite.py --weights=WORKDIR --output=colorizer_int8.tflite \
        --quantize=int8

Signature ``serving_default``: ``gray`` uint8 [1, S, S, 1], ``reference``
uint8 [1, S, S, 3] -> ``ab`` float32 [1, S, S, 2] (Lab units). Give
``--saved_model`` (a version folder from export/saved_model.py) or
``--weights`` (a workdir; default: the bundled demo model). ``--image_size``
must be a multiple of the network's size S (default S). See
export/tflite_lib.py.
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

_SAVED_MODEL = flags.DEFINE_string(
    "saved_model", None, "A SavedModel version folder written by saved_model.py."
)
_WEIGHTS = flags.DEFINE_string(
    "weights", None, "Instead: a workdir or *.weights.h5 (default: the demo model)."
)
_OUTPUT = flags.DEFINE_string("output", None, "The .tflite file to write.")
_QUANTIZE = flags.DEFINE_enum(
    "quantize",
    "none",
    ["none", "float16", "dynamic", "int8"],
    "Post-training quantisation.",
)
_IMAGE_SIZE = flags.DEFINE_integer(
    "image_size", None, "Input size, a multiple of the network's size (default: it)."
)
flags.mark_flag_as_required("output")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    from export import saved_model_lib, tflite_lib

    start = time.time()
    output = pathlib.Path(_OUTPUT.value)
    try:
        if _SAVED_MODEL.value and _WEIGHTS.value:
            raise tflite_lib.TFLiteExportError(
                "give --saved_model or --weights, not both"
            )
        if _SAVED_MODEL.value:
            concrete, owner, size = tflite_lib.mobile_function_from_saved_model(
                _SAVED_MODEL.value, _IMAGE_SIZE.value
            )
        else:
            weights = saved_model_lib.resolve_weights(_WEIGHTS.value)
            concrete, owner, size = tflite_lib.mobile_function_from_weights(
                weights, _IMAGE_SIZE.value
            )
        model = tflite_lib.convert(concrete, owner, _QUANTIZE.value)
        tflite_lib.write_atomic(model, output)
    except (tflite_lib.TFLiteExportError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {output} ({len(model) / 1e6:.2f} MB, {_QUANTIZE.value}, {size}x{size}) "
        f"in {time.time() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    app.run(main)
