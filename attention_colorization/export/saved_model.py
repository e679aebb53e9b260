"""Exports the colouriser as a TensorFlow Serving SavedModel.

The library of ``attention-colorize-export saved_model`` (see
:mod:`attention_colorization.export.cli`):

    module = ColorizerModule(generator, config)
    path = export_saved_model(module, "/models/colorizer")  # -> /models/colorizer/1

The exported folder ``BASE/N`` holds:

* signature ``serving_default``: ``gray`` uint8 ``[B, H, W, 1]`` and
  ``reference`` uint8 ``[B, h, w, 3]`` (any sizes) -> ``rgb`` uint8
  ``[B, H, W, 3]`` and ``ab`` float32 ``[B, H, W, 2]`` (Lab units, the chroma of
  ``rgb``: after gamut fitting). All pre- and post-processing of
  :class:`attention_colorization.Colorizer` runs in the graph.
* signature ``colorize_bytes``: ``gray_bytes`` and ``reference_bytes`` string
  ``[B]`` (encoded JPEG/PNG/BMP/GIF; a colour "gray" image is reduced to its
  luminance) -> ``rgb_png_bytes`` string ``[B]`` (PNG), one element at a time
  (the images of a batch may have different sizes).
* signatures and functions ``mobile_lab`` and ``mobile_ab``, at the model's
  size S (for the TFLite exporter, which converts one of them; clients need
  not use them): ``mobile_lab`` takes what an app computes itself, ``l``
  float32 ``[1, S, S, 1]`` (the target's L), ``ref_lab`` float32
  ``[1, S, S, 3]`` (the reference's Lab) and ``ref_hist`` float32 ``[1, Q]``
  (its ab histogram, without the floor: see
  :mod:`attention_colorization.export.mobile_reference`); ``mobile_ab`` takes
  ``gray`` uint8 ``[1, S, S, 1]`` and ``reference`` uint8 ``[1, S, S, 3]``
  and does that colour work in the graph. Both give ``ab`` float32
  ``[1, S, S, 2]`` in Lab units, before upsampling and gamut fitting, and
  run the network as :mod:`attention_colorization.export.mobile_graph`
  writes it (the ops of TFLite's XNNPACK delegate; the same result).
* ``assets.extra/tf_serving_warmup_requests``: PredictionLog records replayed
  by TF Serving at load time (both signatures, 64 x 64 inputs).

The SavedModel is written by ``keras.export.ExportArchive`` (:func:`save_module`)
so that it also runs the way TF Serving loads it: graph mode, the MetaGraph's
restore op, then ``session.run`` by tensor names (as ``saved_model_cli run``
does, and ``attention-colorize-client --saved_model``).

Versions are written atomically: the SavedModel is built in ``BASE/.tmp-N-*``
(a name TF Serving ignores) and renamed to ``BASE/N`` only when complete.
"""

from __future__ import annotations

import io
import os
import pathlib
import re
import shutil
import tempfile
import uuid

import numpy as np
import tensorflow as tf

from attention_colorization import color

SERVING_SIGNATURE = "serving_default"
BYTES_SIGNATURE = "colorize_bytes"
MOBILE_FUNCTION = "mobile_ab"
MOBILE_LAB_FUNCTION = "mobile_lab"
WARMUP_FILE = "tf_serving_warmup_requests"
DEFAULT_MODEL_NAME = "colorizer"
WARMUP_SIZE = 64


def uint8_to_float_rgb(image: tf.Tensor) -> tf.Tensor:
    """uint8 image ``[..., C]`` (C = 1 or 3) -> float32 RGB ``[..., 3]`` in [0, 1]."""
    x = tf.cast(image, tf.float32) / 255.0
    if image.shape[-1] == 1:
        x = tf.concat([x, x, x], axis=-1)
    return x


