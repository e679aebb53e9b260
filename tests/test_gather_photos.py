"""The corpus builder (attention_colorization/data/corpus/, tools/gather_photos.py).

Offline: a fake cache of unpacked Debian packages (synthetic wallpapers and
stamps) stands in for ``apt-get download`` + ``dpkg -x``.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from attention_colorization.data import corpus
from attention_colorization.data.corpus import (
    candidates,
    catalogue,
    composites,
    debs,
    items,
    licences,
    splits,
)

REPO = pathlib.Path(__file__).resolve().parents[1]
WALL = catalogue.WALLPAPER_PACKAGE
STAMPS = catalogue.STAMP_PACKAGE
OPTIONS = corpus.Options(
    max_side=320,
    composite_size=128,
    composites_per_object=2,
    val_fraction=0.15,
    min_val_photos=2,
    min_val_images=10,
    min_object_side=48,
    progress=False,
)
REQUIRED_COLUMNS = {
    "file",
    "source_package",
    "original_path",
    "licence",
    "kind",
    "split",
    "mask",
}

WALLPAPER_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: plasma-workspace-wallpapers

Files: *
Copyright: 2014 KDE Visual Design Group
License: GPL-2+

Files: wallpapers/Kite/*
Copyright: 2015 Risto Saukonpaa
License: CC-BY-SA-4.0

Files: debian/*
Copyright: 2014 Someone
License: GPL-2+

License: GPL-2+
 This package is free software.
"""

STAMP_COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/

