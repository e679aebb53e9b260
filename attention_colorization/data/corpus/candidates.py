"""Candidates: the source images of each package, listed before any is read."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import importlib.util
import json
import pathlib
import re
from collections.abc import Iterable

from PIL import Image

from attention_colorization.data.corpus.catalogue import (
    PREFIXES,
    PYTHON_LEFT_OUT,
    PYTHON_PACKAGES,
    STAMP_EXTRA,
    STAMP_FOLDERS,
    STAMP_FOLDERS_LEFT_OUT,
    STAMP_LEFT_OUT,
    STAMP_PACKAGE,
    STAMP_ROOT,
    WALLPAPER_PACKAGE,
    WALLPAPER_PHOTOS,
    WALLPAPER_ROOT,
    WALLPAPERS_LEFT_OUT,
    PythonPhoto,
)
from attention_colorization.data.corpus.debs import deb_version
from attention_colorization.data.corpus.licences import licence_for, read_copyright
from attention_colorization.data.corpus.summary import Summary


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One source image before it is read.

    Attributes:
        package: package it ships in (distribution or Debian name).
        version: version of that package.
        path: the file on this machine.
        original: its path inside the package.
        licence: licence of the file.
        note: author, copyright holder, rights notes.
        role: ``photo`` (stored as it is, and a background) or ``object`` (a
            photo with alpha, stored as composites).
        name: output file stem.
        background: whether a photo may be a composite background.
        group: photos of a group share their split (empty: on its own).
    """

    package: str
    version: str
    path: pathlib.Path
    original: str
    licence: str
    note: str
    role: str
    name: str
    background: bool = True
    group: str = ""

    @property
    def key(self) -> str:
        """Stable identity: package and original path."""
        return f"{self.package}:{self.original}"

    @property
    def split_key(self) -> str:
        """What the split hashes: the group if any, else :attr:`key`."""
        return f"{self.package}:{self.group}" if self.group else self.key