class ColorizerModule:
    """The generator with the serving functions, ready to export.

    The functions (:meth:`endpoints`) use nothing of the generator but its
    call API; :func:`export_archive` registers them, with their fixed input
    specs (:meth:`input_signatures`), as endpoints of a
    ``keras.export.ExportArchive`` (see :func:`save_module` for why not
    ``tf.saved_model.save`` of a ``tf.Module``). For in-process use the same
    functions are also attributes, as ``tf.function`` s with those signatures:
    ``serving_default``, ``colorize_bytes``, ``mobile_ab`` and ``mobile_lab``.

    Args:
        generator: a built :class:`attention_colorization.model.Generator`.
        config: its ``ConfigDict`` (``data.image_size``, ``data.hist_floor``).
    """

    def __init__(self, generator, config):
        self.generator = generator
        self.image_size = int(config.data.image_size)
        self.hist_floor = float(config.data.hist_floor)
        self.num_bins = int(config.model.num_bins)
        for name, (fn, signature) in self.endpoints().items():
            setattr(self, name, tf.function(fn, input_signature=signature))

    def input_signatures(self) -> dict:
        """The input specs of every exported function, by name."""
        s = self.image_size
        return {
            SERVING_SIGNATURE: [
                tf.TensorSpec([None, None, None, 1], tf.uint8, name="gray"),
                tf.TensorSpec([None, None, None, 3], tf.uint8, name="reference"),
            ],
            BYTES_SIGNATURE: [
                tf.TensorSpec([None], tf.string, name="gray_bytes"),
                tf.TensorSpec([None], tf.string, name="reference_bytes"),
            ],
            MOBILE_FUNCTION: [
                tf.TensorSpec([1, s, s, 1], tf.uint8, name="gray"),
                tf.TensorSpec([1, s, s, 3], tf.uint8, name="reference"),
            ],
            MOBILE_LAB_FUNCTION: [
                tf.TensorSpec([1, s, s, 1], tf.float32, name="l"),
                tf.TensorSpec([1, s, s, 3], tf.float32, name="ref_lab"),
                tf.TensorSpec([1, self.num_bins], tf.float32, name="ref_hist"),
            ],
        }

    def endpoints(self) -> dict:
        """``{name: (python function, input signature)}`` for every exported function."""
        functions = {
            SERVING_SIGNATURE: self._serve_arrays,
            BYTES_SIGNATURE: self._serve_bytes,
            MOBILE_FUNCTION: self._mobile_ab,
            MOBILE_LAB_FUNCTION: self._mobile_lab,
        }
        signatures = self.input_signatures()
        return {name: (fn, signatures[name]) for name, fn in functions.items()}

    # ---------------------------------------------------------------- graph
    def _generator_ab(self, l_small, ref_lab, attention_loop=True):
        """Runs the network at S.

        Args:
            l_small: L ``[B, S, S, 1]`` in [0, 100].
            ref_lab: reference Lab ``[B, S, S, 3]``.
            attention_loop: see ``Generator.call``.

        Returns:
            ab ``[B, S, S, 2]`` in Lab units.
        """
        ref_hist = color.reference_histogram(ref_lab[..., 1:], floor=self.hist_floor)
        outputs = self.generator(
            {"l": l_small, "ref_lab": ref_lab, "ref_hist": ref_hist},
            training=False,
            stage=2,
            attention_loop=attention_loop,
        )
        return color.net_to_ab(tf.cast(outputs["ab"], tf.float32))

    def colorize_float(self, gray_rgb, reference_rgb):
        """The Colorizer's pipeline on float images, in graph.

        Args:
            gray_rgb: float32 ``[B, H, W, 3]`` in [0, 1]; only its luminance is used.
            reference_rgb: float32 ``[B, h, w, 3]`` in [0, 1].

        Returns:
            (rgb uint8 ``[B, H, W, 3]``, ab float32 ``[B, H, W, 2]`` in Lab units).
        """
        s = self.image_size
        size = tf.shape(gray_rgb)[1:3]
        lightness = color.rgb_to_lightness(gray_rgb)  # [B, H, W, 1]
        l_small = tf.image.resize(lightness, [s, s], method="area")  # [B, S, S, 1]
        ref_small = tf.image.resize(reference_rgb, [s, s], method="area")
        ref_lab = color.rgb_to_lab(tf.clip_by_value(ref_small, 0.0, 1.0))
        ab_small = self._generator_ab(l_small, ref_lab)  # [B, S, S, 2]
        ab = tf.image.resize(ab_small, size, method="bilinear")  # [B, H, W, 2]
        lab = color.fit_to_gamut(tf.concat([lightness, ab], axis=-1))
        rgb = color.lab_to_rgb(lab)  # [B, H, W, 3] in [0, 1]
        rgb8 = tf.cast(tf.round(rgb * 255.0), tf.uint8)
        return rgb8, lab[..., 1:]

    def _serve_arrays(self, gray, reference):
        rgb, ab = self.colorize_float(
            uint8_to_float_rgb(gray), uint8_to_float_rgb(reference)
        )
        return {"rgb": rgb, "ab": ab}

    def _serve_bytes(self, gray_bytes, reference_bytes):
        def one(pair):
            gray = tf.io.decode_image(pair[0], channels=3, expand_animations=False)
            ref = tf.io.decode_image(pair[1], channels=3, expand_animations=False)
            rgb, _ = self.colorize_float(
                uint8_to_float_rgb(gray)[None], uint8_to_float_rgb(ref)[None]
            )
            return tf.io.encode_png(rgb[0])

        png = tf.map_fn(
            one,
            (gray_bytes, reference_bytes),
            fn_output_signature=tf.TensorSpec([], tf.string),
        )
        return {"rgb_png_bytes": png}

    def _mobile_ab(self, gray, reference):
        from attention_colorization.export import mobile_graph

        # In a mobile_ scope: the int8 export keeps the colour work in float.
        with tf.name_scope(mobile_graph.COLOR_SCOPE):
            lightness = color.rgb_to_lightness(uint8_to_float_rgb(gray))  # [1, S, S, 1]
            ref_lab = color.rgb_to_lab(uint8_to_float_rgb(reference))  # [1, S, S, 3]
            ref_hist = color.reference_histogram(ref_lab[..., 1:])  # [1, Q], no floor
        return self._mobile_lab(lightness, ref_lab, ref_hist)

    def _mobile_lab(self, l, ref_lab, ref_hist):  # noqa: E741 (the signature's name)
        """The network at S with XNNPACK ops (no loop, no TOPK_V2; see mobile_graph).

        Args:
            l: the target's L ``[1, S, S, 1]`` in [0, 100].
            ref_lab: the reference's Lab ``[1, S, S, 3]``.
            ref_hist: its ab histogram ``[1, Q]`` (summing to 1); the floor
                (``data.hist_floor``) is added here, as the pipeline adds it.

        Returns:
            ``{"ab": [1, S, S, 2]}`` in Lab units.
        """
        from attention_colorization.export import mobile_graph

        ab = mobile_graph.forward(
            self.generator, l, ref_lab, ref_hist, hist_floor=self.hist_floor
        )
        with tf.name_scope(mobile_graph.OUTPUT_SCOPE):
            return {"ab": color.net_to_ab(ab)}


