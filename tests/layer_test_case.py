"""The shared layer contract test (after keras-hub's ``TestCase.run_layer_test``).

    from tests.layer_test_case import run_layer_test

    run_layer_test(GateFusion, {}, ([c1, c2], [w1, w2]), tmp_path=tmp_path)

checks, for one layer class and one input:

1. config round trip: ``from_config(get_config())`` and
   ``keras.saving.serialize_keras_object``/``deserialize_keras_object`` give
   equal configs;
2. an eager call and a symbolic call on ``keras.Input`` (batch ``None``) give
   the same output structure and shapes (and dtypes);
3. the weights count is stable: a second call creates no weights, and a layer
   built symbolically has as many weights as one built eagerly;
4. every precision policy (float32, mixed_float16, mixed_bfloat16) gives float
   outputs of its compute dtype (or float32 where the layer says so) with
   finite values;
5. a ``.weights.h5`` save/load round trip into a fresh layer gives equal outputs.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
from keras import ops

POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


class _Holder(keras.Model):
    """A model holding one layer, to reach ``save_weights``/``load_weights``."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        self.inner = layer

    def call(self, *args, **kwargs):
        return self.inner(*args, **kwargs)


def _as_args(input_data):
    """Positional call arguments: a tuple is unpacked, anything else is one arg."""
    return tuple(input_data) if isinstance(input_data, tuple) else (input_data,)


def _symbolic(x):
    """``keras.Input`` (batch None) for every array leaf of ``x``."""

    def to_input(leaf):
        leaf = np.asarray(leaf)
        return keras.Input(shape=leaf.shape[1:], dtype=str(leaf.dtype))

    return keras.tree.map_structure(to_input, x)


def _leaves(outputs):
    return keras.tree.flatten(outputs)


def _is_float(x):
    return "float" in keras.backend.standardize_dtype(x.dtype)


def _call(layer, input_data, call_kwargs):
    return layer(*_as_args(input_data), **call_kwargs)


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    tmp_path,
    call_kwargs=None,
    expected_output_shape=None,
    expected_num_trainable_weights=None,
    expected_num_non_trainable_weights=None,
    run_precision_checks=True,
    float32_outputs=(),
    atol=1e-5,
    rtol=1e-5,
):
    """Runs the layer contract; raises AssertionError on the first violation.

    Args:
        layer_cls: the layer class.
        init_kwargs: constructor arguments.
        input_data: one array, a list/dict of arrays (one argument), or a tuple
            of positional arguments.
        tmp_path: a folder for the weights file.
        call_kwargs: extra keyword arguments of every call (e.g. ``training``).
        expected_output_shape: optional nested structure of eager output shapes.
        expected_num_trainable_weights: optional count.
        expected_num_non_trainable_weights: optional count.
        run_precision_checks: run step 4.
        float32_outputs: indices of the output leaves that stay float32 under
            every policy (e.g. the gate's alpha); the others follow the compute
            dtype.
        atol, rtol: tolerances of the save/load comparison.

    Returns:
        The eager outputs of the float32 layer.
    """
    call_kwargs = dict(call_kwargs or {})

    # 1. Config round trip.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    signature = inspect.signature(layer_cls.__init__).parameters
    for name, value in init_kwargs.items():
        if name in signature and name in config:
            assert config[name] == value, f"get_config()[{name!r}] != {value!r}"
    clone = layer_cls.from_config(config)
    assert clone.get_config() == config, "from_config(get_config()) changed the config"
    serialized = keras.saving.serialize_keras_object(layer)
    revived = keras.saving.deserialize_keras_object(serialized)
    assert type(revived) is layer_cls
    assert revived.get_config() == config, "serialize/deserialize changed the config"

    # 2. Eager call; 3. weights count stable over calls.
    outputs = _call(layer, input_data, call_kwargs)
    num_weights = len(layer.weights)
    _call(layer, input_data, call_kwargs)
    assert len(layer.weights) == num_weights, "a second call created weights"
    if expected_num_trainable_weights is not None:
        assert len(layer.trainable_weights) == expected_num_trainable_weights
    if expected_num_non_trainable_weights is not None:
        assert len(layer.non_trainable_weights) == expected_num_non_trainable_weights
    if expected_output_shape is not None:
        shapes = keras.tree.map_structure(lambda x: tuple(x.shape), outputs)
        assert keras.tree.flatten(shapes) == keras.tree.flatten(
            expected_output_shape
        ), f"eager output shapes {shapes} != {expected_output_shape}"

    # 2. Symbolic call on a fresh layer (built from batch-None shapes).
    symbolic_layer = layer_cls(**init_kwargs)
    symbolic_inputs = _symbolic(input_data)
    symbolic_outputs = _call(symbolic_layer, symbolic_inputs, call_kwargs)
    keras.tree.assert_same_structure(outputs, symbolic_outputs)
    for eager, symbolic in zip(
        _leaves(outputs), _leaves(symbolic_outputs), strict=True
    ):
        assert (
            tuple(symbolic.shape)[1:] == tuple(eager.shape)[1:]
        ), f"symbolic shape {symbolic.shape} != eager shape {eager.shape}"
        assert keras.backend.standardize_dtype(
            symbolic.dtype
        ) == keras.backend.standardize_dtype(eager.dtype)
    assert (
        len(symbolic_layer.weights) == num_weights
    ), "a symbolic build created a different number of weights"

    # 4. Precision policies.
    if run_precision_checks:
        for policy in POLICIES:
            policy_layer = layer_cls(**init_kwargs, dtype=policy)
            policy_outputs = _call(policy_layer, input_data, call_kwargs)
            compute_dtype = keras.DTypePolicy(policy).compute_dtype
            for index, out in enumerate(_leaves(policy_outputs)):
                if not _is_float(out):
                    continue
                expected = "float32" if index in float32_outputs else compute_dtype
                assert (
                    keras.backend.standardize_dtype(out.dtype) == expected
                ), f"{policy}: output {index} dtype {out.dtype} != {expected}"
                values = ops.convert_to_numpy(ops.cast(out, "float32"))
                assert np.all(np.isfinite(values)), f"{policy}: non-finite output"
            for weight in policy_layer.weights:
                assert (
                    weight.dtype == "float32"
                ), f"{policy}: variable {weight.path} is {weight.dtype}, not float32"

    # 5. Save/load weights round trip into a fresh layer.
    path = str(tmp_path / f"{layer_cls.__name__}.weights.h5")
    holder = _Holder(layer)
    holder.built = True
    holder.save_weights(path)
    fresh = layer_cls(**init_kwargs)
    _call(fresh, input_data, call_kwargs)  # Builds the weights.
    fresh_holder = _Holder(fresh)
    fresh_holder.built = True
    fresh_holder.load_weights(path)
    reference = _call(layer, input_data, call_kwargs)
    reloaded = _call(fresh, input_data, call_kwargs)
    for a, b in zip(_leaves(reference), _leaves(reloaded), strict=True):
        np.testing.assert_allclose(
            ops.convert_to_numpy(a), ops.convert_to_numpy(b), atol=atol, rtol=rtol
        )
    return outputs
