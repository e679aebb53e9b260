"""Section 4: latency, size, XNNPACK partitions and int8 error of the TFLite model.

The TFLite model is the default ``--interface=lab`` export (the app computes
L, the reference's Lab and histogram; see
:mod:`attention_colorization.export.mobile_reference`), timed against the
live Keras generator on the same inputs at the model's size. int8 is
calibrated on real photos and its error measured against the Keras generator
on other photos (:func:`int8_photos`). Needs
:mod:`attention_colorization.export.tflite` and the LiteRT interpreter
(``ai-edge-litert``, in the ``[export]`` extra); without them the section says
it is not available.
"""

from __future__ import annotations

import importlib
import importlib.util
import statistics
import time

import numpy as np

from attention_colorization.benchmarks.machine import cpu_count
from attention_colorization.benchmarks.memory import MIB
from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    markdown_table,
)
from attention_colorization.benchmarks.settings import (
    REPO_ROOT,
    Settings,
    resolve_weights,
)

TARGET_LATENCY_RATIO = 0.7  # TFLite float32 and float16 <= 0.7 x Keras latency
TARGET_INT8_ERROR = 4.0  # int8 TFLite vs Keras: mean |delta ab| on every photo
# int8 calibration photos when this folder exists (tools/gather_photos.py);
# else scikit-image's, split with the evaluation photos.
CORPUS_VALIDATION = REPO_ROOT / "workdirs" / "corpus" / "validation"
# Held-out validation photos (one per source) added to scikit-image's 9 for
# the int8 error.
EXTRA_EVALUATION_PHOTOS = 3
LITERT_MODULE = "ai_edge_litert"
TFLITE_API = (
    "QUANTIZE_MODES",
    "SIGNATURE",
    "convert",
    "interpreter",
    "mobile_function_from_module",
    "xnnpack_report",
)


def tflite_targets(
    keras_seconds: float, modes: dict, int8_errors: list | None = None
) -> list[Target]:
    """float32 and float16 <= 0.7 x Keras latency; int8 no slower than float32
    and within 4 (mean |delta ab|) of the Keras model on every photo.

    Args:
        keras_seconds: the Keras generator's latency.
        modes: ``{mode: {"seconds": ...}}``; a mode that failed or was not run
            (absent, or with ``"error"``) leaves its targets not measured.
        int8_errors: :func:`attention_colorization.export.calibration.photo_errors`
            of int8 against Keras, or None.
    """
    ok = {k: v for k, v in modes.items() if "error" not in v}

    def ratio(mode):
        return ok[mode]["seconds"] / keras_seconds if mode in ok else None

    int8 = (
        ok["int8"]["seconds"] / ok["none"]["seconds"]
        if "int8" in ok and "none" in ok
        else None
    )
    worst = None
    if int8_errors and "int8" in ok:
        worst = max(max(r["related"], r["unrelated"]) for r in int8_errors)
    return [
        Target(
            "TFLite float32 latency / Keras CPU latency",
            ratio("none"),
            "<=",
            TARGET_LATENCY_RATIO,
        ),
        Target(
            "TFLite float16 latency / Keras CPU latency",
            ratio("float16"),
            "<=",
            TARGET_LATENCY_RATIO,
        ),
        Target("TFLite int8 latency / TFLite float32 latency", int8, "<=", 1.0),
        Target(
            "TFLite int8 vs Keras: mean abs Δab (Lab units) on the worst photo",
            worst,
            "<=",
            TARGET_INT8_ERROR,
        ),
    ]


def load_tflite_lib():
    """:mod:`attention_colorization.export.tflite` if it and LiteRT are importable
    and it has the API this section uses, else None."""
    if importlib.util.find_spec(LITERT_MODULE) is None:
        return None
    try:
        module = importlib.import_module("attention_colorization.export.tflite")
    except ImportError:
        return None
    if not all(hasattr(module, name) for name in TFLITE_API):
        return None
    return module


