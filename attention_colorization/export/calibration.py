"""Real photos for the TFLite model: int8 calibration inputs and error measurement.

    photos = calibration_photos("workdirs/corpus/validation")  # or None: packages'
    samples = representative_pairs(256, photos)  # signature inputs, 2 per photo
    rows = photo_errors(int8_model, keras_runner(module), evaluation, 256)

The inputs are what an app gives the model
(:mod:`attention_colorization.export.mobile_reference` computes them), made
from the centre square of each photo at the model's size S: one target (its
luminance) with its own colours as the reference and one with the next photo's.

The photos are real ones: a folder's (``--calibration_dir``, e.g. the
corpus's ``validation/``), else those shipped by installed packages
(scikit-image's, in the ``[export]`` extra), so that conversion works offline
on a fresh machine. Measure the int8 error on photos that were not used for
calibration (:func:`split_sources` keeps crops of one photo together).
"""

from __future__ import annotations

import os
import pathlib
import re
from collections.abc import Callable, Sequence

import numpy as np

# Colour photos shipped with scikit-image: int8 calibration without
# --calibration_dir (the first 8) and evaluation (all).
SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "motorcycle_right.png",
)
CALIBRATION_PHOTOS = SKIMAGE_PHOTOS[:8]
# At most this many photos of a --calibration_dir (evenly spread over its sorted
# list); each gives two calibration inputs.
CALIBRATION_LIMIT = 16
PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
# Photos whose names differ only by such a suffix are crops of one source photo
# (tools/gather_photos.py writes name_c0.jpg, name_c1.jpg ...).
_CROP_SUFFIX = re.compile(r"_c\d+$")


class CalibrationError(ValueError):
    """Too few or missing photos; the message is one line for the user."""


def _skimage_folder() -> pathlib.Path:
    try:
        import skimage.data
    except ImportError as error:
        raise CalibrationError(
            "int8 calibration needs scikit-image's bundled photos (pip install "
            "scikit-image) or --calibration_dir"
        ) from error
    return pathlib.Path(skimage.data.__file__).parent


def package_photos(names: Sequence[str] = SKIMAGE_PHOTOS) -> list[pathlib.Path]:
    """The colour photos of scikit-image's data folder, those of ``names`` present.

    Raises:
        CalibrationError: scikit-image is not installed.
    """
    folder = _skimage_folder()
    return [folder / name for name in names if (folder / name).is_file()]


def folder_photos(folder: os.PathLike) -> list[pathlib.Path]:
    """The photos of ``folder`` (:data:`PHOTO_SUFFIXES`, recursively), sorted.

    Raises:
        CalibrationError: not a folder.
    """
    base = pathlib.Path(folder)
    if not base.is_dir():
        raise CalibrationError(f"--calibration_dir {base}: not a folder")
    return sorted(
        p for p in base.rglob("*") if p.suffix.lower() in PHOTO_SUFFIXES and p.is_file()
    )


def spread(items: Sequence, count: int) -> list:
    """At most ``count`` of ``items``, evenly spread (first and last included)."""
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks))]


def calibration_photos(
    folder: os.PathLike | None = None, limit: int = CALIBRATION_LIMIT
) -> list[pathlib.Path]:
    """Real photos for int8 calibration.

    Args:
        folder: a folder of photos (searched recursively), e.g. the corpus's
            ``validation/``; None: scikit-image's :data:`CALIBRATION_PHOTOS`.
        limit: at most this many photos (:func:`spread` over the sorted list).

    Raises:
        CalibrationError: not a folder, or fewer than two photos.
    """
    if folder is None:
        photos, where = package_photos(CALIBRATION_PHOTOS), "scikit-image's data"
    else:
        photos, where = folder_photos(folder), str(folder)
    photos = spread(photos, limit)
    if len(photos) < 2:
        raise CalibrationError(f"too few calibration photos in {where}")
    return photos


def source_of(path: os.PathLike) -> str:
    """The source photo of a file: its stem without a ``_c<N>`` crop suffix."""
    return _CROP_SUFFIX.sub("", pathlib.Path(path).stem)


def split_sources(
    photos: Sequence[os.PathLike], calibration: int
) -> tuple[list[pathlib.Path], list[pathlib.Path]]:
    """Splits photos into calibration and held-out ones, never one source in both.

    Args:
        photos: paths, sorted.
        calibration: how many calibration photos (one per source, spread over
            the sources).

    Returns:
        (calibration photos, the photos of every other source).
    """
    photos = [pathlib.Path(p) for p in photos]
    sources = sorted({source_of(p) for p in photos})
    chosen = set(spread(sources, calibration))
    first = {}
    for p in photos:
        first.setdefault(source_of(p), p)
    calib = [first[s] for s in sorted(chosen)]
    return calib, [p for p in photos if source_of(p) not in chosen]