# ------------------------------------------------------------------ warmup


def warmup_images(size: int = WARMUP_SIZE, seed: int = 0):
    """A small deterministic (gray uint8 ``[size, size, 1]``, reference ``[size, size, 3]``)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    ref = np.stack([0.5 + 0.5 * np.sin(3 * xx + 2 * yy + p) for p in phase], -1)
    ref = np.round(ref * 255).astype(np.uint8)
    gray = np.round(255 * (0.2 + 0.6 * xx * yy + 0.2 * np.cos(4 * xx))).astype(np.uint8)
    return gray[..., None], ref


def encode_png(array: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    image = array[..., 0] if array.ndim == 3 and array.shape[-1] == 1 else array
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def warmup_requests(model_name: str = DEFAULT_MODEL_NAME) -> list:
    """PredictionLog protos, one per signature, with 64 x 64 inputs."""
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    gray, ref = warmup_images()
    inputs = {
        SERVING_SIGNATURE: {"gray": gray[None], "reference": ref[None]},
        BYTES_SIGNATURE: {
            "gray_bytes": np.array([encode_png(gray)], dtype=object),
            "reference_bytes": np.array([encode_png(ref)], dtype=object),
        },
    }
    logs = []
    for signature, tensors in inputs.items():
        request = predict_pb2.PredictRequest(
            model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature)
        )
        for key, value in tensors.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        logs.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    return logs


def write_warmup(export_path: os.PathLike, model_name: str = DEFAULT_MODEL_NAME) -> str:
    """Writes ``assets.extra/tf_serving_warmup_requests`` (TFRecord) into a SavedModel."""
    folder = pathlib.Path(export_path) / "assets.extra"
    folder.mkdir(parents=True, exist_ok=True)
    path = str(folder / WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for log in warmup_requests(model_name):
            writer.write(log.SerializeToString())
    return path


def read_warmup(export_path: os.PathLike) -> list:
    """The PredictionLog protos of a SavedModel's warmup file."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = pathlib.Path(export_path) / "assets.extra" / WARMUP_FILE
    logs = []
    for record in tf.data.TFRecordDataset(str(path)).as_numpy_iterator():
        logs.append(prediction_log_pb2.PredictionLog.FromString(record))
    return logs


# --------------------------------------------------------------- versioning


def existing_versions(base: os.PathLike) -> list[int]:
    """Numeric subfolders of ``base`` (the versions TF Serving sees), sorted."""
    base = pathlib.Path(base)
    if not base.is_dir():
        return []
    return sorted(
        int(p.name)
        for p in base.iterdir()
        if p.is_dir() and re.fullmatch(r"\d+", p.name)
    )


def next_version(base: os.PathLike) -> int:
    """One more than the largest existing version, 1 for an empty base."""
    versions = existing_versions(base)
    return versions[-1] + 1 if versions else 1


class ExportError(RuntimeError):
    """A refused or failed export; the message is one line for the user."""