def int8_photos(calibration_lib, folder=CORPUS_VALIDATION) -> tuple[list, list, str]:
    """Calibration and evaluation photos for int8, never from one source photo.

    With ``folder`` (the corpus's validation split): calibration on
    :data:`~attention_colorization.export.calibration.CALIBRATION_LIMIT` of its
    photos (one per source, copies of scikit-image's left out), evaluation on
    scikit-image's photos and :data:`EXTRA_EVALUATION_PHOTOS` held-out
    validation photos of other sources. Without it: scikit-image's photos, the
    first half for calibration, the rest for evaluation.

    Returns:
        (calibration paths, evaluation paths, a sentence saying which).
    """
    packaged = calibration_lib.package_photos()
    if folder.is_dir():
        photos = [
            p
            for p in calibration_lib.folder_photos(folder)
            if not p.name.startswith("skimage_")
        ]
        calib, rest = calibration_lib.split_sources(
            photos, calibration_lib.CALIBRATION_LIMIT
        )
        first = {}
        for p in rest:
            first.setdefault(calibration_lib.source_of(p), p)
        extra = calibration_lib.spread(list(first.values()), EXTRA_EVALUATION_PHOTOS)
        where = (
            f"calibrated on {len(calib)} photos of the corpus's validation split "
            f"(`{folder.name}/`), evaluated on scikit-image's {len(packaged)} "
            f"colour photos and {len(extra)} validation photos of other sources"
        )
        return calib, packaged + extra, where
    half = len(packaged) // 2
    where = (
        f"calibrated on {half} of scikit-image's photos, evaluated on the other "
        f"{len(packaged) - half} (no {folder})"
    )
    return packaged[:half], packaged[half:], where


