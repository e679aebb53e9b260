"""Inference precision: float32 or bfloat16, and which this machine computes natively.

``Colorizer.load(precision=...)`` and ``attention-colorize --precision`` take
``"auto"`` (the default), ``"float32"`` or ``"bfloat16"``. ``auto`` picks
bfloat16 where the hardware computes it natively: a GPU of compute capability
8.0 or more (Ampere on) when TensorFlow sees a GPU, else an x86 CPU with
``avx512_bf16`` or ``amx_bf16`` among its ``/proc/cpuinfo`` flags; float32
elsewhere. Where bfloat16 is emulated it is slower than float32 (the
bundled model's network at 256 px: 1.5-2x the wall time on an AMD EPYC
without those flags), so ``auto`` never picks it there. The choice is logged once per
process (absl, INFO).

bfloat16 means the generator is built under Keras's ``mixed_bfloat16`` policy:
its variables stay float32 (cast per call, no second copy is kept), its
convolutions and matmuls run in bfloat16, and what must stay precise stays
float32 (:func:`keep_float32`): the generator's own arithmetic (its input L,
the fusion of the colour sources, the residual decoder's base), the features
the SCM matches on (the pretrained matching backbone, or F when F makes the
queries), the attention softmax and the outputs; and all colour work around
the network (Lab conversions, gamut fitting) in the colorizer. The SCM's
softmax is sharp (temperature 0.01): matching features rounded to bfloat16
flip best matches. Measured on 10 photos with the bundled model
(``tests/test_precision.py``: |delta ab| between bfloat16 and float32
outputs, Lab units): all of it in bfloat16, mean 0.76 and max 32; only the
matcher kept float32, max 23 (the generator still hands it L and the
reference ab rounded to its compute dtype); only the generator's arithmetic,
max 31; both, mean 0.03 and max 0.74.
"""

from __future__ import annotations

import contextlib
import pathlib

from absl import logging

PRECISIONS = ("auto", "float32", "bfloat16")
POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}
CPUINFO = "/proc/cpuinfo"
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
BF16_GPU_CAPABILITY = (8, 0)  # Ampere and later compute bfloat16 natively.

_logged = False  # "auto" is logged once per process.


def cpu_flags(path: str | pathlib.Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of ``/proc/cpuinfo`` (its first ``flags`` line);
    empty where there is no such file (not Linux) or no such line."""
    try:
        text = pathlib.Path(path).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capabilities of the GPUs TensorFlow sees (``[]`` without GPUs)."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        capabilities.append(tuple(capability) if capability else (0, 0))
    return capabilities


def native_bfloat16() -> tuple[bool, str]:
    """Whether inference would run bfloat16 natively here, and why (one line).

    With a GPU, TensorFlow computes there: its compute capability decides.
    Without one, the CPU flags do (:data:`BF16_CPU_FLAGS`).
    """
    gpus = gpu_capabilities()
    if gpus:
        if all(c >= BF16_GPU_CAPABILITY for c in gpus):
            return True, f"GPU compute capability {min(gpus)} computes bfloat16"
        return False, f"GPU compute capability {min(gpus)} emulates bfloat16"
    flags = sorted(cpu_flags() & set(BF16_CPU_FLAGS))
    if flags:
        return True, f"CPU flags {', '.join(flags)}"
    return False, f"no GPU and none of the CPU flags {', '.join(BF16_CPU_FLAGS)}"


def resolve_precision(precision: str = "auto") -> str:
    """``"auto"``, ``"float32"`` or ``"bfloat16"`` -> ``"float32"`` or ``"bfloat16"``.

    Raises:
        ValueError: an unknown precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(
            f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}"
        )
    if precision != "auto":
        return precision
    native, why = native_bfloat16()
    chosen = "bfloat16" if native else "float32"
    global _logged
    if not _logged:
        _logged = True
        logging.info("precision auto: %s (%s)", chosen, why)
    return chosen


def keep_float32(generator) -> None:
    """Sets the parts of a generator built under ``mixed_bfloat16`` that must
    stay float32 (see the module docstring) to the float32 policy: the
    generator itself and its matching features (``generator.matcher``, or F
    with ``matching="encoder"``), every sublayer of those included. The
    variables are float32 already; only what is computed in changes."""
    part = generator.matcher or generator.feature_extractor
    for layer in part._flatten_layers(include_self=True, recursive=True):
        layer.dtype_policy = "float32"
    generator.dtype_policy = "float32"


@contextlib.contextmanager
def dtype_policy(precision: str):
    """Sets Keras's global dtype policy for ``precision`` (``"float32"`` or
    ``"bfloat16"``: ``mixed_bfloat16``) inside the block, restoring the previous
    policy after it: layers built inside keep their policy."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(POLICIES[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def load_generator(path=None, precision: str = "auto", inference_size=None):
    """Builds a model's generator at ``precision`` and loads its weights.

    Args:
        path: the model (``workdir.load_generator``: None for the bundled one).
        precision: ``"auto"``, ``"float32"`` or ``"bfloat16"``.
        inference_size: the resolution the network runs at (None: the model's).

    Returns:
        ``(generator, config, chosen)``: built under the dtype policy of
        ``chosen`` (``"float32"`` or ``"bfloat16"``, what ``precision``
        resolved to), with :func:`keep_float32` applied under bfloat16.
    """
    from attention_colorization import workdir

    chosen = resolve_precision(precision)
    with dtype_policy(chosen):
        # None, a workdir or a *.weights.h5: weights_path.resolve_weights.
        generator, config = workdir.load_generator(path, inference_size)
    if chosen == "bfloat16":
        keep_float32(generator)
    return generator, config, chosen
