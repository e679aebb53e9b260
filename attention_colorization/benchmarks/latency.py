"""Section 1: forward latency by stage and achieved GFLOP/s.

Each sublayer call (F, SCM, DCM, fusion, decoder) is a separate
``tf.function`` on the real intermediate inputs; the achieved GFLOP/s is
compared with this machine's float32 matmul throughput. FLOPs: TensorFlow's
profiler (``float_operation``) on the concrete function's graph, with the
conv/matmul-only count (:func:`~attention_colorization.benchmarks.flops.conv_matmul_flops`)
beside it.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

from attention_colorization.benchmarks.flops import count_flops
from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    fmt,
    markdown_table,
)
from attention_colorization.benchmarks.settings import Settings, resolve_weights
from attention_colorization.benchmarks.synthetic import synthetic_photo
from attention_colorization.benchmarks.timing import matmul_gflops, median_seconds

TARGET_FLOP_SHARE = 0.40  # paper model GFLOP/s >= 40 % of the machine's matmul GFLOP/s


def latency_targets(
    forward_flops: float, forward_seconds: float, matmul_gflops: float
) -> list[Target]:
    """Paper model: achieved GFLOP/s >= 40 % of the machine's matmul GFLOP/s."""
    share = forward_flops / forward_seconds / 1e9 / matmul_gflops
    return [
        Target(
            "paper model forward GFLOP/s as a share of matmul GFLOP/s",
            100 * share,
            ">=",
            100 * TARGET_FLOP_SHARE,
            " %",
        )
    ]


def synthetic_inputs(config, seed: int = 0) -> dict:
    """Model inputs of batch 1: a smooth gray L, one smooth reference and its histogram."""
    import tensorflow as tf

    from attention_colorization import color

    s = int(config.data.image_size)
    gray = synthetic_photo(s, s, seed)
    ref = synthetic_photo(s, s, seed + 1)
    lightness = color.rgb_to_lightness(tf.constant(gray, tf.float32) / 255.0)
    ref_lab = color.rgb_to_lab(tf.constant(ref, tf.float32) / 255.0)
    ref_hist = color.reference_histogram(ref_lab[..., 1:], floor=config.data.hist_floor)
    return {"l": lightness[None], "ref_lab": ref_lab[None], "ref_hist": ref_hist[None]}


def stage_functions(generator, inputs: dict) -> list[tuple[str, Callable, tuple]]:
    """The generator's forward split into its sublayer calls, each a tf.function.

    Runs each stage once to get the real inputs of the next one (one
    reference, stage 2, inference mode), exactly as ``Generator.call`` does.

    Returns:
        ``[(stage name, tf.function, args, counted)]`` for F (gray and
        reference, one batched call), SCM, DCM, fusion, decoder, then
        ``forward`` (the whole ``generator(...)`` call). ``counted`` is the
        function whose graph the FLOPs are counted on: the same computation
        with the SCM's chunks unrolled, since counters do not look into loops.
    """
    import tensorflow as tf
    from keras import ops

    from attention_colorization import color

    g = generator
    l_net = ops.cast(color.l_to_net(tf.cast(inputs["l"], tf.float32)), g.compute_dtype)
    ref_lab = tf.cast(inputs["ref_lab"], tf.float32)
    ref_hist = tf.cast(inputs["ref_hist"], tf.float32)

    encode = tf.function(lambda x, r: g._encode_with_references(x, r, False))
    features, ref_features, ref_l, ref_ab = encode(l_net, ref_lab)
    queries = [features[n] for n in g.query_layers] + [l_net]
    keys = [ref_features[n][:, 0] for n in g.query_layers] + [ref_l[:, 0]]
    scm = tf.function(lambda q, k, v: g.semantic_color(q, k, v))
    scm_unrolled = tf.function(lambda q, k, v: g.semantic_color(q, k, v, loop=False))
    c_r, w_r, _ = scm(queries, keys, ref_ab[:, 0])
    prior = g._prior(ref_hist, ref_ab)
    dcm = tf.function(lambda f, p: g.database_color(f, p))
    c_d, w_d = dcm(features["conv8"], prior)
    gate = tf.function(lambda c, w: g.gate(c, w))
    fused, _ = gate([c_r, c_d], [w_r, w_d])
    decoder = tf.function(lambda c, f: g.decoder(c, f, training=False))
    forward = tf.function(lambda x: g(x, training=False, stage=2))
    forward_unrolled = tf.function(
        lambda x: g(x, training=False, stage=2, attention_loop=False)
    )
    model_inputs = {"l": inputs["l"], "ref_lab": ref_lab, "ref_hist": ref_hist}
    return [
        ("F (gray + reference)", encode, (l_net, ref_lab), encode),
        ("SCM", scm, (queries, keys, ref_ab[:, 0]), scm_unrolled),
        ("DCM", dcm, (features["conv8"], prior), dcm),
        ("fusion", gate, ([c_r, c_d], [w_r, w_d]), gate),
        ("decoder", decoder, (fused, features), decoder),
        ("forward", forward, (model_inputs,), forward_unrolled),
    ]