def _interleaved_medians(fns: dict, repeats: int, warmup: int) -> dict:
    """Median seconds of each function, timed in turns (one call each per round),
    so that a change of the machine's load affects all of them alike."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def tflite_latency(
    weights,
    modes=("none", "float16", "dynamic", "int8"),
    repeats=10,
    warmup=2,
    calibration: int | None = None,
) -> dict:
    """TFLite latency, size and delegation per quantisation vs the Keras generator.

    The TFLite models take the ``lab`` inputs (``l [1, S, S, 1]``, ``ref_lab
    [1, S, S, 3]``, ``ref_hist [1, Q]`` -> ab ``[1, S, S, 2]``); the Keras
    reference is ``generator(..., stage=2)`` on the same inputs (its own graph:
    TopK, the attention loop) under ``tf.function``. All run on all cores,
    timed in turns.

    Args:
        weights: the model (see ``saved_model.load_module``).
        modes: quantisations converted.
        repeats, warmup: timed and untimed calls of each.
        calibration: at most this many int8 calibration inputs (None: two per
            calibration photo).

    Returns:
        ``{"image_size", "threads", "keras_seconds", "preprocess_seconds",
        "modes": {mode: {"seconds", "bytes", "convert_seconds", "finite",
        "partitions", "undelegated"}}, "int8_errors", "int8_photos"}``, or
        ``{"available": False}`` without it (see :func:`load_tflite_lib`).
    """
    lib = load_tflite_lib()
    if lib is None:
        return {"available": False}
    from attention_colorization.export import calibration as calibration_lib
    from attention_colorization.export import mobile_reference
    from attention_colorization.export import saved_model as saved_model_lib

    module = saved_model_lib.load_module(weights)
    concrete, keep, size = lib.mobile_function_from_module(module)
    target, reference = (
        calibration_lib.square_rgb(p, size)
        for p in calibration_lib.package_photos()[:2]
    )
    inputs = calibration_lib.pair_inputs(target, reference, "lab")
    keras_ab = calibration_lib.keras_runner(module)
    start = time.perf_counter()
    lightness = mobile_reference.rgb_to_lightness(mobile_reference.to_float_rgb(target))
    mobile_reference.model_inputs(lightness, reference, size)
    preprocess_seconds = time.perf_counter() - start
    threads = cpu_count()
    out = {
        "available": True,
        "image_size": size,
        "threads": threads,
        "preprocess_seconds": preprocess_seconds,
        "modes": {},
    }
    fns = {"keras": lambda: keras_ab(**inputs)}
    models = {}
    for mode in modes:
        samples = None
        if mode == "int8":
            calib, evaluation, where = int8_photos(calibration_lib)
            samples = calibration_lib.representative_pairs(size, calib)[:calibration]
        start = time.perf_counter()
        try:
            model = lib.convert(concrete, keep, mode, calibration=samples)
        except Exception as error:  # noqa: BLE001 (reported per mode)
            message = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            out["modes"][mode] = {"error": message}
            continue
        convert_seconds = time.perf_counter() - start
        runner = lib.interpreter(model, num_threads=threads).get_signature_runner(
            lib.SIGNATURE
        )
        ab = runner(**inputs)["ab"]
        report = lib.xnnpack_report(model)
        models[mode] = model
        fns[mode] = lambda runner=runner: runner(**inputs)
        out["modes"][mode] = {
            "bytes": len(model),
            "convert_seconds": convert_seconds,
            "finite": bool(np.all(np.isfinite(ab))),
            "partitions": report["partitions"],
            "undelegated": report["undelegated"],
        }
    medians = _interleaved_medians(fns, repeats, warmup)
    out["keras_seconds"] = medians.pop("keras")
    for mode, seconds in medians.items():
        out["modes"][mode]["seconds"] = seconds
    if "int8" in models:
        out["int8_errors"] = calibration_lib.photo_errors(
            models["int8"], keras_ab, evaluation, size
        )
        out["int8_photos"] = where
    return out


def tflite_section(settings: Settings) -> SectionResult:
    """The demo model's TFLite latency, size, delegation and int8 error vs Keras."""
    result = SectionResult("tflite", "4. TFLite")
    weights = resolve_weights(settings.weights)
    m = tflite_latency(
        weights,
        settings.tflite_modes,
        settings.tflite_repeats,
        settings.warmup,
        settings.tflite_calibration,
    )
    result.data = m
    if not m["available"]:
        result.lines.append(
            "not available: needs `attention_colorization.export.tflite` and "
            f"LiteRT (`pip install '.[export]'`, `{LITERT_MODULE}`)."
        )
        return result
    rows = [["Keras (tf.function, CPU)", 1000 * m["keras_seconds"], "—", "1.00", "—"]]
    for mode, r in m["modes"].items():
        if "error" in r:
            rows.append([f"TFLite {mode}", "failed", "—", r["error"], "—"])
            continue
        left_out = ", ".join(sorted(set(r["undelegated"]))) or "none"
        rows.append(
            [
                f"TFLite {mode}",
                1000 * r["seconds"],
                r["bytes"] / MIB,
                f"{r['seconds'] / m['keras_seconds']:.2f}",
                f"{r['partitions']}; not delegated: {left_out}",
            ]
        )
    result.lines += markdown_table(
        [
            "runtime",
            "median ms",
            "file MiB",
            "× Keras latency",
            "XNNPACK partitions",
        ],
        rows,
    )
    result.lines += [
        "",
        f"Model: {weights}, fixed size {m['image_size']} px, one reference. "
        "TFLite: `attention-colorize-export tflite` (`--interface=lab`: L, the "
        "reference's Lab and histogram in, ab out; every op an XNNPACK op), run "
        f"by the LiteRT interpreter with {m['threads']} threads (the machine's "
        "cores, as TensorFlow uses). Keras: the generator on the same inputs "
        "(its own graph) under `tf.function`. Median of "
        f"{settings.tflite_repeats} calls each, timed in turns. The app's side "
        "(`attention_colorization/export/mobile_reference.py` in numpy: L, Lab and "
        "histogram at "
        f"{m['image_size']} px) took {1000 * m['preprocess_seconds']:.0f} ms "
        "more, not counted.",
    ]
    errors = m.get("int8_errors")
    if errors:
        result.lines += [
            "",
            f"int8 TFLite vs the Keras model, mean |Δab| (Lab units) per photo at "
            f"{m['image_size']} px ({m['int8_photos']}):",
            "",
        ]
        result.lines += markdown_table(
            ["photo", "own colours as reference", "next photo as reference"],
            [[r["photo"], r["related"], r["unrelated"]] for r in errors],
        )
    result.targets += tflite_targets(m["keras_seconds"], m["modes"], errors)
    return result