def export_archive(module: ColorizerModule):
    """A ``keras.export.ExportArchive`` with the module's functions as endpoints.

    Every endpoint becomes a SignatureDef (``serving_default``,
    ``colorize_bytes`` and ``mobile_ab``). The archive tracks exactly the
    ``tf.Variable`` s that the endpoints' graphs capture, so the checkpoint's
    restore op writes the very variables that the signatures read. The
    generator is deliberately not ``track()`` ed: that would save every weight
    a second time (as the Keras variables' own copies, which no signature
    reads), doubling ``variables/``; it only matters for lookup tables, and the
    generator has none.
    """
    import keras

    archive = keras.export.ExportArchive()
    for name, (fn, signature) in module.endpoints().items():
        archive.add_endpoint(name, fn, input_signature=signature)
    return archive


def save_module(module: ColorizerModule, path: os.PathLike) -> None:
    """Writes the SavedModel (no warm-up) through :func:`export_archive`.

    Not ``tf.saved_model.save`` of a ``tf.Module`` holding the Keras generator:
    Keras 3 saves each of its variables as a new ``tf.Variable`` (``Variable_N``)
    while the functions capture the original handles, so a graph-mode load
    (TF Serving, ``saved_model_cli run``) restores variables that nothing reads
    and fails with "Could not find variable ..." (keras-team/keras#20095).
    ``tf.saved_model.load`` binds captures through the object graph and hides it.
    """
    export_archive(module).write_out(str(path), verbose=False)


def export_saved_model(
    module: ColorizerModule,
    base: os.PathLike,
    version: int | None = None,
    overwrite: bool = False,
    model_name: str = DEFAULT_MODEL_NAME,
) -> pathlib.Path:
    """Writes ``base/version`` atomically and returns its path.

    Args:
        module: the :class:`ColorizerModule` to save.
        base: the model's base folder (TF Serving's ``base_path``); created if needed.
        version: a positive integer; default: the next free version.
        overwrite: replace an existing ``base/version`` (atomically: the old one
            is renamed aside, the new one renamed in, then the old one deleted).
        model_name: written into the warmup requests' model spec.

    Raises:
        ExportError: the version exists without ``overwrite``, or a bad version.
    """
    base = pathlib.Path(base)
    created_base = not base.exists()
    base.mkdir(parents=True, exist_ok=True)
    if version is None:
        version = next_version(base)
    if int(version) < 1:
        raise ExportError(f"--version must be a positive integer, got {version}")
    version = int(version)
    final = base / str(version)
    if final.exists() and not overwrite:
        raise ExportError(
            f"{final}: version {version} exists (use --overwrite to replace it)"
        )
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".tmp-{version}-", dir=base))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; a version is not.
    try:
        save_module(module, tmp)
        write_warmup(tmp, model_name)
        if final.exists():
            old = base / f".old-{version}-{uuid.uuid4().hex[:8]}"
            os.rename(final, old)
            try:
                os.rename(tmp, final)
            except BaseException:
                os.rename(old, final)  # Put the old version back.
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
            if created_base and not any(base.iterdir()):
                base.rmdir()  # A failed first export leaves no trace.
    return final


def load_module(
    weights=None, precision: str = "float32", inference_size: int | None = None
) -> ColorizerModule:
    """A :class:`ColorizerModule` of a model (see ``workdir.load_generator``).

    Args:
        weights: the model (None: the bundled one).
        precision: what the exported network computes in: ``"float32"`` (the
            default: a serving machine may lack native bfloat16),
            ``"bfloat16"`` (matching and colour work stay float32, as in
            ``Colorizer.load``) or ``"auto"`` (decided on this machine).
        inference_size: the resolution the network runs at (None: the model's).
    """
    from attention_colorization import precision as precision_lib

    generator, config, _ = precision_lib.load_generator(
        weights, precision, inference_size
    )
    return ColorizerModule(generator, config)


def directory_size(path: os.PathLike) -> int:
    """Total bytes of the files under ``path``."""
    return sum(p.stat().st_size for p in pathlib.Path(path).rglob("*") if p.is_file())


def export_from_weights(
    weights: os.PathLike | None,
    export_dir: os.PathLike,
    version: int | None = None,
    overwrite: bool = False,
    model_name: str = DEFAULT_MODEL_NAME,
    precision: str = "float32",
    inference_size: int | None = None,
) -> pathlib.Path:
    """The command's work: load the generator, export ``export_dir/version``.

    Args:
        weights: None (the bundled demo model), a workdir or a ``*.weights.h5``
            file (see :func:`attention_colorization.weights_path.resolve_weights`);
            checked before TensorFlow builds anything.
        export_dir, version, overwrite, model_name: see :func:`export_saved_model`.
        precision, inference_size: see :func:`load_module`.

    Raises:
        attention_colorization.weights_path.ModelPathError: not a model.
        ExportError: a refused version.
    """
    from attention_colorization.weights_path import resolve_weights

    module = load_module(resolve_weights(weights), precision, inference_size)
    return export_saved_model(module, export_dir, version, overwrite, model_name)
