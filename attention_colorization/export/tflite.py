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
  (:func:`calibration_photos`: a folder's, e.g. the corpus's validation
  photos, else scikit-image's), with the ops of :data:`INT8_FLOAT_OPS` and
  the parts of :data:`INT8_FLOAT_SCOPES` kept in float; the inputs and
  output stay float32 (uint8 inputs for ``--interface=uint8``).
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
INTERFACES = ("lab", "uint8")
SIGNATURE = "serving_default"
# The SavedModel function each interface converts, and its inputs.
MOBILE_FUNCTIONS = {"lab": "mobile_lab", "uint8": "mobile_ab"}
INPUT_NAMES = {"lab": ("l", "ref_lab", "ref_hist"), "uint8": ("gray", "reference")}
# Photos shipped with scikit-image: int8 calibration without --calibration_dir.
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
# At most this many photos of a --calibration_dir (evenly spread over its sorted
# list); each gives two calibration inputs.
CALIBRATION_LIMIT = 16
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


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
    weights=None, image_size: int | None = None, interface="lab"
):
    """Like :func:`mobile_function_from_saved_model`, from any model.

    Args:
        weights: None (the bundled demo model), a workdir, a ``*.weights.h5``
            file or a SavedModel version folder (see
            :func:`attention_colorization.weights_path.resolve_weights`).
        image_size, interface: see :func:`mobile_function_from_saved_model`.
    """
    from attention_colorization.export import saved_model as saved_model_lib
    from attention_colorization.weights_path import (
        ALL_KINDS,
        SAVED_MODEL,
        resolve_weights,
    )

    model = resolve_weights(weights, accept=ALL_KINDS)
    if model.kind == SAVED_MODEL:
        return mobile_function_from_saved_model(model.path, image_size, interface)
    module = saved_model_lib.load_module(model)
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


# ---------------------------------------------------------------- calibration


def _skimage_folder() -> pathlib.Path:
    try:
        import skimage.data
    except ImportError as error:
        raise TFLiteExportError(
            "int8 calibration needs scikit-image's bundled photos (pip install "
            "scikit-image) or --calibration_dir"
        ) from error
    return pathlib.Path(skimage.data.__file__).parent


def package_photos() -> list[pathlib.Path]:
    """The colour photos shipped by installed packages (scikit-image's
    :data:`CALIBRATION_PHOTOS` and ``motorcycle_right.png``, scikit-learn's
    ``china.jpg``/``flower.jpg``, matplotlib's ``grace_hopper.jpg``), whichever
    are installed; for calibration and for measuring the int8 error."""
    paths = []
    try:
        folder = _skimage_folder()
        names = CALIBRATION_PHOTOS + ("motorcycle_right.png",)
        paths += [folder / name for name in names]
    except TFLiteExportError:
        pass
    try:
        import sklearn

        images = pathlib.Path(sklearn.__file__).parent / "datasets" / "images"
        paths += [images / "china.jpg", images / "flower.jpg"]
    except ImportError:
        pass
    try:
        import matplotlib

        data = pathlib.Path(matplotlib.get_data_path()) / "sample_data"
        paths.append(data / "grace_hopper.jpg")
    except ImportError:
        pass
    return [p for p in paths if p.is_file()]


def calibration_photos(
    folder: os.PathLike | None = None, limit: int = CALIBRATION_LIMIT
) -> list[pathlib.Path]:
    """Real photos for int8 calibration.

    Args:
        folder: a folder of photos (``*.jpg``, ``*.png``, ``*.bmp``, searched
            recursively), e.g. the corpus's ``validation/``; None: the photos
            shipped by scikit-image (:data:`CALIBRATION_PHOTOS`).
        limit: at most this many of the folder's photos, evenly spread over
            its sorted list.

    Raises:
        TFLiteExportError: fewer than two photos.
    """
    if folder is None:
        base = _skimage_folder()
        photos = [base / name for name in CALIBRATION_PHOTOS]
        photos = [p for p in photos if p.is_file()]
        where = str(base)
    else:
        base = pathlib.Path(folder)
        if not base.is_dir():
            raise TFLiteExportError(f"--calibration_dir {base}: not a folder")
        photos = sorted(
            p
            for p in base.rglob("*")
            if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
        )
        if len(photos) > limit:
            picks = np.linspace(0, len(photos) - 1, limit).round().astype(int)
            photos = [photos[i] for i in sorted(set(picks))]
        where = str(base)
    if len(photos) < 2:
        raise TFLiteExportError(f"too few calibration photos in {where}")
    return photos


def square_rgb(path: os.PathLike, size: int) -> np.ndarray:
    """A photo's centre square resized to ``size`` -> uint8 ``[size, size, 3]``."""
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGB")
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        image = image.crop((left, top, left + side, top + side))
        return np.asarray(image.resize((size, size), Image.BILINEAR), np.uint8)


