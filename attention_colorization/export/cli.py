r"""The ``attention-colorize-export`` command: ``saved_model`` or ``tflite``.

    attention-colorize-export saved_model --export_dir=/models/colorizer \
        [--weights=MODEL] [--version=N] [--overwrite] [--model_name=colorizer] \
        [--precision=float32|bfloat16|auto] [--inference_size=S]
    attention-colorize-export tflite --saved_model=/models/colorizer/1 \
        --output=colorizer.tflite [--quantize=none|float16|dynamic|int8] \
        [--interface=lab|uint8] [--image_size=S]
    attention-colorize-export tflite --weights=WORKDIR --output=m.tflite \
        --quantize=int8 [--calibration_dir=workdirs/corpus/validation]
    attention-colorize-export SUBCOMMAND --help

The first argument picks the subcommand; the rest are its absl flags (each
subcommand defines only its own). ``python -m attention_colorization.export``
and, from a clone, ``python export/saved_model.py`` / ``python
export/tflite.py`` run the same code. The work is in
:func:`export_saved_model` and :func:`export_tflite` (plain functions that
return the exit status); errors are one line on stderr, status 1.
"""

from __future__ import annotations

import os
import pathlib
import sys
import time
from collections.abc import Callable

from absl import app, flags

from attention_colorization.config import check_inference_size
from attention_colorization.weights_path import (
    ALL_KINDS,
    SAVED_MODEL,
    ModelPathError,
    resolve_weights,
)

PROGRAM = "attention-colorize-export"
QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")  # = tflite.QUANTIZE_MODES
INTERFACES = ("lab", "uint8")  # = tflite.INTERFACES

SAVED_MODEL_DOC = rf"""Exports the colouriser as a versioned TF Serving SavedModel.

    {PROGRAM} saved_model --export_dir=/models/colorizer \
        [--weights=MODEL] [--version=N] [--overwrite] [--model_name=colorizer] \
        [--precision=float32|bfloat16|auto] [--inference_size=S]

Writes EXPORT_DIR/N (N: the next free version unless given) atomically, with
the signatures serving_default (uint8 arrays) and colorize_bytes (encoded
images), mobile_ab for the TFLite exporter, and TF Serving warm-up requests.
--weights: a training workdir or a *.weights.h5 file with config.json beside
it (default: the bundled demo model). --precision: what the network
computes in (float32 by default; bfloat16 for servers with native bfloat16,
its matching and colour work staying float32; auto decides on this
machine). --inference_size: the resolution the network runs at (default: the
model's; the bundled model's is 512, 256 is 4x less work). Check a version
the way TF Serving loads it:

    saved_model_cli run --dir EXPORT_DIR/N --tag_set serve \
        --signature_def serving_default --inputs 'gray=g.npy;reference=r.npy'
"""

TFLITE_DOC = rf"""Converts the colouriser to a fixed-size TFLite (LiteRT) model, builtin ops only.

    {PROGRAM} tflite --saved_model=/models/colorizer/1 \
        --output=colorizer.tflite [--quantize=none|float16|dynamic|int8] \
        [--interface=lab|uint8] [--image_size=S]
    {PROGRAM} tflite --weights=WORKDIR --output=colorizer_int8.tflite \
        --quantize=int8 [--calibration_dir=workdirs/corpus/validation] \
        [--inference_size=S]

Signature serving_default, --interface=lab (default): l [1, S, S, 1], ref_lab
[1, S, S, 3], ref_hist [1, 313] float32, computed by the app (see
attention_colorization/export/mobile_reference.py) -> ab float32
[1, S, S, 2] (Lab units); every op runs in LiteRT's XNNPACK delegate.
--interface=uint8: gray uint8 [1, S, S, 1], reference uint8 [1, S, S, 3] ->
ab, the colour conversion in the graph. Give --saved_model (a version folder
written by the saved_model subcommand) or --weights (a workdir, a
*.weights.h5 file or a SavedModel version folder; default: the bundled demo
model). --image_size must be a multiple of the network's size S (default S).
--inference_size (with --weights only; a SavedModel's size is fixed): the
network's size S (default: the model's; 256 suits phones). int8 calibrates
on the photos of --calibration_dir (at most 16, e.g. the
corpus's validation photos), else on scikit-image's (in the [export] extra).
"""

