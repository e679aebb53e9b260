"""Inference precision: what ``auto`` picks, the policy at load, and bfloat16's
colours against float32's on real photos with the bundled model."""

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image
from skimage import data

from attention_colorization import Colorizer, color, precision
from attention_colorization.weights_path import bundled_dir


def test_cpu_flags_parse_proc_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(
        "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse2 avx2 fma\n\n"
        "processor\t: 1\nflags\t\t: other\n"
    )
    assert precision.cpu_flags(cpuinfo) == {"fpu", "sse2", "avx2", "fma"}
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()
    (tmp_path / "arm").write_text("processor\t: 0\nFeatures\t: fp asimd bf16\n")
    assert precision.cpu_flags(tmp_path / "arm") == frozenset()


def test_auto_precision_follows_the_hardware(tmp_path, monkeypatch):
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [])
    calls = []
    monkeypatch.setattr(precision.logging, "info", lambda *a: calls.append(a))
    monkeypatch.setattr(precision, "_logged", False)
    flags = {"flags": frozenset({"fpu", "sse2", "avx2", "fma", "avx512f"})}
    monkeypatch.setattr(precision, "cpu_flags", lambda: flags["flags"])
    assert precision.resolve_precision("auto") == "float32"  # no bf16 flag
    assert len(calls) == 1 and "float32" in calls[0][1:]  # the choice, logged
    flags["flags"] = frozenset({"amx_bf16"})
    assert precision.resolve_precision("auto") == "bfloat16"
    flags["flags"] = frozenset({"avx512_bf16"})
    assert precision.resolve_precision() == "bfloat16"
    assert len(calls) == 1  # logged once per process
    assert precision.resolve_precision("float32") == "float32"
    assert precision.resolve_precision("bfloat16") == "bfloat16"
    # With a GPU, its compute capability decides, not the CPU.
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [(7, 5)])
    assert precision.resolve_precision("auto") == "float32"
    flags["flags"] = frozenset()
    monkeypatch.setattr(precision, "gpu_capabilities", lambda: [(9, 0)])
    assert precision.resolve_precision("auto") == "bfloat16"
    with pytest.raises(ValueError, match="precision"):
        precision.resolve_precision("float16")


def test_load_keeps_matching_and_own_arithmetic_float32(tiny_workdir):
    import keras

    before = keras.config.dtype_policy().name
    model = Colorizer.load(tiny_workdir, precision="bfloat16")
    assert keras.config.dtype_policy().name == before  # restored after the load
    assert model.precision == "bfloat16"
    assert model.generator.decoder.compute_dtype == "bfloat16"
    # The test model matches on F: F stays float32 (precision.keep_float32).
    assert model.generator.feature_extractor.compute_dtype == "float32"
    assert model.generator.compute_dtype == "float32"  # its own arithmetic
    assert all(v.dtype == "float32" for v in model.generator.weights)
    gray = synthetic_photo(40, 36, 1).mean(-1).astype(np.uint8)
    out = model.colorize(gray, reference=synthetic_photo(32, 32, 2))
    assert out.shape == (40, 36, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="precision"):
        Colorizer.load(tiny_workdir, precision="float16")


def _photos(side: int = 256) -> list:
    """10 real photos, long side ``side`` px: scikit-image's (shipped with it,
    no download) and the bundled example reference."""
    photos = [
        data.astronaut(),
        data.coffee(),
        data.chelsea(),
        data.rocket(),
        data.immunohistochemistry(),
        data.retina(),
        data.hubble_deep_field(),
        *data.stereo_motorcycle()[:2],
        np.asarray(Image.open(bundled_dir() / "example_reference.png")),
    ]
    out = []
    for photo in photos:
        image = Image.fromarray(np.asarray(photo)[..., :3])
        scale = side / max(image.size)
        size = (round(image.width * scale), round(image.height * scale))
        out.append(np.asarray(image.resize(size, Image.BOX)))
    return out


def test_bfloat16_colours_match_float32_on_photos():
    """The bundled model: |delta ab| between bfloat16 and float32 outputs, in
    Lab units from the project's own conversion: mean < 1 and max < 6 over 10
    photos (measured: mean 0.03, max 0.74; 0.76 and 32 without
    ``precision.keep_float32``)."""
    float32 = Colorizer.load(precision="float32")
    bfloat16 = Colorizer.load(precision="bfloat16")
    assert bfloat16.generator.matcher.compute_dtype == "float32"
    photos = _photos()
    means, maxima = [], []
    for i, photo in enumerate(photos):
        gray = np.round(photo.astype(np.float32) @ [0.299, 0.587, 0.114])
        gray = gray.astype(np.uint8)
        reference = photos[(i + 1) % len(photos)]
        ab = [
            color.rgb_to_lab(m.colorize_float(gray, reference=reference)[0]).numpy()
            for m in (float32, bfloat16)
        ]
        delta = np.linalg.norm(ab[0][..., 1:] - ab[1][..., 1:], axis=-1)
        means.append(float(delta.mean()))
        maxima.append(float(delta.max()))
    assert np.mean(means) < 1.0, means
    assert max(maxima) < 6.0, maxima
