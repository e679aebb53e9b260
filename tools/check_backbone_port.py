r"""Checks the Keras EfficientNet-Lite port against the PyTorch reference.

PyTorch is not a project dependency, so the reference runs in a separate
virtual environment; this script drives both sides. Set up the torch side
once (outside the repository; PyPI's Linux torch wheel pulls its CUDA
libraries, a few GB, and runs fine on CPU):

    python -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install torch efficientnet-lite-pytorch numpy absl-py

then, from the repository root, in the project's environment:

    python tools/check_backbone_port.py --torch_python=/tmp/torchenv/bin/python

Steps: (1, project venv) write the inputs, run ``efficientnet_lite{0,2}(
weights="imagenet", include_top=True)`` and save its logits; (2, torch venv,
``--stage=torch``) run ``efficientnet_lite_pytorch.EfficientNet`` with the same
``.pth`` on the same inputs, save its logits and re-save the state dict in
torch's zip format; (3, project venv) compare logits (largest absolute
difference, top-5 agreement), check ``load_state_dict`` on the zip file torch
wrote, and time the backbone (``include_top=False``) at 128 and 256 px.

Inputs, per variant: scikit-image's chelsea and coffee photos in colour and
in gray (luminance repeated to 3 channels) at the native resolution (224 /
260, where the reference's static "same" padding is the one it was built
for), a uniform random image at the native resolution, and a random image of
odd size 199x171 (the reference then built with ``image_size=None``, i.e. its
dynamic "same" padding). The reference gets ``x / 127.5 - 1`` in NCHW.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

_STAGE = flags.DEFINE_enum(
    "stage", "keras", ["keras", "torch"], "Internal: which side this process runs."
)
_TORCH_PYTHON = flags.DEFINE_string(
    "torch_python",
    "/tmp/torchenv/bin/python",
    "Python of a venv with torch and efficientnet-lite-pytorch.",
)
_WORKDIR = flags.DEFINE_string(
    "workdir", "/tmp/backbone_port_check", "Folder for the exchanged .npy files."
)
_VARIANTS = flags.DEFINE_list("variants", ["lite0", "lite2"], "Variants to check.")
_TIMING = flags.DEFINE_bool("timing", True, "Also time the backbone forward pass.")

_NATIVE = {"lite0": 224, "lite2": 260}
_ODD = (199, 171)


def _inputs(variant: str) -> dict[str, np.ndarray]:
    """Named float32 RGB batches [1, H, W, 3] in [0, 255]."""
    import skimage.data
    import tensorflow as tf

    size = _NATIVE[variant]
    out = {}
    for name in ("chelsea", "coffee"):
        img = getattr(skimage.data, name)().astype(np.float32)
        luma = img @ np.array([0.299, 0.587, 0.114], np.float32)
        for kind, pic in (("colour", img), ("gray", np.repeat(luma[..., None], 3, -1))):
            resized = tf.image.resize(pic[None], (size, size), antialias=True)
            out[f"{name}_{kind}"] = np.clip(resized.numpy(), 0, 255)
    rng = np.random.default_rng(0)
    out["random"] = rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    out["random_odd"] = rng.uniform(0, 255, (1, *_ODD, 3)).astype(np.float32)
    return out


def _torch_stage() -> None:
    """Runs in the torch venv: reference logits for every saved input."""
    import torch
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_grad_enabled(False)
    for variant in _VARIANTS.value:
        folder = os.path.join(_WORKDIR.value, variant)
        with open(os.path.join(folder, "meta.json")) as f:
            meta = json.load(f)
        state = torch.load(meta["pth"], map_location="cpu", weights_only=True)
        models = {}
        for dynamic in (False, True):
            params = {"image_size": None} if dynamic else {}
            model = EfficientNet.from_name(f"efficientnet-{variant}", **params)
            model.load_state_dict(state)
            models[dynamic] = model.eval()
        for name in meta["inputs"]:
            x = np.load(os.path.join(folder, f"input_{name}.npy"))
            x = torch.from_numpy(x / 127.5 - 1.0).float().permute(0, 3, 1, 2)
            logits = models[name.endswith("_odd")](x).numpy()
            np.save(os.path.join(folder, f"torch_{name}.npy"), logits)
        torch.save(state, os.path.join(folder, "resaved_zip.pth"))


def _median_ms(fn, x, repeats=10) -> float:
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        np.asarray(fn(x)["stride32"])
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def _keras_stage(argv) -> None:
    import tensorflow as tf

    from attention_colorization import backbones
    from attention_colorization.backbones import efficientnet_lite as lite

    builders = {
        "lite0": backbones.efficientnet_lite0,
        "lite2": backbones.efficientnet_lite2,
    }
    variants = {"lite0": lite._LITE0, "lite2": lite._LITE2}
    keras_logits = {}
    for variant in _VARIANTS.value:
        folder = os.path.join(_WORKDIR.value, variant)
        os.makedirs(folder, exist_ok=True)
        inputs = _inputs(variant)
        pth = lite._imagenet_weights_path(variants[variant])
        with open(os.path.join(folder, "meta.json"), "w") as f:
            json.dump({"pth": pth, "inputs": sorted(inputs)}, f)
        model = builders[variant](weights="imagenet", include_top=True)
        keras_logits[variant] = {}
        for name, x in inputs.items():
            np.save(os.path.join(folder, f"input_{name}.npy"), x)
            keras_logits[variant][name] = np.asarray(model(x, training=False))

    cmd = [_TORCH_PYTHON.value, os.path.abspath(__file__), "--stage=torch"]
    cmd += [f"--workdir={_WORKDIR.value}", f"--variants={','.join(_VARIANTS.value)}"]
    subprocess.run(cmd, check=True)

    command = "python " + " ".join(shlex.quote(a) for a in argv)
    lines = [f"Command: `{command}` (torch side: `{_TORCH_PYTHON.value}`)", ""]
    lines += ["| variant | input | max abs logit diff | top-1 K/T | top-5 agree |"]
    lines += ["|---|---|---|---|---|"]
    notes = []
    for variant in _VARIANTS.value:
        folder = os.path.join(_WORKDIR.value, variant)
        worst = 0.0
        for name, k in keras_logits[variant].items():
            t = np.load(os.path.join(folder, f"torch_{name}.npy"))
            diff = float(np.abs(k - t).max())
            worst = max(worst, diff)
            k5, t5 = np.argsort(-k[0])[:5], np.argsort(-t[0])[:5]
            agree = "yes" if list(k5) == list(t5) else f"{k5} vs {t5}"
            lines.append(
                f"| {variant} | {name} | {diff:.2e} | {k5[0]}/{t5[0]} | {agree} |"
            )
        lines.append(f"| {variant} | **all** | **{worst:.2e}** | | |")
        legacy = backbones.load_state_dict(
            lite._imagenet_weights_path(variants[variant])
        )
        resaved = backbones.load_state_dict(os.path.join(folder, "resaved_zip.pth"))
        same = sorted(legacy) == sorted(resaved) and all(
            np.array_equal(legacy[k], resaved[k]) for k in legacy
        )
        notes.append(
            f"{variant}: the zip file torch re-saved reads identically: {same}"
        )

    lines += [""] + notes
    if _TIMING.value:
        lines += [
            "",
            "Backbone (include_top=False) forward time, batch 1, median of 10 "
            f"after warm-up, {os.cpu_count()} CPU cores, TF {tf.__version__}:",
            "",
            "| variant | size | eager call (ms) | tf.function (ms) |",
            "|---|---|---|---|",
        ]
        for variant in _VARIANTS.value:
            model = builders[variant](weights="imagenet")
            graph = tf.function(lambda x, m=model: m(x, training=False))
            for size in (128, 256):
                x = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3))
                x = x.astype(np.float32)
                eager = _median_ms(lambda v, m=model: m(v, training=False), x)
                compiled = _median_ms(graph, tf.constant(x))
                lines.append(f"| {variant} | {size} | {eager:.1f} | {compiled:.1f} |")
    print("\n".join(lines))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if _STAGE.value == "torch":
        _torch_stage()
    else:
        _keras_stage(sys.argv)


if __name__ == "__main__":
    app.run(main)
