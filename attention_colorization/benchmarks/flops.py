"""FLOP counting on TensorFlow graphs: conv/matmul/einsum count and the profiler's."""

from __future__ import annotations

import numpy as np


def _static_shape(tensor) -> list[int] | None:
    shape = tensor.shape
    if shape.rank is None or any(d is None for d in shape.as_list()):
        return None
    return shape.as_list()


def conv_matmul_flops(graph) -> tuple[int, list[str]]:
    """FLOPs of the convolutions and matrix products of a graph, 2 per multiply-add.

    Counts ``Conv2D``, ``Conv2DBackpropInput`` (transposed convolutions),
    ``DepthwiseConv2dNative``, ``MatMul``, ``BatchMatMul{,V2,V3}`` and
    two-operand ``Einsum``; elementwise ops, reductions, softmax, resizes and
    pooling are not counted. Ops inside loop bodies are not seen: count a
    graph without loops (the SCM's ``loop=False``).
    Dilated convolutions appear as ``SpaceToBatchND`` + ``Conv2D``; the count
    then includes the zero padding of the space-to-batch blocks.

    Args:
        graph: a ``tf.Graph`` (e.g. ``concrete_function.graph``), static shapes.

    Returns:
        (FLOPs, names of the counted-type ops whose shapes were not static).
    """
    total, unknown = 0, []
    for op in graph.get_operations():
        kind = op.type
        if kind not in (
            "Conv2D",
            "Conv2DBackpropInput",
            "DepthwiseConv2dNative",
            "MatMul",
            "BatchMatMul",
            "BatchMatMulV2",
            "BatchMatMulV3",
            "Einsum",
        ):
            continue
        if kind == "Conv2DBackpropInput":
            filt, grad = _static_shape(op.inputs[1]), _static_shape(op.inputs[2])
            if filt is None or grad is None:
                unknown.append(op.name)
                continue
            # Each output-gradient element meets kh * kw * c_in weights.
            total += 2 * int(np.prod(grad)) * filt[0] * filt[1] * filt[2]
            continue
        out = _static_shape(op.outputs[0])
        if kind in ("Conv2D", "DepthwiseConv2dNative"):
            filt = _static_shape(op.inputs[1])
            if out is None or filt is None:
                unknown.append(op.name)
                continue
            per_output = filt[0] * filt[1] * (filt[2] if kind == "Conv2D" else 1)
            total += 2 * int(np.prod(out)) * per_output
            continue
        if kind == "Einsum":
            flops = _einsum_flops(op)
            if flops is None:
                unknown.append(op.name)
            else:
                total += flops
            continue
        a = _static_shape(op.inputs[0])
        if out is None or a is None:
            unknown.append(op.name)
            continue
        if kind == "MatMul":
            inner = a[0] if op.get_attr("transpose_a") else a[1]
        else:
            inner = a[-2] if op.get_attr("adj_x") else a[-1]
        total += 2 * int(np.prod(out)) * inner
    return total, unknown


def _einsum_flops(op) -> int | None:
    """FLOPs of a two-operand ``Einsum`` op: 2 x the product of every index's size.

    Returns None for shapes that are not static, an ellipsis or one operand.
    """
    equation = op.get_attr("equation").decode()
    shapes = [_static_shape(x) for x in op.inputs]
    inputs = equation.replace(" ", "").split("->")[0].split(",")
    if len(inputs) != 2 or "." in equation or any(s is None for s in shapes):
        return None
    sizes = {}
    for letters, shape in zip(inputs, shapes, strict=True):
        sizes.update(zip(letters, shape, strict=True))
    return 2 * int(np.prod(list(sizes.values())))


def profiler_flops(graph) -> int | None:
    """TensorFlow profiler's ``float_operation`` total for a graph, or None if it fails.

    This registry counts convolutions and matmuls (2 per multiply-add) and
    most elementwise ops and reductions (1 per output element).
    """
    import tensorflow as tf

    try:
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(graph=graph, options=options)
        return int(profile.total_float_ops)
    except Exception:  # noqa: BLE001 (the profiler is a best-effort cross-check)
        return None


def count_flops(concrete) -> dict:
    """``{"profiler": int|None, "conv_matmul": int, "flops": int, "uncounted": [...]}``.

    ``flops`` is the profiler's number when it works, else the conv/matmul count.
    """
    conv_matmul, unknown = conv_matmul_flops(concrete.graph)
    profiled = profiler_flops(concrete.graph)
    if profiled:
        # The profiler's registry has no Einsum: add those products.
        profiled += sum(
            _einsum_flops(op) or 0
            for op in concrete.graph.get_operations()
            if op.type == "Einsum"
        )
    return {
        "profiler": profiled,
        "conv_matmul": conv_matmul,
        "flops": profiled if profiled else conv_matmul,
        "uncounted": unknown,
    }
