"""Converts the colouriser to a fixed-size TFLite (LiteRT) model.

The library of ``attention-colorize-export tflite`` (see
:mod:`attention_colorization.export.cli`):

    fn, owner, size = mobile_function_from_saved_model("/models/colorizer/1")
    tflite_bytes = convert(fn, owner, quantize="float16")
    ab = run(tflite_bytes, l=l, ref_lab=ref_lab, ref_hist=ref_hist)  # [1, S, S, 2]

The model has one signature, ``serving_default``, with one of two input
interfaces (``--interface``):

* ``lab`` (default): what the app computes itself, float32: ``l``
  ``[1, S, S, 1]`` (the target's L), ``ref_lab`` ``[1, S, S, 3]`` (the
  reference's CIE Lab) and ``ref_hist`` ``[1, Q]`` (its ab histogram, Q = 313).
  :mod:`attention_colorization.export.mobile_reference` is that app-side code
  in numpy, to port. The graph then holds only ops that LiteRT's XNNPACK
  delegate runs (:data:`mobile_graph.NON_XNNPACK_OPS` are absent; see
  :func:`xnnpack_report`), so the whole network is one delegated partition.
* ``uint8``: ``gray`` uint8 ``[1, S, S, 1]`` and ``reference`` uint8
  ``[1, S, S, 3]``, the colour conversion and histogram in the graph (their
  ``POW``, ``UNSORTED_SEGMENT_SUM``, ``TOPK_V2``, ``SELECT`` ... run outside
  XNNPACK).

Both give ``ab`` float32 ``[1, S, S, 2]`` (Lab units); the app upsamples it
bilinearly to its full-resolution L, joins them and converts Lab -> RGB, as
``Colorizer`` does.

Only TFLite builtin ops are allowed (``TFLITE_BUILTINS``, plus
``TFLITE_BUILTINS_INT8`` for int8): the conversion fails loudly if an op would
need the Flex delegate, and :func:`list_ops` checks the result.

Quantisation (``--quantize``), with the TF converter's post-training options:

* ``none``: float32.
* ``float16``: float16 weights, float32 compute (weights dequantised at load).
* ``dynamic``: int8 weights, activations quantised on the fly (dynamic range).
* ``int8``: int8 weights and activations, calibrated on real photos
  (:mod:`attention_colorization.export.calibration`: a folder's, e.g. the
  corpus's validation photos, else scikit-image's): the convolutions of F
  and the decoder run in int8; the ops of :data:`INT8_FLOAT_OPS` and the
  parts of :data:`INT8_FLOAT_SCOPES` (the colour inputs and output, the
  matching backbone, the attention, the DCM's posterior, the gate) stay in
  float. The inputs and output stay float32 (uint8 inputs for
  ``--interface=uint8``).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator

import numpy as np
import tensorflow as tf

from attention_colorization.atomic import atomic_write_bytes

QUANTIZE_MODES = ("none", "float16", "dynamic", "int8")
INTERFACES = ("lab", "uint8")
SIGNATURE = "serving_default"
# The SavedModel function each interface converts, and its inputs.
MOBILE_FUNCTIONS = {"lab": "mobile_lab", "uint8": "mobile_ab"}
INPUT_NAMES = {"lab": ("l", "ref_lab", "ref_hist"), "uint8": ("gray", "reference")}


class TFLiteExportError(RuntimeError):
    """A refused or failed conversion; the message is one line for the user."""


# ------------------------------------------------------------ mobile function


def _input_specs(interface: str, size: int, num_bins: int) -> list[tf.TensorSpec]:
    """The mobile function's inputs at ``size`` (see the module docstring)."""
    if interface == "uint8":
        return [
            tf.TensorSpec([1, size, size, 1], tf.uint8, name="gray"),
            tf.TensorSpec([1, size, size, 3], tf.uint8, name="reference"),
        ]
    return [
        tf.TensorSpec([1, size, size, 1], tf.float32, name="l"),
        tf.TensorSpec([1, size, size, 3], tf.float32, name="ref_lab"),
        tf.TensorSpec([1, num_bins], tf.float32, name="ref_hist"),
    ]