def pair_inputs(gray_rgb: np.ndarray, reference: np.ndarray, interface: str) -> dict:
    """One model input: a target photo (its luminance) and a reference photo.

    Args:
        gray_rgb: uint8 ``[S, S, 3]`` (or ``[S, S, 1]``): the target.
        reference: uint8 ``[S, S, 3]``.
        interface: ``lab`` (computed by
            :mod:`attention_colorization.export.mobile_reference`) or ``uint8``.

    Returns:
        The signature's inputs (numpy, with the batch axis).
    """
    from attention_colorization.export import mobile_reference as ref

    size = reference.shape[0]
    lightness = ref.rgb_to_lightness(ref.to_float_rgb(gray_rgb))  # [S, S, 1]
    if interface == "lab":
        return ref.model_inputs(lightness, reference, size)
    gray = np.round(ref.to_float_rgb(gray_rgb) @ [0.299, 0.587, 0.114] * 255.0)
    return {
        "gray": gray.astype(np.uint8)[None, ..., None],
        "reference": reference[None],
    }


def representative_pairs(size: int, photos=None, interface: str = "lab") -> list[dict]:
    """Calibration inputs: every photo as target with itself and with the next as reference.

    Args:
        size: the model's input size.
        photos: paths (default: :func:`calibration_photos`).
        interface: the inputs' kind (see :func:`pair_inputs`).

    Returns:
        A list of the signature's inputs, two per photo (related, unrelated).
    """
    photos = list(photos or calibration_photos())
    rgbs = [square_rgb(p, size) for p in photos]
    pairs = []
    for i, rgb in enumerate(rgbs):
        for j in (i, (i + 1) % len(rgbs)):  # Related (itself) and unrelated.
            pairs.append(pair_inputs(rgb, rgbs[j], interface))
    return pairs


# ---------------------------------------------------------------- conversion


def convert(
    concrete, trackable, quantize: str = "none", calibration: list | None = None
) -> bytes:
    """Converts the mobile function to a TFLite flatbuffer.

    Args:
        concrete: the mobile concrete function (see :data:`INPUT_NAMES`).
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
            samples = calibration or representative_pairs(
                size, interface=interface_of(concrete)
            )
            model = quantize_int8(calibrate(converter, samples))
        else:
            model = converter.convert()
    except TFLiteExportError:
        raise
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
# Parts of the graph kept in float, by name scope: every op that mobile_graph
# writes itself (all but the generator's layers): the SCM's embedding and
# attention (cosines divided by tau = 0.01: an int8 error of 0.01 in a cosine
# moves a logit by 1), the DCM's posterior (an int8 histogram rounds small bins
# to 0, whose log then rules the posterior), the gate, and the inputs and
# output in Lab units (an int8 step of ab is 0.9). int8 runs the convolutions.
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
        name
        for name in _operator_output_names(calibrated)
        if any(scope in name for scope in float_scopes)
    ]
    return tflite_convert.mlir_quantize(
        calibrated,
        fully_quantize=False,
        denylisted_ops=list(float_ops),
        denylisted_nodes=nodes,
    )


def _operator_output_names(model: bytes) -> list[str]:
    """The first output tensor's name of every operator of the main subgraph."""
    from ai_edge_litert import schema_py_generated as schema

    graph = schema.Model.GetRootAs(model, 0).Subgraphs(0)
    names = []
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        if op.OutputsLength():
            name = graph.Tensors(op.Outputs(0)).Name()
            names.append(name.decode() if isinstance(name, bytes) else str(name))
    return names


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


def photo_errors(model, baseline, photos, size: int, interface: str = "lab") -> list:
    """Mean |delta ab| (Lab units) of ``model`` against ``baseline`` per photo.

    Each photo (its centre square at ``size``) is colourised twice: with its
    own colours as the reference (related) and with the next photo's
    (unrelated).

    Args:
        model, baseline: TFLite flatbuffers (or paths) of one interface.
        photos: paths.
        size: the models' input size.
        interface: their interface.

    Returns:
        ``[{"photo": name, "related": error, "unrelated": error}]``.
    """
    rgbs = [square_rgb(p, size) for p in photos]
    runners = [
        interpreter(m).get_signature_runner(SIGNATURE) for m in (model, baseline)
    ]
    out = []
    for i, (path, rgb) in enumerate(zip(photos, rgbs, strict=True)):
        row = {"photo": pathlib.Path(path).name}
        for kind, j in (("related", i), ("unrelated", (i + 1) % len(rgbs))):
            inputs = pair_inputs(rgb, rgbs[j], interface)
            got, want = (r(**inputs)["ab"] for r in runners)
            row[kind] = float(np.mean(np.abs(got - want)))
        out.append(row)
    return out
