"""Converts the colouriser to a fixed-size TFLite (LiteRT) model.

The library of ``attention-colorize-export tflite`` (see
:mod:`attention_colorization.export.cli`):

    fn, owner, size = mobile_function_from_saved_model("/models/colorizer/1")
    tflite_bytes = convert(fn, owner, quantize="float16")
    ab = run(tflite_bytes, gray, reference)  # [1, S, S, 2]

The model has one signature, ``serving_default``: ``gray`` uint8
``[1, S, S, 1]`` and ``reference`` uint8 ``[1, S, S, 3]`` in,
``ab`` float32 ``[1, S, S, 2]`` (Lab units) out. The colour conversion
(sRGB -> Lab, the reference's ab histogram) runs inside the model; the app
joins the predicted ab to its own full-resolution L (upsampling ab
bilinearly) and converts Lab -> RGB, as ``Colorizer`` does.

Only TFLite builtin ops are allowed (``TFLITE_BUILTINS``, plus
``TFLITE_BUILTINS_INT8`` for int8): the conversion fails loudly if an op would
need the Flex delegate, and :func:`list_ops` checks the result.

Quantisation (``--quantize``), with the TF converter's post-training options:

* ``none``: float32.
* ``float16``: float16 weights, float32 compute (weights dequantised at load).
* ``dynamic``: int8 weights, activations quantised on the fly (dynamic range).
* ``int8``: int8 weights and activations, calibrated on real photos
  (:func:`representative_pairs`), with float fallback for the ops listed in
  :data:`INT8_FLOAT_OPS`; the input/output interface stays uint8/float32.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from attention_colorization.atomic import atomic_write_bytes

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")
SIGNATURE = "serving_default"
# Photos shipped with scikit-image, used to calibrate int8 activations.
CALIBRATION_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
)


class TFLiteExportError(RuntimeError):
    """A refused or failed conversion; the message is one line for the user."""


# ------------------------------------------------------------ mobile function


def _wrap_size(fn: Callable, model_size: int, image_size: int | None):
    """``fn`` at ``[1, S, S, C]`` -> a tf.function at ``[1, image_size, image_size, C]``.

    A size that is a multiple ``k * S`` is average-pooled by ``k`` in the graph
    (the same as an area resize, and a builtin op), and the ab is upsampled
    bilinearly back to ``image_size``.
    """
    image_size = model_size if image_size is None else int(image_size)
    if image_size < 1 or image_size % model_size:
        raise TFLiteExportError(
            f"--image_size must be a positive multiple of the model's size "
            f"{model_size}, got {image_size}"
        )
    factor = image_size // model_size

    def pool(x):
        if factor == 1:
            return x
        pooled = tf.nn.avg_pool2d(tf.cast(x, tf.float32), factor, factor, "VALID")
        return tf.cast(tf.round(pooled), tf.uint8)

    @tf.function(
        input_signature=[
            tf.TensorSpec([1, image_size, image_size, 1], tf.uint8, name="gray"),
            tf.TensorSpec([1, image_size, image_size, 3], tf.uint8, name="reference"),
        ]
    )
    def mobile(gray, reference):
        ab = fn(gray=pool(gray), reference=pool(reference))["ab"]  # [1, S, S, 2]
        if factor > 1:
            ab = tf.image.resize(ab, [image_size, image_size], method="bilinear")
        return {"ab": ab}

    return mobile


def mobile_function_from_saved_model(
    saved_model_dir: os.PathLike, image_size: int | None = None
):
    """The fixed-size mobile function of an exported SavedModel version folder.

    Args:
        saved_model_dir: ``BASE/N`` written by ``attention-colorize-export
            saved_model``.
        image_size: the mobile model's input size, a multiple of the network's
            S (default S).

    Returns:
        (concrete function, trackable object to keep alive, image size).

    Raises:
        attention_colorization.weights_path.ModelPathError: not a SavedModel.
        TFLiteExportError: a SavedModel without ``mobile_ab``, or a bad size.
    """
    from attention_colorization.weights_path import SAVED_MODEL, resolve_weights

    path = resolve_weights(saved_model_dir, accept=(SAVED_MODEL,)).path
    loaded = tf.saved_model.load(str(path))
    if not hasattr(loaded, "mobile_ab"):
        raise TFLiteExportError(f"{path}: has no mobile_ab function (re-export it)")
    model_size = int(loaded.mobile_ab.input_signature[0].shape[1])
    mobile = _wrap_size(loaded.mobile_ab, model_size, image_size)
    concrete = mobile.get_concrete_function()
    return concrete, loaded, int(concrete.inputs[0].shape[1])


def mobile_function_from_weights(weights=None, image_size: int | None = None):
    """Like :func:`mobile_function_from_saved_model`, from any model.

    Args:
        weights: None (the bundled demo model), a workdir, a ``*.weights.h5``
            file or a SavedModel version folder (see
            :func:`attention_colorization.weights_path.resolve_weights`).
        image_size: see :func:`mobile_function_from_saved_model`.
    """
    from attention_colorization.export import saved_model as saved_model_lib
    from attention_colorization.weights_path import (
        ALL_KINDS,
        SAVED_MODEL,
        resolve_weights,
    )

    model = resolve_weights(weights, accept=ALL_KINDS)
    if model.kind == SAVED_MODEL:
        return mobile_function_from_saved_model(model.path, image_size)
    return mobile_function_from_module(saved_model_lib.load_module(model), image_size)


def mobile_function_from_module(module, image_size: int | None = None):
    """Like :func:`mobile_function_from_saved_model`, from a ``ColorizerModule``.

    The module goes through a temporary SavedModel: the converter's calibration
    (int8) cannot read the Keras variables of an in-memory module (it fails on
    READ_VARIABLE), while a saved and reloaded one has them frozen.
    """
    from attention_colorization.export import saved_model as saved_model_lib

    with tempfile.TemporaryDirectory(prefix="colorizer-tflite-") as tmp:
        saved_model_lib.save_module(module, tmp)
        return mobile_function_from_saved_model(tmp, image_size)


# ---------------------------------------------------------------- calibration


def calibration_photos() -> list[pathlib.Path]:
    """Real photos shipped by scikit-image (its data folder), for int8 calibration."""
    try:
        import skimage.data
    except ImportError as error:
        raise TFLiteExportError(
            "int8 calibration needs scikit-image's bundled photos (pip install scikit-image)"
        ) from error
    folder = pathlib.Path(skimage.data.__file__).parent
    photos = [folder / name for name in CALIBRATION_PHOTOS if (folder / name).is_file()]
    if len(photos) < 2:
        raise TFLiteExportError(f"too few calibration photos in {folder}")
    return photos


def _square_rgb(path: pathlib.Path, size: int) -> np.ndarray:
    """A photo's centre square resized to ``size`` -> uint8 ``[size, size, 3]``."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
        return np.asarray(image.resize((size, size), Image.BILINEAR), np.uint8)