def _wrap_size(fn: Callable, interface: str, model_size: int, image_size, num_bins):
    """``fn`` at ``[1, S, S, C]`` -> a tf.function at ``[1, image_size, image_size, C]``.

    A size that is a multiple ``k * S`` is average-pooled by ``k`` in the graph
    (the same as an area resize, and a builtin op), and the ab is upsampled
    bilinearly back to ``image_size``; the histogram does not depend on it.
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
        return tf.cast(tf.round(pooled), tf.uint8) if x.dtype == tf.uint8 else pooled

    def upsample(out):
        if factor == 1:
            return out
        ab = tf.image.resize(out["ab"], [image_size, image_size], method="bilinear")
        return {"ab": ab}

    specs = _input_specs(interface, image_size, num_bins)
    if interface == "uint8":

        @tf.function(input_signature=specs)
        def mobile(gray, reference):
            return upsample(fn(gray=pool(gray), reference=pool(reference)))

    else:

        @tf.function(input_signature=specs)
        def mobile(l, ref_lab, ref_hist):  # noqa: E741 (the signature's name)
            return upsample(fn(l=pool(l), ref_lab=pool(ref_lab), ref_hist=ref_hist))

    return mobile


def _check_interface(interface: str) -> None:
    if interface not in INTERFACES:
        raise TFLiteExportError(
            f"--interface must be one of {', '.join(INTERFACES)}, got {interface!r}"
        )


def mobile_function_from_saved_model(
    saved_model_dir: os.PathLike, image_size: int | None = None, interface="lab"
):
    """The fixed-size mobile function of an exported SavedModel version folder.

    Args:
        saved_model_dir: ``BASE/N`` written by ``attention-colorize-export
            saved_model``.
        image_size: the mobile model's input size, a multiple of the network's
            S (default S).
        interface: one of :data:`INTERFACES`.

    Returns:
        (concrete function, trackable object to keep alive, image size).

    Raises:
        attention_colorization.weights_path.ModelPathError: not a SavedModel.
        TFLiteExportError: a SavedModel without the interface's function, or
            a bad size or interface.
    """
    from attention_colorization.weights_path import SAVED_MODEL, resolve_weights

    _check_interface(interface)
    path = resolve_weights(saved_model_dir, accept=(SAVED_MODEL,)).path
    loaded = tf.saved_model.load(str(path))
    name = MOBILE_FUNCTIONS[interface]
    if not hasattr(loaded, name):
        raise TFLiteExportError(
            f"{path}: has no {name} function (--interface={interface}; re-export it)"
        )
    fn = getattr(loaded, name)
    signature = fn.input_signature
    model_size = int(signature[0].shape[1])
    num_bins = int(signature[2].shape[1]) if interface == "lab" else 0
    mobile = _wrap_size(fn, interface, model_size, image_size, num_bins)
    concrete = mobile.get_concrete_function()
    return concrete, loaded, int(concrete.inputs[0].shape[1])


def mobile_function_from_weights(
    weights=None,
    image_size: int | None = None,
    interface="lab",
    inference_size: int | None = None,
):
    """Like :func:`mobile_function_from_saved_model`, from any model.

    Args:
        weights: None (the bundled demo model), a workdir, a ``*.weights.h5``
            file or a SavedModel version folder (see
            :func:`attention_colorization.weights_path.resolve_weights`).
        image_size, interface: see :func:`mobile_function_from_saved_model`.
        inference_size: the resolution the network runs at (None: the
            model's); not for a SavedModel, whose size is fixed.

    Raises:
        ValueError: ``inference_size`` with a SavedModel.
    """
    from attention_colorization.export import saved_model as saved_model_lib
    from attention_colorization.weights_path import (
        ALL_KINDS,
        SAVED_MODEL,
        resolve_weights,
    )

    model = resolve_weights(weights, accept=ALL_KINDS)
    if model.kind == SAVED_MODEL:
        if inference_size:
            raise ValueError(
                "--inference_size needs a model's weights; a SavedModel's size "
                "is fixed at export"
            )
        return mobile_function_from_saved_model(model.path, image_size, interface)
    module = saved_model_lib.load_module(model, inference_size=inference_size)
    return mobile_function_from_module(module, image_size, interface)


def mobile_function_from_module(module, image_size: int | None = None, interface="lab"):
    """Like :func:`mobile_function_from_saved_model`, from a ``ColorizerModule``.

    The module's mobile function goes through a temporary SavedModel (that
    function alone): the converter's calibration (int8) cannot read the Keras
    variables of an in-memory module (it fails on READ_VARIABLE), while a
    saved and reloaded one has them frozen.
    """
    import keras

    _check_interface(interface)
    name = MOBILE_FUNCTIONS[interface]
    fn, signature = module.endpoints()[name]
    archive = keras.export.ExportArchive()
    archive.add_endpoint(name, fn, input_signature=signature)
    with tempfile.TemporaryDirectory(prefix="colorizer-tflite-") as tmp:
        archive.write_out(tmp, verbose=False)
        return mobile_function_from_saved_model(tmp, image_size, interface)


def interface_of(concrete) -> str:
    """The interface (``lab`` or ``uint8``) of a mobile concrete function."""
    specs = tf.nest.flatten(concrete.structured_input_signature)
    names = {spec.name for spec in specs}
    for interface, inputs in INPUT_NAMES.items():
        if names == set(inputs):
            return interface
    raise TFLiteExportError(f"not a mobile function: inputs {sorted(names)}")


# ---------------------------------------------------------------- conversion


def convert(
    concrete, trackable, quantize: str = "none", calibration: list | None = None
) -> bytes:
    """Converts the mobile function to a TFLite flatbuffer.

    Args:
        concrete: the mobile concrete function (see :data:`INPUT_NAMES`).
        trackable: the object owning its variables.
        quantize: one of :data:`QUANTIZE_MODES`.
        calibration: int8 only: a list of the signature's inputs (see
            :func:`attention_colorization.export.calibration.representative_pairs`);
            default: those of scikit-image's photos at the model's size.

    Raises:
        TFLiteExportError: an unknown mode, or a conversion that needs non-builtin ops.
        attention_colorization.export.calibration.CalibrationError: int8
            without ``calibration`` or scikit-image.
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
    if quantize == "int8" and not calibration:
        from attention_colorization.export import calibration as calibration_lib

        size = int(concrete.inputs[0].shape[1])
        interface = interface_of(concrete)
        calibration = calibration_lib.representative_pairs(size, None, interface)
    try:
        if quantize == "int8":
            model = quantize_int8(calibrate(converter, calibration))
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