def stage_latency(generator, config, repeats: int = 10, warmup: int = 2) -> dict:
    """Median latency and FLOPs of each stage of one forward (batch 1, one reference).

    Returns:
        ``{"image_size", "stages": [{"stage", "seconds", "flops",
        "conv_matmul_flops", "profiler_flops"}], "forward": {...}, "sum_seconds"}``.
    """
    inputs = synthetic_inputs(config)
    rows = []
    for name, fn, args, counted in stage_functions(generator, inputs):
        flops = count_flops(counted.get_concrete_function(*args))
        seconds, _ = median_seconds(fn, *args, repeats=repeats, warmup=warmup)
        rows.append(
            {
                "stage": name,
                "seconds": seconds,
                "flops": flops["flops"],
                "conv_matmul_flops": flops["conv_matmul"],
                "profiler_flops": flops["profiler"],
                "uncounted": flops["uncounted"],
            }
        )
    stages, forward = rows[:-1], rows[-1]
    return {
        "image_size": int(config.data.image_size),
        "width": float(config.model.width),
        "stages": stages,
        "forward": forward,
        "sum_seconds": sum(r["seconds"] for r in stages),
    }


def _latency_table(result: dict, peak_gflops: float) -> list[str]:
    rows = []
    total = result["sum_seconds"]
    for r in result["stages"] + [result["forward"]]:
        gflops = r["flops"] / r["seconds"] / 1e9
        rows.append(
            [
                r["stage"],
                1000 * r["seconds"],
                (
                    f"{100 * r['seconds'] / total:.0f} %"
                    if r in result["stages"]
                    else f"sum of stages {1000 * total:.1f} ms"
                ),
                r["flops"] / 1e9,
                r["conv_matmul_flops"] / 1e9,
                gflops,
                f"{100 * gflops / peak_gflops:.1f} %",
            ]
        )
    return markdown_table(
        [
            "stage",
            "median ms",
            "share",
            "GFLOP (profiler)",
            "GFLOP (conv+matmul)",
            "GFLOP/s",
            "of matmul peak",
        ],
        rows,
    )


def latency_section(settings: Settings) -> SectionResult:
    """Stage latencies and GFLOP/s of the paper-size model and the demo model."""
    import keras

    from attention_colorization import workdir as workdir_lib
    from attention_colorization.model import build_generator

    result = SectionResult("latency", "1. Forward latency by stage")
    peak = matmul_gflops(settings.matmul_size, settings.repeats, settings.warmup)
    result.data["matmul"] = peak
    keras.mixed_precision.set_global_policy("float32")
    keras.utils.set_random_seed(0)
    models = [
        (
            "paper config (random weights)",
            build_generator(settings.paper_config),
            settings.paper_config,
        )
    ]
    weights = resolve_weights(settings.weights)
    generator, config = workdir_lib.load_generator(weights)
    models.append((f"demo model ({weights})", generator, config))

    result.lines += [
        f"float32 matmul throughput of this machine: {fmt(peak['gflops'])} GFLOP/s "
        f"(median of {settings.repeats} tf.function calls of "
        f"{peak['size']}×{peak['size']} @ {peak['size']}×{peak['size']}, "
        f"{fmt(1000 * peak['seconds'])} ms each).",
        "",
    ]
    for label, model, config in models:
        measured = stage_latency(model, config, settings.repeats, settings.warmup)
        result.data.setdefault("models", []).append({"model": label, **measured})
        forward = measured["forward"]
        result.lines += [
            f"### {label}: {measured['image_size']} px, width {measured['width']}",
            "",
            f"Batch 1, one reference, inference, float32 policy; median of "
            f"{settings.repeats} calls after {settings.warmup} warm-up call(s), each "
            "stage a separate tf.function on the real intermediate inputs.",
            "",
        ]
        result.lines += _latency_table(measured, peak["gflops"])
        result.lines.append("")
        if label.startswith("paper"):
            result.targets += latency_targets(
                forward["flops"], forward["seconds"], peak["gflops"]
            )
        del model
        gc.collect()
    result.lines += [
        "FLOPs: `tf.compat.v1.profiler` `float_operation` on each concrete "
        "function's graph (convolutions and matmuls at 2 per multiply-add, plus "
        "elementwise ops and reductions at 1 per element; ops it has no entry for, "
        "e.g. resizes and top-k, count 0). The conv+matmul column counts only "
        "`Conv2D`, `Conv2DBackpropInput` and `(Batch)MatMul` at 2 per multiply-add; "
        "dilated convolutions are counted on their space-to-batch shapes (zero "
        "padding included). The SCM's attention products are in both counts.",
    ]
    return result