def package_dir(module: str) -> pathlib.Path | None:
    """The folder of an installed Python package, or None."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def python_candidates(
    photos: Iterable[PythonPhoto], summary: Summary
) -> list[Candidate]:
    """Candidates of the photos in installed Python packages."""
    out = []
    for (module, rel), reason in PYTHON_LEFT_OUT.items():
        summary.left_out[f"{module}/{rel}"] = reason
    for photo in photos:
        dist, licence = PYTHON_PACKAGES.get(photo.module, (photo.module, "unknown"))
        root = package_dir(photo.module)
        if root is None:
            if dist not in summary.missing_packages:
                summary.missing_packages.append(dist)
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = ""
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", pathlib.PurePosixPath(photo.path).stem)
        out.append(
            Candidate(
                package=dist,
                version=version,
                path=root / photo.path,
                original=f"{photo.module}/{photo.path}",
                licence=licence,
                note=photo.note,
                role="photo",
                name=f"{PREFIXES.get(dist, photo.module)}_{stem}",
                background=photo.background,
                group=photo.group,
            )
        )
    return out


def _image_size(path: pathlib.Path) -> tuple[int, int]:
    try:
        with Image.open(path) as im:
            return im.size
    except Exception:  # Any unreadable header counts as empty.
        return (0, 0)


def wallpaper_candidates(root: pathlib.Path, summary: Summary) -> list[Candidate]:
    """The photographic wallpapers of an unpacked plasma-workspace-wallpapers.

    One candidate per wallpaper of :data:`WALLPAPER_PHOTOS`: its largest image
    (by pixels) under ``contents/images*/``; smaller sizes are counted as
    duplicates, symbolic links (other names of the same file) ignored.
    Wallpapers reviewed in neither list are skipped and counted.
    """
    paragraphs = read_copyright(root, WALLPAPER_PACKAGE)
    version = deb_version(root)
    base = root / WALLPAPER_ROOT
    folders = sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    out = []
    for folder in folders:
        name = folder.name
        original_dir = f"/{WALLPAPER_ROOT}/{name}"
        if name in WALLPAPERS_LEFT_OUT:
            summary.left_out[original_dir] = WALLPAPERS_LEFT_OUT[name]
            continue
        if name not in WALLPAPER_PHOTOS:
            summary.skip("unreviewed (in no list)", original_dir)
            continue
        files = sorted(
            p
            for d in sorted((folder / "contents").glob("images*"))
            for p in d.iterdir()
            # A symlink is another name of a file listed already, not a size.
            if p.is_file()
            and not p.is_symlink()
            and p.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        if not files:
            summary.skip("no image file", original_dir)
            continue
        sizes = {p: _image_size(p) for p in files}
        best = max(
            files, key=lambda p: (sizes[p][0] * sizes[p][1], p.stat().st_size, str(p))
        )
        for p in files:
            if p != best:
                summary.skip(
                    "smaller size of a kept wallpaper",
                    "/" + str(p.relative_to(root)),
                )
        original = "/" + str(best.relative_to(root))
        licence, holder = licence_for(paragraphs, original)
        meta = _wallpaper_metadata(folder)
        note = "; ".join(
            x for x in (f"Copyright: {holder}" if holder else "", meta) if x
        )
        out.append(
            Candidate(
                package=WALLPAPER_PACKAGE,
                version=version,
                path=best,
                original=original,
                licence=licence,
                note=note,
                role="photo",
                name=f"{PREFIXES[WALLPAPER_PACKAGE]}_{name}",
            )
        )
    return out


def _wallpaper_metadata(folder: pathlib.Path) -> str:
    """Author and licence that a wallpaper's metadata.json states, if any."""
    try:
        meta = json.loads((folder / "metadata.json").read_text())
        plugin = meta.get("KPlugin", {})
        authors = ", ".join(a.get("Name", "") for a in plugin.get("Authors", []))
        licence = plugin.get("License", "")
    except (OSError, ValueError, AttributeError):
        return ""
    parts = []
    if authors:
        parts.append(f"author: {authors}")
    if licence:
        parts.append(f"metadata.json licence: {licence}")
    return "; ".join(parts)


def stamp_candidates(root: pathlib.Path, summary: Summary) -> list[Candidate]:
    """The object photographs of an unpacked tuxpaint-stamps-default."""
    paragraphs = read_copyright(root, STAMP_PACKAGE)
    version = deb_version(root)
    base = root / STAMP_ROOT
    if not base.is_dir():
        return []
    chosen = []
    for path in sorted(base.rglob("*.png")):
        rel = path.relative_to(base).as_posix()
        top = rel.split("/")[0]
        if rel in STAMP_EXTRA:
            chosen.append((path, rel))
        elif top in STAMP_FOLDERS:
            if "cartoon" in rel.split("/")[:-1]:
                summary.left_out[rel] = "cartoon folder"
            elif rel in STAMP_LEFT_OUT:
                summary.left_out[rel] = STAMP_LEFT_OUT[rel]
            else:
                chosen.append((path, rel))
        elif top in STAMP_FOLDERS_LEFT_OUT:
            summary.left_out[rel] = STAMP_FOLDERS_LEFT_OUT[top]
        else:
            summary.skip("unreviewed (in no list)", f"/{STAMP_ROOT}/{rel}")
    out = []
    for path, rel in chosen:
        original = f"/{STAMP_ROOT}/{rel}"
        licence, holder = licence_for(paragraphs, original)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", rel[: -len(".png")].replace("/", "-"))
        out.append(
            Candidate(
                package=STAMP_PACKAGE,
                version=version,
                path=path,
                original=original,
                licence=licence,
                note=f"Copyright: {holder}" if holder else "",
                role="object",
                name=f"{PREFIXES[STAMP_PACKAGE]}_{stem}",
            )
        )
    return out