# Ops kept in float in the int8 model. Their int8 kernels reject this graph or
# lose too much: DIV needs a divisor whose quantised value is never the zero
# point (the L2 normalisations divide by values near 0); MAXIMUM needs both
# operands at one scale (max(x, epsilon)); SOFTMAX (the attention, the
# database posterior and the gate) needs an output scale of 1/256. The
# attention's BATCH_MATMUL (two activations, no weights) is faster in float
# (its int8 kernel made the first demo model 3.4x slower than float32).
INT8_FLOAT_OPS = ("DIV", "MAXIMUM", "SOFTMAX", "BATCH_MATMUL")
# Parts of the graph kept in float, by name scope: the parts mobile_graph scopes
# (all but F and the decoder): the matching backbone (its features make the
# attention's cosines; in int8 they moved the attention of unrelated pairs
# enough for a worst photo at 2.8 Lab units instead of 0.9), the SCM's
# embedding and attention (cosines divided by tau = 0.01: an error of 0.01 in
# a cosine moves a logit by 1), the DCM's posterior (an int8 histogram rounds
# small bins to 0, whose log then rules the posterior), the gate, and the
# inputs and output in Lab units (an int8 step of ab is 0.9).
INT8_FLOAT_SCOPES = ("mobile_",)


def calibrate(converter, samples: list) -> bytes:
    """The float model with every tensor's range recorded on ``samples``.

    The converter runs the float model on ``samples``; the result feeds
    :func:`quantize_int8` (several quantisations of one calibration are cheap).
    """

    def dataset() -> Iterator[dict]:
        for sample in samples:
            yield dict(sample)

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = dataset
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
        tf.lite.OpsSet.TFLITE_BUILTINS,  # Float fallback.
    ]
    converter._experimental_calibrate_only = True  # noqa: SLF001 (see quantize_int8)
    return converter.convert()


def quantize_int8(
    calibrated: bytes, float_ops=INT8_FLOAT_OPS, float_scopes=INT8_FLOAT_SCOPES
) -> bytes:
    """Post-training int8 of a calibrated model, with float fallback.

    The MLIR quantiser quantises every op with an int8 kernel except the ops
    of type ``float_ops`` and those whose output name contains one of
    ``float_scopes``. This is what
    ``tf.lite.experimental.QuantizationDebugger(...).get_nondebug_quantized_model()``
    does, without building its instrumented debug model (which fails on this
    graph).
    """
    from tensorflow.lite.python import convert as tflite_convert

    nodes = [
        op["output"]
        for op in operators(calibrated)
        if any(scope in op["output"] for scope in float_scopes)
    ]
    return tflite_convert.mlir_quantize(
        calibrated,
        fully_quantize=False,
        denylisted_ops=list(float_ops),
        denylisted_nodes=nodes,
    )