def representative_pairs(size: int, photos=None) -> list[dict]:
    """Calibration inputs: every photo as gray target with every other as reference.

    Returns:
        A list of ``{"gray": uint8 [1, S, S, 1], "reference": uint8 [1, S, S, 3]}``.
    """
    photos = list(photos or calibration_photos())
    rgbs = [_square_rgb(p, size) for p in photos]
    grays = [
        np.round(rgb.astype(np.float32) @ [0.299, 0.587, 0.114]).astype(np.uint8)
        for rgb in rgbs
    ]
    pairs = []
    for i, gray in enumerate(grays):
        for j in (i, (i + 1) % len(rgbs)):  # Related (itself) and unrelated.
            pairs.append({"gray": gray[None, ..., None], "reference": rgbs[j][None]})
    return pairs


# ---------------------------------------------------------------- conversion


def convert(
    concrete, trackable, quantize: str = "none", calibration: list | None = None
) -> bytes:
    """Converts the mobile function to a TFLite flatbuffer.

    Args:
        concrete: the mobile concrete function (``gray``, ``reference`` -> ``ab``).
        trackable: the object owning its variables.
        quantize: one of :data:`QUANTIZE_MODES`.
        calibration: int8 only: inputs (see :func:`representative_pairs`);
            default: the scikit-image photos at the model's size.

    Raises:
        TFLiteExportError: an unknown mode, or a conversion that needs non-builtin ops.
    """
    if quantize not in QUANTIZE_MODES:
        raise TFLiteExportError(
            f"--quantize must be one of {', '.join(QUANTIZE_MODES)}, got {quantize!r}"
        )
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], trackable)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quantize != "none":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        if quantize == "int8":
            size = int(concrete.inputs[0].shape[1])
            samples = calibration or representative_pairs(size)
            model = _convert_int8(converter, samples)
        else:
            model = converter.convert()
    except Exception as error:  # The converter raises ConverterError and others.
        raise TFLiteExportError(
            f"TFLite conversion ({quantize}) failed: {_first_error(error)}"
        ) from error
    unsupported = [op for op in list_ops(model) if not op.isupper() or op == "CUSTOM"]
    if unsupported:
        raise TFLiteExportError(f"the model needs non-builtin ops: {unsupported}")
    return model