USAGE = f"""usage: {PROGRAM} SUBCOMMAND [--flags]

Subcommands:
  saved_model   a versioned TF Serving SavedModel (EXPORT_DIR/N)
  tflite        a fixed-size TFLite model (float32, float16, dynamic or int8)

'{PROGRAM} SUBCOMMAND --help' lists a subcommand's flags.
"""


def _quiet_tensorflow() -> None:
    """TensorFlow's C++ info lines and absl's info logs off (call before importing TF)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import logging

    logging.set_verbosity(logging.WARNING)


# ------------------------------------------------------------------- commands


def export_saved_model(
    weights: str | None,
    export_dir: str,
    version: int | None = None,
    overwrite: bool = False,
    model_name: str = "colorizer",
    precision: str = "float32",
    inference_size: int | None = None,
) -> int:
    """``saved_model``: exports ``export_dir/version``; returns the exit status.

    The model is found (:func:`attention_colorization.weights_path.resolve_weights`)
    before TensorFlow is imported, so a wrong path fails in a moment.
    """
    start = time.time()
    try:
        check_inference_size(inference_size or 0)
        model = resolve_weights(weights)
    except (ModelPathError, ValueError) as error:
        return _fail(error)
    _quiet_tensorflow()
    from attention_colorization.export import saved_model as saved_model_lib

    try:
        path = saved_model_lib.export_from_weights(
            model,
            export_dir,
            version,
            overwrite,
            model_name,
            precision=precision,
            inference_size=inference_size,
        )
    except (saved_model_lib.ExportError, FileNotFoundError, ValueError) as error:
        return _fail(error)
    size = saved_model_lib.directory_size(path) / 1e6
    print(f"exported {path} ({size:.1f} MB) in {time.time() - start:.0f} s")
    return 0


def export_tflite(
    output: str,
    saved_model: str | None = None,
    weights: str | None = None,
    quantize: str = "none",
    image_size: int | None = None,
    interface: str = "lab",
    calibration_dir: str | None = None,
    inference_size: int | None = None,
) -> int:
    """``tflite``: converts a SavedModel or a model to ``output``; returns the exit status."""
    start = time.time()
    if saved_model and weights:
        return _fail("give --saved_model or --weights, not both")
    if calibration_dir and quantize != "int8":
        return _fail("--calibration_dir is for --quantize=int8")
    if saved_model and inference_size:
        return _fail("--inference_size needs --weights: a SavedModel's size is fixed")
    try:
        check_inference_size(inference_size or 0)
    except ValueError as error:
        return _fail(error)
    from attention_colorization.export import calibration as calibration_lib

    try:
        if saved_model:
            model = resolve_weights(saved_model, accept=(SAVED_MODEL,))
        else:
            model = resolve_weights(weights, accept=ALL_KINDS)
        photos = None
        if quantize == "int8":  # Checked before TensorFlow loads the model.
            photos = calibration_lib.calibration_photos(calibration_dir)
    except (ModelPathError, calibration_lib.CalibrationError) as error:
        return _fail(error)
    _quiet_tensorflow()
    from attention_colorization.export import tflite as tflite_lib

    try:
        if model.kind == SAVED_MODEL:
            concrete, owner, size = tflite_lib.mobile_function_from_saved_model(
                model.path, image_size, interface
            )
        else:
            concrete, owner, size = tflite_lib.mobile_function_from_weights(
                model, image_size, interface, inference_size
            )
        calibration = None
        if photos:
            calibration = calibration_lib.representative_pairs(size, photos, interface)
        flatbuffer = tflite_lib.convert(concrete, owner, quantize, calibration)
        tflite_lib.write_atomic(flatbuffer, pathlib.Path(output))
    except (tflite_lib.TFLiteExportError, FileNotFoundError, ValueError) as error:
        return _fail(error)
    print(
        f"wrote {output} ({len(flatbuffer) / 1e6:.2f} MB, {quantize}, "
        f"{interface}, {size}x{size}) in {time.time() - start:.0f} s"
    )
    return 0


def _fail(error: Exception | str) -> int:
    """Prints ``error: ...`` (one line) on stderr; returns the exit status 1."""
    print(f"error: {error}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------- flags


def _saved_model_flags(module_name: str) -> Callable[[list[str]], int]:
    """Defines the ``saved_model`` flags (``module_name``'s); returns its main."""
    weights = flags.DEFINE_string(
        "weights",
        None,
        "A workdir or *.weights.h5 file (default: the bundled demo model).",
        module_name=module_name,
    )
    export_dir = flags.DEFINE_string(
        "export_dir",
        None,
        "The model's base folder; versions go to EXPORT_DIR/N.",
        module_name=module_name,
    )
    version = flags.DEFINE_integer(
        "version", None, "Version number (default: next free).", module_name=module_name
    )
    overwrite = flags.DEFINE_bool(
        "overwrite", False, "Replace an existing version.", module_name=module_name
    )
    model_name = flags.DEFINE_string(
        "model_name",
        "colorizer",
        "Model name written into the warm-up requests.",
        module_name=module_name,
    )
    precision = flags.DEFINE_enum(
        "precision",
        "float32",
        ["float32", "bfloat16", "auto"],
        "What the network computes in (auto: bfloat16 where this machine "
        "computes it natively).",
        module_name=module_name,
    )
    inference_size = _inference_size_flag(module_name)
    flags.mark_flag_as_required("export_dir")

    def main(argv: list[str]) -> int:
        _no_arguments(argv)
        return export_saved_model(
            weights.value,
            export_dir.value,
            version.value,
            overwrite.value,
            model_name.value,
            precision.value,
            inference_size.value,
        )

    return main


def _tflite_flags(module_name: str) -> Callable[[list[str]], int]:
    """Defines the ``tflite`` flags (``module_name``'s); returns its main."""
    saved_model = flags.DEFINE_string(
        "saved_model",
        None,
        "A SavedModel version folder (from saved_model).",
        module_name=module_name,
    )
    weights = flags.DEFINE_string(
        "weights",
        None,
        "Instead: a workdir, *.weights.h5 file or SavedModel (default: the demo model).",
        module_name=module_name,
    )
    output = flags.DEFINE_string(
        "output", None, "The .tflite file to write.", module_name=module_name
    )
    quantize = flags.DEFINE_enum(
        "quantize",
        "none",
        list(QUANTIZE_MODES),
        "Post-training quantisation.",
        module_name=module_name,
    )
    image_size = flags.DEFINE_integer(
        "image_size",
        None,
        "Input size, a multiple of the network's size (default: it).",
        module_name=module_name,
    )
    interface = flags.DEFINE_enum(
        "interface",
        "lab",
        list(INTERFACES),
        "lab: the app gives L, the reference's Lab and histogram (XNNPACK runs "
        "the whole graph); uint8: gray and reference images.",
        module_name=module_name,
    )
    calibration_dir = flags.DEFINE_string(
        "calibration_dir",
        None,
        "int8: calibrate on these photos (default: scikit-image's).",
        module_name=module_name,
    )
    inference_size = _inference_size_flag(module_name)
    flags.mark_flag_as_required("output")

    def main(argv: list[str]) -> int:
        _no_arguments(argv)
        return export_tflite(
            output.value,
            saved_model.value,
            weights.value,
            quantize.value,
            image_size.value,
            interface.value,
            calibration_dir.value,
            inference_size.value,
        )

    return main


def _inference_size_flag(module_name: str):
    return flags.DEFINE_integer(
        "inference_size",
        None,
        "The resolution the network runs at, a multiple of 8 >= 16 "
        "(default: the model's).",
        module_name=module_name,
    )


def _no_arguments(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


SUBCOMMANDS = {
    "saved_model": (_saved_model_flags, SAVED_MODEL_DOC),
    "tflite": (_tflite_flags, TFLITE_DOC),
}


# ----------------------------------------------------------------------- main


def run(subcommand: str, argv: list[str]) -> None:
    """Runs one subcommand as an absl app (``argv``: its flags); exits.

    Defines only that subcommand's flags (once per process), and makes its
    description the usage text that absl prints for ``--help`` and flag
    errors (absl reads it from the ``__main__`` module).
    """
    define, doc = SUBCOMMANDS[subcommand]
    # absl's --help lists the flags of the module named sys.argv[0].
    main = define(sys.argv[0])
    sys.modules["__main__"].__doc__ = doc
    app.run(main, argv=[f"{PROGRAM} {subcommand}", *argv])


def main(argv: list[str] | None = None) -> None:
    """The ``attention-colorize-export`` console script: ``SUBCOMMAND [--flags]``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE, end="", file=sys.stdout if argv else sys.stderr)
        sys.exit(0 if argv else 2)
    if argv[0] not in SUBCOMMANDS:
        print(
            f"error: unknown subcommand {argv[0]!r}; expected one of "
            f"{', '.join(SUBCOMMANDS)}\n\n{USAGE}",
            end="",
            file=sys.stderr,
        )
        sys.exit(2)
    run(argv[0], argv[1:])