Files: *
Copyright: 2002-2022 by Bill Kendrick
License: GPL-2
"""


def smooth_noise(seed: int, width: int, height: int) -> Image.Image:
    """A colourful smooth random RGB image (distinct perceptual hash per seed)."""
    rng = np.random.default_rng(seed)
    cells = rng.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    return Image.fromarray(cells).resize((width, height), Image.Resampling.BICUBIC)


def stamp(seed: int, width: int = 120, height: int = 100) -> Image.Image:
    """An RGBA object: a textured ellipse with a hard 0/255 alpha."""
    rgb = smooth_noise(seed, width, height)
    yy, xx = np.mgrid[0:height, 0:width]
    inside = ((xx - width / 2) / (width * 0.45)) ** 2 + (
        (yy - height / 2) / (height * 0.4)
    ) ** 2 < 1
    alpha = Image.fromarray(np.where(inside, 255, 0).astype(np.uint8))
    out = rgb.convert("RGBA")
    out.putalpha(alpha)
    return out


def make_cache(root: pathlib.Path) -> pathlib.Path:
    """A cache folder with both packages already unpacked (as fetch_deb leaves it)."""
    wall = root / WALL
    base = wall / catalogue.WALLPAPER_ROOT

    def wallpaper(name, size, image, fmt="JPEG"):
        folder = base / name / "contents" / "images"
        folder.mkdir(parents=True, exist_ok=True)
        ext = "jpg" if fmt == "JPEG" else "png"
        image.resize(size).save(folder / f"{size[0]}x{size[1]}.{ext}", fmt)
        return folder

    path_img = smooth_noise(1, 1280, 800)
    # The same wallpaper at two sizes: the largest is kept.
    wallpaper("Path", (1280, 800), path_img)
    wallpaper("Path", (640, 400), path_img)
    (base / "Path" / "metadata.json").write_text(
        '{"KPlugin": {"Authors": [{"Name": "A. Photographer"}], "License": "LGPLv3"}}'
    )
    # The same picture under another wallpaper, smaller: a near-duplicate.
    wallpaper("OneStandsOut", (512, 320), path_img)
    wallpaper("Kite", (1024, 640), smooth_noise(2, 1024, 640))
    wallpaper("EveningGlow", (1024, 640), smooth_noise(3, 1024, 640), "PNG")
    folder = wallpaper("DarkestHour", (1024, 640), smooth_noise(4, 1024, 640))
    os.symlink("1024x640.jpg", folder / "2048x1280.jpg")  # Another name, not a size.
    wallpaper("ColorfulCups", (900, 600), smooth_noise(5, 900, 600))
    wallpaper("BytheWater", (900, 600), smooth_noise(6, 900, 600))
    wallpaper("summer_1am", (900, 600), smooth_noise(7, 900, 600))
    gray = smooth_noise(8, 900, 600).convert("L").convert("RGB")
    wallpaper("Grey", (900, 600), gray)  # A photo, but monochrome.
    wallpaper("Altai", (1024, 640), smooth_noise(9, 1024, 640))  # Drawn: left out.
    wallpaper("NotReviewed", (1024, 640), smooth_noise(10, 1024, 640))
    corrupt = base / "FallenLeaf" / "contents" / "images"
    corrupt.mkdir(parents=True)
    (corrupt / "2560x1600.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    doc = wall / "usr/share/doc" / WALL
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(WALLPAPER_COPYRIGHT)

    stamps = root / STAMPS
    sbase = stamps / catalogue.STAMP_ROOT
    for folder, names in (
        ("animals/birds", [f"bird{i}" for i in range(10)]),
        ("food/fruit", [f"fruit{i}" for i in range(4)]),
        ("animals/cartoon", ["toon"]),
        ("symbols/alphabets", ["letter_a"]),
    ):
        (sbase / folder).mkdir(parents=True, exist_ok=True)
        for j, name in enumerate(names):
            stamp(100 + 17 * j + len(folder)).save(sbase / folder / f"{name}.png")
    # A mirrored copy: dropped as a near-duplicate.
    Image.open(sbase / "animals/birds/bird0.png").transpose(
        Image.Transpose.FLIP_LEFT_RIGHT
    ).save(sbase / "animals/birds/bird0_mirror.png")
    stamp(7, 40, 30).save(sbase / "animals/birds/tiny.png")
    (sbase / "animals/birds/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    (sbase / "animals/birds/notes.txt").write_text("not a stamp")
    sdoc = stamps / "usr/share/doc" / STAMPS
    sdoc.mkdir(parents=True)
    (sdoc / "copyright").write_text(STAMP_COPYRIGHT)
    return root


def build(output, cache, options=OPTIONS, **kwargs):
    kwargs.setdefault("photos", ())
    return corpus.build_corpus(output, cache, options, **kwargs)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return make_cache(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def built(cache, tmp_path_factory):
    output = tmp_path_factory.mktemp("corpus")
    summary = build(output, cache)
    rows = corpus.read_manifest(output / corpus.MANIFEST_NAME)
    return output, summary, rows


def test_manifest_columns_kinds_and_splits(built):
    output, summary, rows = built
    with open(output / "MANIFEST.csv", newline="") as f:
        header = next(csv.reader(f))
    assert REQUIRED_COLUMNS <= set(header)
    assert rows == summary.rows
    assert {r["kind"] for r in rows} == {"photo", "composite"}
    assert {r["split"] for r in rows} == {"train", "validation"}
    for r in rows:
        assert r["file"].startswith(r["split"] + "/")
        assert (output / r["file"]).is_file()
        with Image.open(output / r["file"]) as im:
            assert im.mode == "RGB"
            assert (int(r["width"]), int(r["height"])) == im.size
    # Every image on disk is in the manifest; masks are outside the image folders.
    on_disk = {
        p.relative_to(output).as_posix()
        for sub in ("train", "validation")
        for p in (output / sub).iterdir()
    }
    assert on_disk == {r["file"] for r in rows}
    val = [r for r in rows if r["split"] == "validation"]
    val_photos = [r for r in val if r["kind"] == "photo"]
    assert len(val_photos) >= OPTIONS.min_val_photos
    assert len(val) >= OPTIONS.min_val_images
    for r in val_photos:
        assert max(int(r["width"]), int(r["height"])) >= corpus.VAL_MIN_SIDE
    for r in rows:
        if r["split"] == "train" and r["kind"] == "photo":
            assert max(int(r["width"]), int(r["height"])) <= OPTIONS.max_side
    counts = summary.counts("source_package", "kind")
    assert counts[(WALL, "photo")] == 7  # 11 wallpapers - Altai, NotReviewed,
    # FallenLeaf (corrupt), Grey (monochrome), OneStandsOut (duplicate) + ...
    assert counts[(STAMPS, "composite")] == 14 * OPTIONS.composites_per_object


def test_no_training_composite_uses_a_validation_object_or_background(built):
    _, _, rows = built
    photo_split = {r["original_path"]: r["split"] for r in rows if r["kind"] == "photo"}
    composite_rows = [r for r in rows if r["kind"] == "composite"]
    object_split = collections.defaultdict(set)
    for r in composite_rows:
        object_split[r["original_path"]].add(r["object_split"])
        assert r["background_split"] == photo_split[r["background_path"]]
        assert r["mask"] == f"masks/{pathlib.PurePosixPath(r['file']).stem}.png"
        if r["split"] == "train":
            assert r["object_split"] == "train"
            assert r["background_split"] == "train"
        else:
            assert "validation" in (r["object_split"], r["background_split"])
    assert all(len(s) == 1 for s in object_split.values())
    assert any(s == {"validation"} for s in object_split.values())
    assert any(s == {"train"} for s in object_split.values())


def test_dedup_keeps_the_largest_and_drops_near_duplicates(built):
    _, summary, rows = built
    by_name = {pathlib.PurePosixPath(r["file"]).stem: r for r in rows}
    assert by_name["plasma_Path"]["original_path"].endswith(
        "/Path/contents/images/1280x800.jpg"
    )
    assert any(
        p.endswith("/Path/contents/images/640x400.jpg")
        for p in summary.skipped["smaller size of a kept wallpaper"]
    )
    near = summary.skipped["near-duplicate"]
    assert any("OneStandsOut" in p and "/Path/" in p for p in near)
    assert any("bird0_mirror.png" in p for p in near)
    assert "plasma_OneStandsOut" not in by_name
    assert "plasma_DarkestHour" in by_name  # The symlink is not a second size.
    assert by_name["plasma_DarkestHour"]["original_path"].endswith("1024x640.jpg")


def test_bad_files_are_skipped_and_counted(built):
    _, summary, rows = built
    unreadable = summary.skipped["unreadable"]
    assert any("FallenLeaf" in p for p in unreadable)
    assert any(p.endswith("broken.png") for p in unreadable)
    assert any(p.endswith("tiny.png") for p in summary.skipped["too small"])
    assert any("/Grey/" in p for p in summary.skipped["monochrome"])
    assert any("NotReviewed" in p for p in summary.skipped["unreviewed (in no list)"])
    report = summary.report("out")
    assert "unreadable: 2" in report and "skipped:" in report
    assert "per source:" in report and "composite" in report


def test_listed_choices_leave_out_drawn_art_cartoons_and_symbols(built):
    _, summary, rows = built
    paths = {r["original_path"] for r in rows}
    assert not any("Altai" in p or "cartoon" in p or "symbols" in p for p in paths)
    assert (
        summary.left_out["/usr/share/wallpapers/Altai"]
        == "low-poly drawing of mountains"
    )
    assert summary.left_out["animals/cartoon/toon.png"] == "cartoon folder"
    assert "symbols/alphabets/letter_a.png" in summary.left_out


def test_licences_come_from_the_copyright_file(built):
    _, _, rows = built
    by_name = {pathlib.PurePosixPath(r["file"]).stem: r for r in rows}
    assert by_name["plasma_Kite"]["licence"] == "CC-BY-SA-4.0"
    path = by_name["plasma_Path"]
    assert path["licence"] == "GPL-2+"
    assert "KDE Visual Design Group" in path["note"]
    assert "A. Photographer" in path["note"] and "LGPLv3" in path["note"]
    for r in rows:
        if r["kind"] == "composite":
            assert r["source_package"] == STAMPS and r["licence"] == "GPL-2"
            assert r["background_package"] == WALL and r["background_licence"]


def test_masks_are_written_and_match_the_alpha(built):
    output, _, rows = built
    for r in rows:
        if r["kind"] != "composite":
            assert r["mask"] == ""
            continue
        with Image.open(output / r["mask"]) as m:
            assert m.mode == "L"
            assert m.size == (int(r["width"]), int(r["height"]))
            mask = np.asarray(m)
        assert mask.max() == 255 and mask.min() == 0
        assert 0.01 < (mask > 127).mean() < 0.9


def test_make_composite_pastes_the_object_where_the_mask_says():
    obj = Image.new("RGBA", (80, 60), (255, 0, 0, 0))
    alpha = np.zeros((60, 80), np.uint8)
    alpha[10:50, 20:60] = 255
    obj.putalpha(Image.fromarray(alpha))
    background = Image.new("RGB", (400, 300), (0, 0, 255))
    image, mask = composites.make_composite(
        obj.crop((20, 10, 60, 50)), background, np.random.default_rng(0), 200
    )
    assert max(image.size) == 200 and mask.size == image.size
    img, m = np.asarray(image).astype(int), np.asarray(mask)
    assert ((m == 255) | (m == 0)).mean() > 0.97
    assert np.abs(img[m == 255] - [255, 0, 0]).max() <= 2
    assert np.abs(img[m == 0] - [0, 0, 255]).max() <= 2
    # A square object keeps its shape: the mask's box is square too.
    ys, xs = np.nonzero(m > 127)
    assert abs(np.ptp(ys) - np.ptp(xs)) <= 2


def test_second_run_resumes_without_writing(cache, tmp_path):
    output = tmp_path / "corpus"
    first = build(output, cache)
    manifest = (output / "MANIFEST.csv").read_text()
    mtimes = {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file()}
    second = build(output, cache)
    assert second.written == 0 and second.kept == len(first.rows)
    assert not second.manifest_written
    assert (output / "MANIFEST.csv").read_text() == manifest
    assert {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file()} == mtimes

    # An interrupted run: one image and one mask lost, a temporary file left.
    victim = next(r for r in first.rows if r["kind"] == "composite")
    (output / victim["file"]).unlink()
    (output / victim["mask"]).unlink()
    (output / "train" / ".x.jpg.123.part").write_bytes(b"partial")
    third = build(output, cache)
    assert third.written == 1
    assert (output / "MANIFEST.csv").read_text() == manifest
    assert not list(output.rglob("*.part"))


def test_stale_files_of_an_earlier_manifest_are_removed(cache, tmp_path):
    output = tmp_path / "corpus"
    first = build(output, cache)
    fewer = build(output, cache, dataclasses.replace(OPTIONS, composites_per_object=1))
    assert fewer.removed >= 2 * (len(first.rows) - len(fewer.rows)) > 0
    names = {p.relative_to(output).as_posix() for p in output.rglob("*.jpg")}
    assert names == {r["file"] for r in fewer.rows}
    masks = {p.relative_to(output).as_posix() for p in output.rglob("*.png")}
    assert masks == {r["mask"] for r in fewer.rows if r["mask"]}


def test_builds_are_deterministic(cache, tmp_path):
    a = build(tmp_path / "a", cache)
    b = build(tmp_path / "b", cache)
    assert (tmp_path / "a/MANIFEST.csv").read_text() == (
        tmp_path / "b/MANIFEST.csv"
    ).read_text()
    comp = next(r for r in a.rows if r["kind"] == "composite")
    assert (tmp_path / "a" / comp["file"]).read_bytes() == (
        tmp_path / "b" / comp["file"]
    ).read_bytes()
    assert len(a.rows) == len(b.rows)


def test_python_package_photos_and_missing_packages(cache, tmp_path):
    pytest.importorskip("skimage")
    photos = (
        corpus.PythonPhoto("skimage", "data/coffee.png", "CC0"),
        corpus.PythonPhoto("no_such_package_xyz", "a.png"),
    )
    summary = build(tmp_path / "out", cache, photos=photos, deb_packages=(WALL,))
    coffee = [
        r for r in summary.rows if r["original_path"] == "skimage/data/coffee.png"
    ]
    assert len(coffee) == 1
    assert coffee[0]["source_package"] == "scikit-image"
    assert coffee[0]["licence"] == "BSD-3-Clause" and coffee[0]["note"] == "CC0"
    assert coffee[0]["package_version"]
    assert summary.missing_packages == ["no_such_package_xyz"]


def test_the_listed_package_photos_exist_when_installed():
    for photo in corpus.PHOTOS:
        root = candidates.package_dir(photo.module)
        if root is not None:
            assert (root / photo.path).is_file(), photo


def test_photo_groups_share_their_split():
    def item(name, group, size=(800, 600)):
        source = candidates.Candidate(
            "pkg", "1", pathlib.Path(name), name, "MIT", "", "photo", name, True, group
        )
        return items.Item(source, Image.new("RGB", (8, 8)), size, (0, 0, 0, 0))

    photos = [item(f"p{i}", "pair" if i < 2 else "") for i in range(12)]
    photos.append(item("small", "", (300, 200)))
    for fraction in (0.0, 0.3, 1.0):
        options = corpus.Options(val_fraction=fraction, min_val_photos=3)
        splits.assign_splits(photos, [], options)
        assert photos[0].split == photos[1].split
        assert photos[-1].split == "train"  # Below VAL_MIN_SIDE: never validation.
        assert sum(p.split == "validation" for p in photos) >= 3


def test_stable_fraction_does_not_depend_on_the_run():
    assert splits.stable_fraction("a") == splits.stable_fraction("a")
    assert 0 <= splits.stable_fraction("b") < 1
    assert splits.stable_fraction("a") != splits.stable_fraction("b")


def test_licence_for_uses_the_last_matching_paragraph():
    paragraphs = licences.parse_copyright(WALLPAPER_COPYRIGHT)
    assert [p.licence for p in paragraphs] == ["GPL-2+", "CC-BY-SA-4.0", "GPL-2+"]
    kite = "/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg"
    assert licences.licence_for(paragraphs, kite) == (
        "CC-BY-SA-4.0",
        "2015 Risto Saukonpaa",
    )
    other = "/usr/share/wallpapers/Path/contents/images/2560x1600.jpg"
    assert licences.licence_for(paragraphs, other)[0] == "GPL-2+"
    assert licences.licence_for([], other) == ("unknown", "")


class FakeApt:
    """Stands in for apt-get and dpkg: records calls, makes a .deb, unpacks it."""

    def __init__(self, fail_first_download=False):
        self.calls = []
        self.fail = fail_first_download

    def __call__(self, cmd, cwd=None, **kwargs):
        self.calls.append(cmd[:2])
        if cmd[:2] == ["apt-get", "download"]:
            if self.fail:
                self.fail = False
                return subprocess.CompletedProcess(cmd, 100, "", "E: Unable to locate")
            (pathlib.Path(cwd) / f"{cmd[2]}_4%3a1.0-1_all.deb").write_bytes(b"deb")
        elif cmd[0] == "dpkg":
            target = pathlib.Path(cmd[3]) / "usr/share/doc/pkg"
            target.mkdir(parents=True)
            (target / "copyright").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")


def test_fetch_deb_downloads_and_unpacks_once(tmp_path):
    apt = FakeApt(fail_first_download=True)
    root = debs.fetch_deb("pkg", tmp_path, run=apt)
    assert root == tmp_path / "pkg"
    assert (root / "usr/share/doc/pkg/copyright").is_file()
    assert debs.deb_version(root) == "4:1.0-1"
    # The failed download ran apt-get update once, then succeeded.
    assert apt.calls == [
        ["apt-get", "download"],
        ["apt-get", "update"],
        ["apt-get", "download"],
        ["dpkg", "-x"],
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    apt.calls.clear()
    assert debs.fetch_deb("pkg", tmp_path, run=apt) == root
    assert apt.calls == []
    # A downloaded .deb is unpacked again without downloading.
    shutil.rmtree(root)
    debs.fetch_deb("pkg", tmp_path, run=apt)
    assert apt.calls == [["dpkg", "-x"]]


def test_fetch_deb_failure_is_a_clear_error(tmp_path):
    def run(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 100, "", "E: no such package")

    with pytest.raises(corpus.CorpusError, match="no such package"):
        debs.fetch_deb("nothing", tmp_path, run=run)


@pytest.mark.slow
def test_tool_builds_the_corpus_and_the_example_pair(cache, tmp_path):
    pytest.importorskip("skimage")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run(
        [
            sys.executable,
            "tools/gather_photos.py",
            f"--output_dir={tmp_path / 'out'}",
            f"--cache_dir={cache}",
            f"--example_dir={tmp_path / 'example'}",
            "--example_photo=plasma_Path",
            "--composite_size=128",
            "--max_side=320",
            "--min_object_side=48",
            "--composites_per_object=1",
            "--min_images=20",
            "--noprogress",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "per source:" in result.stdout and "scikit-image" in result.stdout
    assert (tmp_path / "out/MANIFEST.csv").is_file()
    assert sorted(os.listdir(tmp_path / "example")) == [
        "example_gray.png",
        "example_reference.png",
    ]
    with Image.open(tmp_path / "example/example_gray.png") as im:
        assert im.mode == "L"
        gray_size = im.size
    # Two overlapping views of the corpus photo: the left and right 5/8.
    with Image.open(tmp_path / "example/example_reference.png") as im:
        assert im.mode == "RGB" and im.size == gray_size