# Ops kept in float in the int8 model. Their int8 kernels reject this graph:
# DIV needs a divisor whose quantised value is never the zero point (the L2
# normalisations and histogram normalisations divide by values near 0);
# MAXIMUM needs both operands at one scale (max(x, epsilon)); SOFTMAX (the
# database posterior and the gate) needs an output scale of 1/256. The
# attention's BATCH_MATMUL (two activations, no weights) stays in float for
# speed: its int8 kernel made the demo model 3.4x slower than float32 (163 vs
# 49 ms), in float it is 43 ms, at the same mean |delta ab| (2.88).
INT8_FLOAT_OPS = ("DIV", "MAXIMUM", "SOFTMAX", "BATCH_MATMUL")


def _convert_int8(converter, samples: list) -> bytes:
    """Post-training int8 with float fallback for :data:`INT8_FLOAT_OPS`.

    The converter calibrates (runs the float model on ``samples`` and records
    every tensor's range); the MLIR quantiser then quantises every op with an
    int8 kernel except the denylisted ones. This is what
    ``tf.lite.experimental.QuantizationDebugger(...).get_nondebug_quantized_model()``
    does, without building its instrumented debug model (which fails on this
    graph).
    """
    from tensorflow.lite.python import convert as tflite_convert

    def dataset() -> Iterator[dict]:
        for sample in samples:
            yield dict(sample)

    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,  # Float fallback.
    ]
    converter._experimental_calibrate_only = True  # noqa: SLF001 (see docstring)
    calibrated = converter.convert()
    return tflite_convert.mlir_quantize(
        calibrated, fully_quantize=False, denylisted_ops=list(INT8_FLOAT_OPS)
    )


def _first_error(error: Exception) -> str:
    """The first ``error: ...`` of an MLIR diagnostic, else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "error: " in line:
            return line.split("error: ", 1)[1][:300]
    return lines[0][:300] if lines else repr(error)


def list_ops(model: bytes) -> list[str]:
    """Names of the operator codes of a TFLite flatbuffer (builtins in CAPS).

    A custom or Flex op appears under its custom name (e.g. ``FlexFoo``).
    """
    from ai_edge_litert import schema_py_generated as schema

    names = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    root = schema.Model.GetRootAs(model, 0)
    ops = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        custom = code.CustomCode()
        if custom:
            ops.append(custom.decode() if isinstance(custom, bytes) else str(custom))
        else:
            ops.append(names.get(builtin, f"UNKNOWN_{builtin}"))
    return ops


def write_atomic(data: bytes, path: os.PathLike) -> None:
    """Writes bytes to a temporary file beside ``path``, then renames it."""
    atomic_write_bytes(path, data)


# ------------------------------------------------------------------- running


def interpreter(model: bytes | os.PathLike, num_threads: int = 1):
    """A LiteRT interpreter for a flatbuffer (bytes) or a ``.tflite`` path."""
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, bytes | bytearray):
        return Interpreter(model_content=bytes(model), num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


def run(
    model, gray: np.ndarray, reference: np.ndarray, num_threads: int = 1
) -> np.ndarray:
    """Runs ``serving_default``: uint8 ``[1, S, S, 1]``, ``[1, S, S, 3]`` -> ab ``[1, S, S, 2]``."""
    runner = interpreter(model, num_threads).get_signature_runner(SIGNATURE)
    return runner(gray=gray, reference=reference)["ab"]
