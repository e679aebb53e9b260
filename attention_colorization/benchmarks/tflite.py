"""Section 4: latency and size of each TFLite quantisation vs the Keras function.

Needs :mod:`attention_colorization.export.tflite` and the LiteRT interpreter
(``ai-edge-litert``, in the ``[export]`` extra); without them the section says
it is not available.
"""

from __future__ import annotations

import importlib
import importlib.util
import time

import numpy as np

from attention_colorization.benchmarks.machine import cpu_count
from attention_colorization.benchmarks.memory import MIB
from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    markdown_table,
)
from attention_colorization.benchmarks.settings import Settings, resolve_weights
from attention_colorization.benchmarks.synthetic import synthetic_gray, synthetic_photo
from attention_colorization.benchmarks.timing import median_seconds

TARGET_FLOAT16_RATIO = 1.2  # TFLite float16 latency <= 1.2 x Keras CPU latency


def tflite_targets(keras_seconds: float, modes: dict) -> list[Target]:
    """float16 <= 1.2 x Keras latency; int8 no slower than float32 TFLite.

    Args:
        keras_seconds: the Keras function's latency.
        modes: ``{mode: {"seconds": ...}}``; a mode that failed or was not run
            (absent, or with ``"error"``) leaves its target not measured.
    """
    ok = {k: v for k, v in modes.items() if "error" not in v}
    float16 = ok["float16"]["seconds"] / keras_seconds if "float16" in ok else None
    int8 = (
        ok["int8"]["seconds"] / ok["none"]["seconds"]
        if "int8" in ok and "none" in ok
        else None
    )
    return [
        Target(
            "TFLite float16 latency / Keras CPU latency",
            float16,
            "<=",
            TARGET_FLOAT16_RATIO,
        ),
        Target("TFLite int8 latency / TFLite float32 latency", int8, "<=", 1.0),
    ]


TFLITE_API = (
    "QUANTIZE_MODES",
    "SIGNATURE",
    "convert",
    "interpreter",
    "mobile_function_from_module",
    "representative_pairs",
)


LITERT_MODULE = "ai_edge_litert"


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


def tflite_latency(
    weights,
    modes=("none", "float16", "dynamic", "int8"),
    repeats=10,
    warmup=2,
    calibration: int | None = None,
) -> dict:
    """TFLite latency and size per quantisation, and the Keras latency of the same function.

    Both run the fixed-size mobile function (``gray`` uint8 ``[1, S, S, 1]``,
    ``reference`` uint8 ``[1, S, S, 3]`` -> ab ``[1, S, S, 2]``) on all cores.

    Returns:
        ``{"image_size", "threads", "keras_seconds", "modes": {mode: {"seconds",
        "bytes"}}}``, or ``{"available": False}`` without it (see
        :func:`load_tflite_lib`).
    """
    import tensorflow as tf

    lib = load_tflite_lib()
    if lib is None:
        return {"available": False}
    from attention_colorization.export import saved_model as saved_model_lib

    module = saved_model_lib.load_module(weights)
    concrete, keep, size = lib.mobile_function_from_module(module)
    gray = synthetic_gray(size, size, 0)[None, ..., None]
    reference = synthetic_photo(size, size, 1)[None]
    keras_seconds, _ = median_seconds(
        module.mobile_ab,
        tf.constant(gray),
        tf.constant(reference),
        repeats=repeats,
        warmup=warmup,
    )
    threads = cpu_count()
    out = {
        "available": True,
        "image_size": size,
        "threads": threads,
        "keras_seconds": keras_seconds,
        "modes": {},
    }
    for mode in modes:
        samples = None
        if mode == "int8" and calibration is not None:
            samples = lib.representative_pairs(size)[:calibration]
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
        seconds, _ = median_seconds(
            runner, gray=gray, reference=reference, repeats=repeats, warmup=warmup
        )
        ab = runner(gray=gray, reference=reference)["ab"]
        out["modes"][mode] = {
            "seconds": seconds,
            "bytes": len(model),
            "convert_seconds": convert_seconds,
            "finite": bool(np.all(np.isfinite(ab))),
        }
    return out


def tflite_section(settings: Settings) -> SectionResult:
    """The demo model's TFLite latency and size per quantisation vs Keras."""
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
    rows = [["Keras (tf.function, CPU)", 1000 * m["keras_seconds"], "—", "1.00"]]
    for mode, r in m["modes"].items():
        if "error" in r:
            rows.append([f"TFLite {mode}", "failed", "—", r["error"]])
            continue
        rows.append(
            [
                f"TFLite {mode}",
                1000 * r["seconds"],
                r["bytes"] / MIB,
                f"{r['seconds'] / m['keras_seconds']:.2f}",
            ]
        )
    result.lines += markdown_table(
        ["runtime", "median ms", "file MiB", "× Keras latency"], rows
    )
    result.lines += [
        "",
        f"Model: {weights}, fixed size {m['image_size']} px, one reference: the "
        "`mobile_ab` function of "
        "`attention_colorization.export.saved_model.ColorizerModule` (uint8 gray "
        "and reference in, ab out; colour conversion and the reference histogram "
        "in the graph), converted by `attention_colorization.export.tflite.convert`. "
        f"LiteRT interpreter with {m['threads']} threads (the machine's cores, as "
        f"TensorFlow uses); median of {settings.tflite_repeats} calls.",
    ]
    result.targets += tflite_targets(m["keras_seconds"], m["modes"])
    return result