def _first_error(error: Exception) -> str:
    """The first ``error: ...`` of an MLIR diagnostic, else the first line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    for line in lines:
        if "error: " in line:
            return line.split("error: ", 1)[1][:300]
    return lines[0][:300] if lines else repr(error)


def _code_names(root) -> list[str]:
    """The name of each operator code of a flatbuffer's ``Model`` (builtins in CAPS)."""
    from ai_edge_litert import schema_py_generated as schema

    builtins = {
        value: name
        for name, value in vars(schema.BuiltinOperator).items()
        if not name.startswith("_")
    }
    names = []
    for i in range(root.OperatorCodesLength()):
        code = root.OperatorCodes(i)
        custom = code.CustomCode()
        if custom:
            names.append(custom.decode() if isinstance(custom, bytes) else str(custom))
        else:
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            names.append(builtins.get(builtin, f"UNKNOWN_{builtin}"))
    return names


def list_ops(model: bytes) -> list[str]:
    """Names of the operator codes of a TFLite flatbuffer (builtins in CAPS).

    A custom or Flex op appears under its custom name (e.g. ``FlexFoo``).
    """
    from ai_edge_litert import schema_py_generated as schema

    return _code_names(schema.Model.GetRootAs(model, 0))


def operators(model: bytes) -> list[dict]:
    """Every operator of the main subgraph, in order.

    Returns:
        ``[{"op": its op name (see :func:`list_ops`), "output": its first
        output tensor's name, "type": that tensor's type (``FLOAT32``,
        ``INT8`` ...)}]``.
    """
    from ai_edge_litert import schema_py_generated as schema

    root = schema.Model.GetRootAs(model, 0)
    codes = _code_names(root)
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    graph = root.Subgraphs(0)
    out = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        row = {"op": codes[op.OpcodeIndex()], "output": "", "type": ""}
        if op.OutputsLength():
            tensor = graph.Tensors(op.Outputs(0))
            name = tensor.Name()
            row["output"] = name.decode() if isinstance(name, bytes) else str(name)
            row["type"] = types.get(tensor.Type(), str(tensor.Type()))
        out.append(row)
    return out


def write_atomic(data: bytes, path: os.PathLike) -> None:
    """Writes bytes to a temporary file beside ``path``, then renames it."""
    atomic_write_bytes(path, data)


# ------------------------------------------------------------------- running


def interpreter(model: bytes | os.PathLike, num_threads: int = 1):
    """A LiteRT interpreter (XNNPACK applied) for a flatbuffer or a ``.tflite`` path."""
    from ai_edge_litert.interpreter import Interpreter

    if isinstance(model, bytes | bytearray):
        return Interpreter(model_content=bytes(model), num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


def run(model, num_threads: int = 1, **inputs) -> np.ndarray:
    """Runs ``serving_default`` on the signature's inputs -> ab ``[1, S, S, 2]``."""
    runner = interpreter(model, num_threads).get_signature_runner(SIGNATURE)
    return runner(**inputs)["ab"]


def xnnpack_report(model: bytes | os.PathLike) -> dict:
    """Which of a model's nodes LiteRT's XNNPACK delegate takes.

    The interpreter applies XNNPACK when it allocates; each delegated
    partition becomes one ``DELEGATE`` node whose inputs and outputs are the
    partition's boundary tensors. The nodes between them (walking back from
    the outputs to the inputs) are delegated; every other node runs on
    LiteRT's own kernels, splitting the graph.

    Returns:
        ``{"nodes": number of nodes, "partitions": number of delegated
        partitions, "undelegated": [op name of each node left out]}``.
    """
    runner = interpreter(model)
    runner.allocate_tensors()
    nodes = runner._get_ops_details()  # noqa: SLF001 (no public per-node API)
    original = [n for n in nodes if n["op_name"] != "DELEGATE"]
    producer = {int(t): n["index"] for n in original for t in n["outputs"]}
    inputs = {n["index"]: [int(t) for t in n["inputs"] if t >= 0] for n in original}
    covered = set()
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    for node in delegates:
        boundary = {int(t) for t in node["inputs"]}
        stack = [int(t) for t in node["outputs"]]
        seen = set()
        while stack:
            tensor = stack.pop()
            if tensor in seen or tensor in boundary or tensor not in producer:
                continue
            seen.add(tensor)
            covered.add(producer[tensor])
            stack += inputs[producer[tensor]]
    return {
        "nodes": len(original),
        "partitions": len(delegates),
        "undelegated": [n["op_name"] for n in original if n["index"] not in covered],
    }