# ------------------------------------------------------------------- inputs


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
        gray_rgb: uint8 ``[S, S, 3]`` (or ``[S, S]``, ``[S, S, 1]``): the target.
        reference: uint8 ``[S, S, 3]``.
        interface: ``lab`` (inputs computed by
            :mod:`attention_colorization.export.mobile_reference`) or ``uint8``.

    Returns:
        The signature's inputs (numpy, with the batch axis): ``l`` float32
        ``[1, S, S, 1]``, ``ref_lab`` ``[1, S, S, 3]``, ``ref_hist`` ``[1, Q]``;
        or ``gray`` uint8 ``[1, S, S, 1]``, ``reference`` ``[1, S, S, 3]``.
    """
    from attention_colorization.export import mobile_reference as ref

    size = reference.shape[0]
    rgb = ref.to_float_rgb(gray_rgb)  # [S, S, 3]
    if interface == "lab":
        return ref.model_inputs(ref.rgb_to_lightness(rgb), reference, size)
    gray = np.round(rgb @ [0.299, 0.587, 0.114] * 255.0).astype(np.uint8)
    return {"gray": gray[None, ..., None], "reference": reference[None]}


def _pairs(rgbs: list) -> list[tuple[int, int, str]]:
    """(target, reference, kind) of every photo: itself, then the next photo."""
    out = []
    for i in range(len(rgbs)):
        out += [(i, i, "related"), (i, (i + 1) % len(rgbs), "unrelated")]
    return out


def representative_pairs(size: int, photos=None, interface: str = "lab") -> list[dict]:
    """Calibration inputs: every photo as target with itself and with the next as reference.

    Args:
        size: the model's input size S.
        photos: paths (default: :func:`calibration_photos`).
        interface: the inputs' kind (see :func:`pair_inputs`).

    Returns:
        A list of the signature's inputs, two per photo (related, unrelated).
    """
    photos = list(photos or calibration_photos())
    rgbs = [square_rgb(p, size) for p in photos]
    return [pair_inputs(rgbs[i], rgbs[j], interface) for i, j, _ in _pairs(rgbs)]


# ---------------------------------------------------------------- errors


def keras_runner(module) -> Callable[..., np.ndarray]:
    """The live Keras generator on the ``lab`` inputs -> ab ``[1, S, S, 2]``, Lab units.

    ``generator(..., stage=2, training=False)`` under ``tf.function``, with the
    floor added to the histogram as the model's ``mobile_lab`` adds it.

    Args:
        module: a :class:`attention_colorization.export.saved_model.ColorizerModule`.
    """
    import tensorflow as tf

    from attention_colorization import color

    @tf.function
    def ab(l, ref_lab, ref_hist):  # noqa: E741 (the signature's name)
        hist = ref_hist + module.hist_floor
        hist = hist / tf.reduce_sum(hist, axis=-1, keepdims=True)
        inputs = {"l": l, "ref_lab": ref_lab, "ref_hist": hist}
        out = module.generator(inputs, training=False, stage=2)["ab"]
        return color.net_to_ab(tf.cast(out, tf.float32))

    def run(l, ref_lab, ref_hist):  # noqa: E741
        return ab(tf.constant(l), tf.constant(ref_lab), tf.constant(ref_hist)).numpy()

    return run


def _runner(model) -> Callable[..., np.ndarray]:
    """A callable of the signature's inputs -> ab, for a callable or a TFLite model."""
    if callable(model):
        return model
    from attention_colorization.export import tflite

    runner = tflite.interpreter(model).get_signature_runner(tflite.SIGNATURE)
    return lambda **inputs: runner(**inputs)["ab"]


def photo_errors(model, baseline, photos, size: int, interface: str = "lab") -> list:
    """Mean |delta ab| (Lab units) of ``model`` against ``baseline``, per photo.

    Each photo (its centre square at ``size``) is colourised twice: with its
    own colours as the reference (related) and with the next photo's
    (unrelated).

    Args:
        model, baseline: TFLite flatbuffers, ``.tflite`` paths or callables of
            the signature's inputs returning ab ``[1, S, S, 2]`` (e.g.
            :func:`keras_runner`).
        photos: paths.
        size: the models' input size S.
        interface: their interface.

    Returns:
        ``[{"photo": name, "related": error, "unrelated": error}]``.
    """
    rgbs = [square_rgb(p, size) for p in photos]
    runners = [_runner(model), _runner(baseline)]
    rows = [{"photo": pathlib.Path(p).name} for p in photos]
    for i, j, kind in _pairs(rgbs):
        inputs = pair_inputs(rgbs[i], rgbs[j], interface)
        got, want = (np.asarray(run(**inputs)) for run in runners)
        rows[i][kind] = float(np.mean(np.abs(got - want)))
    return rows
