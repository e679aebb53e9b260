"""The training corpus: photographs from installed packages, nothing else.

``tools/gather_photos.py`` is the command line; everything it does is here so
that it can be tested without the network.

Sources, and only these (no other package may feed training, validation or
model selection):

* the colour photographs inside installed Python packages (:data:`PHOTOS`:
  scikit-image, scikit-learn, matplotlib; a package that is not installed is
  reported and left out);
* the Debian package ``plasma-workspace-wallpapers``: its photographic
  wallpapers only (:data:`WALLPAPER_PHOTOS`, chosen by looking at every
  wallpaper; drawn and abstract art is listed in :data:`WALLPAPERS_LEFT_OUT`),
  the largest file of each;
* the Debian package ``tuxpaint-stamps-default``: its photographs of objects,
  animals, plants and food, which have an alpha channel (:data:`STAMP_FOLDERS`
  and :data:`STAMP_EXTRA`, minus :data:`STAMP_LEFT_OUT`; cartoons, symbols and
  letters are left out, again by looking). Each becomes a few composites: the
  object pasted onto a random crop of a photographic background, its alpha
  written as a mask.

A Debian package is fetched with ``apt-get download`` into a cache folder and
unpacked there with ``dpkg -x``; nothing is installed. Licences come from the
package's ``/usr/share/doc/<package>/copyright`` (per file where it says so).

Output (``OUTPUT`` is the output folder)::

    OUTPUT/train/*.jpg          training images (data.train_dir)
    OUTPUT/validation/*.jpg     held-out images (data.val_dir)
    OUTPUT/masks/*.png          object masks of the composites (8-bit alpha)
    OUTPUT/MANIFEST.csv         one row per image, see MANIFEST_COLUMNS

The masks live outside ``train/`` and ``validation/`` because the input pipeline
lists image folders recursively.

Splits are decided by a stable hash of each source (package and path), so they
do not depend on the machine or the listing order; a composite is validation
when its object or its background is. Training composites are built from
training objects on training backgrounds only.

Every file is written atomically (temporary name, then rename) and an existing
output is kept, so an interrupted run resumes where it stopped; ``MANIFEST.csv``
is written last. Unreadable files are skipped and counted, never fatal.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import fnmatch
import hashlib
import importlib.metadata
import importlib.util
import io
import json
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from PIL import Image, ImageOps
from tqdm import tqdm

from attention_colorization.atomic import atomic_write_bytes, atomic_write_text

# --------------------------------------------------------------------------
# Sources: the listed choices.
# --------------------------------------------------------------------------

WALLPAPER_PACKAGE = "plasma-workspace-wallpapers"
STAMP_PACKAGE = "tuxpaint-stamps-default"
DEB_PACKAGES = (WALLPAPER_PACKAGE, STAMP_PACKAGE)

# Python package (import name) -> (distribution name, licence of the package).
PYTHON_PACKAGES = {
    "skimage": ("scikit-image", "BSD-3-Clause"),
    "sklearn": ("scikit-learn", "BSD-3-Clause"),
    "matplotlib": ("matplotlib", "Matplotlib License (PSF-based)"),
}


@dataclasses.dataclass(frozen=True)
class PythonPhoto:
    """A photograph shipped inside a Python package.

    Attributes:
        module: import name of the package (``skimage``).
        path: path inside the package folder.
        note: what the package documents about the photo's origin and rights.
        background: whether it may serve as a composite background (scenes
            yes; microscopy and astronomy no).
        group: photos of one group (the two views of a stereo pair) share their
            split, so that no near-copy of a validation photo is trained on.
    """

    module: str
    path: str
    note: str = ""
    background: bool = True
    group: str = ""


# Colour photographs only. The notes quote the docstrings of skimage.data and
# sklearn/datasets/images/README.txt.
PHOTOS = (
    PythonPhoto(
        "skimage",
        "data/astronaut.png",
        "NASA Great Images database; no known copyright restrictions, "
        "released into the public domain",
    ),
    PythonPhoto(
        "skimage",
        "data/chelsea.png",
        "CC0 by the photographer (Stefan van der Walt)",
    ),
    PythonPhoto(
        "skimage",
        "data/coffee.png",
        "courtesy of Pikolo Espresso Bar; CC0 by the photographer (Rachel Michetti)",
    ),
    PythonPhoto(
        "skimage",
        "data/rocket.jpg",
        "captured by SpaceX and released in the public domain",
    ),
    PythonPhoto(
        "skimage",
        "data/motorcycle_left.png",
        "Middlebury 2014 stereo benchmark (Scharstein et al.), down-sampled",
        group="skimage/motorcycle",
    ),
    PythonPhoto(
        "skimage",
        "data/motorcycle_right.png",
        "Middlebury 2014 stereo benchmark (Scharstein et al.), down-sampled",
        group="skimage/motorcycle",
    ),
    PythonPhoto(
        "skimage",
        "data/hubble_deep_field.jpg",
        "captured by NASA, may be freely used in the public domain",
        background=False,
    ),
    PythonPhoto(
        "skimage",
        "data/retina.jpg",
        "Creative Commons CC0 1.0 Universal Public Domain Dedication",
        background=False,
    ),
    PythonPhoto(
        "skimage",
        "data/ihc.png",
        "Center for Microscopy And Molecular Imaging (CMMI); "
        "no known copyright restrictions",
        background=False,
    ),
    PythonPhoto(
        "sklearn",
        "datasets/images/china.jpg",
        "Creative Commons licence; attribution: danielbuechele (README.txt)",
    ),
    PythonPhoto(
        "sklearn",
        "datasets/images/flower.jpg",
        "Creative Commons licence; attribution: Vince Alongi (README.txt)",
    ),
    PythonPhoto("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)

# Images of those packages looked at and left out.
PYTHON_LEFT_OUT = {
    ("skimage", "data/color.png"): "a synthetic colour wheel, not a photograph",
}

# plasma-workspace-wallpapers 5.27: every wallpaper, looked at one by one.
WALLPAPER_PHOTOS = {
    "BytheWater": "wooden jetty on a lake",
    "ColdRipple": "pier in fog (black and white: dropped as monochrome)",
    "ColorfulCups": "stacked plastic cups",
    "DarkestHour": "lake at dusk in fog",
    "EveningGlow": "rowing boats at a lake shore at sunset",
    "FallenLeaf": "maple leaves on the ground",
    "Grey": "curved facade (black and white: dropped as monochrome)",
    "Kite": "blue sky, clouds and a kite",
    "OneStandsOut": "moss with one orange shoot",
    "Path": "path through a spruce forest",
    "summer_1am": "lake with reeds at night",
}
WALLPAPERS_LEFT_OUT = {
    "Altai": "low-poly drawing of mountains",
    "Autumn": "painting",
    "Canopee": "abstract vector art",
    "Cascade": "abstract vector art",
    "Cluster": "abstract hexagons",
    "Elarun": "abstract curves",
    "Flow": "abstract vector art",
    "FlyingKonqui": "cartoon",
    "Honeywave": "abstract hexagons",
    "IceCold": "abstract vector art",
    "Kay": "abstract curves",
    "Kokkini": "abstract vector art",
    "MilkyWay": "abstract art",
    "Opal": "abstract polygons",
    "PastelHills": "abstract polygons",
    "Patak": "drawing",
    "SafeLanding": "abstract polygons",
    "Shell": "abstract polygons",
    "Volna": "abstract art",
}

# tuxpaint-stamps-default 2022.06.04: the top-level folders whose PNG stamps are
# photographs, looked at on contact sheets. A path with a "cartoon" folder is
# always left out, as is everything in STAMP_LEFT_OUT.
STAMP_FOLDERS = (
    "animals",
    "food",
    "hobbies",
    "household",
    "medical",
    "military",
    "people",
    "plants",
    "space",
    "sports",
    "vehicles",
)
STAMP_FOLDERS_LEFT_OUT = {
    "clothes": "line drawings of clothes and drawn hats",
    "naturalforces": "effects and renderings (fire, smoke, lightning)",
    "seasonal": "mostly drawn; its photographs are listed in STAMP_EXTRA",
    "symbols": "letters, signs, chess pieces, coins and symbols",
    "town": "drawn road signs, flags and houses; its photographs are in STAMP_EXTRA",
}
# Photographs in the folders left out above.
STAMP_EXTRA = (
    "seasonal/candle.png",
    "seasonal/christmas/Candy_cane_photo_1.png",
    "seasonal/christmas/Candy_cane_photo_2.png",
    "seasonal/christmas/Christmas_Tree_photo.png",
    "seasonal/christmas/Christmas_pudding.png",
    "seasonal/christmas/German_Christmas_toy.png",
    "seasonal/christmas/Mince_Pie.png",
    "seasonal/christmas/Roast_turkey.png",
    "seasonal/halloween/grave-a.png",
    "seasonal/halloween/grave-b.png",
    "seasonal/halloween/grave-c.png",
    "seasonal/halloween/grave-d.png",
    "seasonal/halloween/grave-e.png",
    "seasonal/halloween/grave-f.png",
    "seasonal/halloween/grave-g.png",
    "seasonal/halloween/grave-h.png",
    "seasonal/halloween/grave-i.png",
    "seasonal/halloween/grave-j.png",
    "town/monuments/inukshuk-photo.png",
    "town/roadsigns/railroad_crossing.png",
    "town/roadsigns/traffic_cone.png",
    "town/uk_post_box.png",
    "town/usps_mailbox.png",
)
# Drawings, renderings and mirrored copies inside STAMP_FOLDERS.
STAMP_LEFT_OUT = {
    "animals/fish/bluegroper.png": "drawn",
    "animals/fish/butterflyfish.png": "drawn",
    "animals/fish/clownfish.png": "drawn",
    "animals/fish/dolphinfish.png": "drawn",
    "animals/fish/moonwrasse.png": "drawn",
    "animals/fish/shrimp.png": "drawn",
    "animals/fish/stripedfish.png": "drawn",
    "animals/insects/bee.png": "line drawing",
    "animals/insects/fly.png": "gray drawing",
    "animals/mammals/aquatic/orca.png": "drawn",
    "animals/mammals/aquatic/whale.png": "drawn",
    "animals/mammals/echidna.png": "silhouette",
    "animals/mammals/hedgehog.png": "cartoon",
    "food/pizza.png": "cartoon",
    "household/arttools/highlighter.png": "drawn logo on a gray photo",
    "medical/tooth.png": "line drawing",
    "military/ammunition/old_naval_shell.png": "rendering",
    "military/vehicles/bradley_mirror.png": "mirrored copy of bradley.png",
    "military/vehicles/ww2_german_gun.png": "rendering",
    "people/body_parts/eye.png": "cartoon",
    "space/planets/0_sun.png": "rendering",
    "space/planets/6_saturn.png": "drawn",
    "space/voyager2.png": "rendering",
    "sports/rugby_goal_posts.png": "drawn lines",
    "vehicles/7spoke256.png": "drawn",
    "vehicles/construction/dumper_mirror.png": "mirrored copy of dumper.png",
    "vehicles/emergency/sedan_police.png": "drawn",
    "vehicles/emergency/sedan_police_mirror.png": "drawn",
    "vehicles/ship/chineseJunk.png": "rendering",
}
STAMP_ROOT = "usr/share/tuxpaint/stamps"
WALLPAPER_ROOT = "usr/share/wallpapers"

# Short prefixes of output file names.
PREFIXES = {
    "scikit-image": "skimage",
    "scikit-learn": "sklearn",
    "matplotlib": "matplotlib",
    WALLPAPER_PACKAGE: "plasma",
    STAMP_PACKAGE: "tuxpaint",
}

MANIFEST_NAME = "MANIFEST.csv"
MANIFEST_COLUMNS = (
    "file",  # Relative to the output folder: train/NAME.jpg or validation/NAME.jpg.
    "kind",  # photo | composite
    "split",  # train | validation
    "source_package",  # The photo's (or the composite object's) package.
    "package_version",
    "original_path",  # Inside the package: installed path or path in the module.
    "licence",
    "note",  # Author, copyright holder, per-photo rights notes.
    "mask",  # Composites: masks/NAME.png (the object's alpha), else empty.
    "object_split",  # Composites: the object's own split.
    "background_package",  # Composites: where the background crop comes from.
    "background_path",
    "background_licence",
    "background_split",
    "width",
    "height",
)
TRAIN, VALIDATION = "train", "validation"
MASK_DIR = "masks"

# --------------------------------------------------------------------------
# Settings.
# --------------------------------------------------------------------------

VAL_MIN_SIDE = 512  # Validation photos are evaluated at this long side.
MONOCHROME_CHROMA = 4.0  # 99th percentile of max(RGB) - min(RGB) below this: gray.
HASH_SIZE = 8  # Perceptual hashes of HASH_SIZE**2 bits.
DUPLICATE_BITS = 6  # Both hashes within this many bits: a near-duplicate.
MIN_BACKGROUND_CROP = 0.35  # Smallest background crop side / largest that fits.
OBJECT_FRACTION = (0.35, 0.8)  # Object long side / canvas short side.
MAX_UPSCALE = 2.0  # An object is enlarged at most this much.
ASPECTS = (0.75, 1.5)  # Composite width / height.


@dataclasses.dataclass(frozen=True)
class Options:
    """How the corpus is built (the command-line flags).

    Attributes:
        max_side: long side of stored photos at most (validation photos keep at
            least VAL_MIN_SIDE).
        composite_size: long side of a composite.
        composites_per_object: composites made from each object photo.
        val_fraction: share of photos and objects held out, by stable hash.
        min_val_photos: at least this many photographs (kind photo) are held out.
        min_val_images: at least this many images in all are held out.
        min_object_side: smaller object photos are skipped.
        seed: seed of the composites (placement, crop, scale, flips).
        jpeg_quality: JPEG quality of the stored images (4:4:4 chroma).
        overwrite: rewrite images that exist already.
        progress: show progress bars.
    """

    max_side: int = 1024
    composite_size: int = 512
    composites_per_object: int = 3
    val_fraction: float = 0.15
    min_val_photos: int = 4
    min_val_images: int = 30
    min_object_side: int = 96
    seed: int = 0
    jpeg_quality: int = 92
    overwrite: bool = False
    progress: bool = True


class CorpusError(RuntimeError):
    """A source package cannot be fetched or unpacked."""


@dataclasses.dataclass
class Summary:
    """What a build did.

    Attributes:
        rows: the manifest rows, sorted by file.
        skipped: reason -> list of source paths that were skipped.
        left_out: source paths left out by a listed choice, with the reason.
        missing_packages: Python packages of PHOTOS that are not installed.
        written: images written by this run.
        kept: images already present and kept (resumed).
        removed: stale files of an earlier manifest removed.
        manifest_written: whether MANIFEST.csv changed.
    """

    rows: list[dict] = dataclasses.field(default_factory=list)
    skipped: dict[str, list[str]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    left_out: dict[str, str] = dataclasses.field(default_factory=dict)
    missing_packages: list[str] = dataclasses.field(default_factory=list)
    written: int = 0
    kept: int = 0
    removed: int = 0
    manifest_written: bool = False

    def skip(self, reason: str, path: str) -> None:
        self.skipped[reason].append(path)

    @property
    def num_skipped(self) -> int:
        return sum(len(v) for v in self.skipped.values())

    def counts(self, *columns: str) -> collections.Counter:
        """Number of manifest rows per value of ``columns``."""
        return collections.Counter(
            tuple(row[c] for c in columns) if len(columns) > 1 else row[columns[0]]
            for row in self.rows
        )

    def report(self, output_dir: os.PathLike | str = "") -> str:
        """A human-readable summary: counts per source, kind, split; skips."""
        split = self.counts("split")
        lines = [
            f"{len(self.rows)} images in {output_dir} "
            f"({split[TRAIN]} train, {split[VALIDATION]} validation)"
        ]
        lines.append("  per source:")
        for (package, kind), n in sorted(self.counts("source_package", "kind").items()):
            lines.append(f"    {package:30s} {kind:10s} {n:5d}")
        lines.append("  per kind and split:")
        for (kind, sp), n in sorted(self.counts("kind", "split").items()):
            lines.append(f"    {kind:10s} {sp:10s} {n:5d}")
        lines.append(f"  skipped: {self.num_skipped}")
        for reason, paths in sorted(self.skipped.items()):
            shown = ", ".join(paths[:3]) + (" ..." if len(paths) > 3 else "")
            lines.append(f"    {reason}: {len(paths)} ({shown})")
        lines.append(f"  left out by listed choice: {len(self.left_out)}")
        if self.missing_packages:
            lines.append(
                "  Python packages not installed (their photos are missing): "
                + ", ".join(self.missing_packages)
            )
        lines.append(
            f"  written {self.written}, already present {self.kept}, "
            f"stale removed {self.removed}"
        )
        return "\n".join(lines)


# --------------------------------------------------------------------------
# Debian packages.
# --------------------------------------------------------------------------

Runner = Callable[..., subprocess.CompletedProcess]


def fetch_deb(
    package: str, cache_dir: os.PathLike | str, run: Runner = subprocess.run
) -> pathlib.Path:
    """Downloads and unpacks a Debian package into ``cache_dir``; returns its root.

    ``cache_dir/<package>/`` is the unpacked tree (``dpkg -x``). A package already
    unpacked there is not fetched again; a ``.deb`` already downloaded is not
    downloaded again. Both steps work in temporary folders that are renamed when
    complete, so an interrupted run leaves nothing half-done behind. When
    ``apt-get download`` fails, ``apt-get update`` is run once and the download
    tried again.

    Raises:
        CorpusError: the package cannot be downloaded or unpacked.
    """
    cache_dir = pathlib.Path(cache_dir).expanduser()
    root = cache_dir / package
    if root.is_dir():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    deb = _find_deb(cache_dir, package)
    if deb is None:
        deb = _download_deb(package, cache_dir, run)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{package}.unpack."))
    try:
        _run(run, ["dpkg", "-x", str(deb), str(tmp)], f"unpack {deb.name}")
        (tmp / ".deb").write_text(deb.name + "\n")
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _find_deb(cache_dir: pathlib.Path, package: str) -> pathlib.Path | None:
    debs = sorted(cache_dir.glob(f"{package}_*.deb"))
    return debs[-1] if debs else None


def _download_deb(package: str, cache_dir: pathlib.Path, run: Runner) -> pathlib.Path:
    tmp = pathlib.Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{package}.download."))
    try:
        try:
            _run(run, ["apt-get", "download", package], f"download {package}", tmp)
        except CorpusError:
            _run(run, ["apt-get", "update"], "apt-get update")
            _run(run, ["apt-get", "download", package], f"download {package}", tmp)
        deb = _find_deb(tmp, package)
        if deb is None:
            raise CorpusError(f"apt-get download {package} produced no .deb")
        target = cache_dir / deb.name
        os.replace(deb, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(run: Runner, cmd: list[str], what: str, cwd=None) -> None:
    try:
        result = run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:
        raise CorpusError(f"cannot {what}: {e}") from e
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise CorpusError(
            f"cannot {what}: {' '.join(cmd)} exited with {result.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )


def deb_version(root: pathlib.Path) -> str:
    """The package version, from the name of the ``.deb`` it was unpacked from."""
    marker = root / ".deb"
    if not marker.is_file():
        return ""
    parts = marker.read_text().strip().split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) >= 3 else ""


@dataclasses.dataclass(frozen=True)
class CopyrightParagraph:
    """One ``Files:`` paragraph of a machine-readable Debian copyright file."""

    patterns: tuple[str, ...]
    copyright: str
    licence: str


def parse_copyright(text: str) -> list[CopyrightParagraph]:
    """The ``Files:`` paragraphs of a DEP-5 copyright file, in order."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, value = line.split(":", 1)
                key = key.strip().lower()
                fields[key] = value.strip()
        if "files" in fields and "license" in fields:
            paragraphs.append(
                CopyrightParagraph(
                    patterns=tuple(fields["files"].split()),
                    copyright=" ".join(fields.get("copyright", "").split()),
                    licence=fields["license"].splitlines()[0].strip(),
                )
            )
    return paragraphs


def licence_for(
    paragraphs: Sequence[CopyrightParagraph], installed_path: str
) -> tuple[str, str]:
    """``(licence, copyright)`` of an installed file: the last matching paragraph.

    Patterns name files of the source tree; an installed path matches a pattern
    when the pattern matches it or any of its tails (``wallpapers/Kite/*``
    matches ``/usr/share/wallpapers/Kite/contents/images/2560x1600.jpg``).
    ``debian/*`` never matches an installed data file.
    """
    path = installed_path.lstrip("/")
    parts = path.split("/")
    tails = ["/".join(parts[i:]) for i in range(len(parts))]
    best = ("unknown", "")
    for paragraph in paragraphs:
        for pattern in paragraph.patterns:
            if pattern.startswith("debian/"):
                continue
            if any(fnmatch.fnmatchcase(t, pattern) for t in tails):
                best = (paragraph.licence, paragraph.copyright)
                break
    return best


def read_copyright(root: pathlib.Path, package: str) -> list[CopyrightParagraph]:
    """The copyright paragraphs of an unpacked package (empty when absent)."""
    path = root / "usr/share/doc" / package / "copyright"
    try:
        return parse_copyright(path.read_text(errors="replace"))
    except OSError:
        return []


# --------------------------------------------------------------------------
# Candidates.
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# Reading, hashing, deduplication.
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Item:
    """A candidate that was read: a working copy of its pixels and its hashes."""

    source: Candidate
    image: Image.Image  # RGB (photo) or RGBA cropped to the object (object).
    full_size: tuple[int, int]  # Pixels of the original file.
    hashes: tuple[int, int, int, int]  # aHash, dHash, and of the mirror image.
    split: str = TRAIN

    @property
    def pixels(self) -> int:
        return self.full_size[0] * self.full_size[1]


def _bits_to_int(bits: np.ndarray) -> int:
    return int("".join("1" if b else "0" for b in bits), 2)


def _phash_pair(gray: Image.Image, size: int = HASH_SIZE) -> tuple[int, int]:
    """``(average hash, difference hash)`` of a gray image, ``size**2`` bits each."""
    a = np.asarray(gray.resize((size, size), Image.Resampling.BOX), np.float32)
    d = np.asarray(gray.resize((size + 1, size), Image.Resampling.BOX), np.float32)
    bits_a = (a > a.mean()).ravel()
    bits_d = (d[:, 1:] > d[:, :-1]).ravel()
    return _bits_to_int(bits_a), _bits_to_int(bits_d)


def perceptual_hashes(image: Image.Image) -> tuple[int, int, int, int]:
    """aHash and dHash of ``image`` and of its mirror image (RGBA: on mid-gray)."""
    if image.mode == "RGBA":
        flat = Image.new("RGBA", image.size, (128, 128, 128, 255))
        flat.alpha_composite(image)
        image = flat
    gray = image.convert("L")
    gray.thumbnail((64, 64), Image.Resampling.BOX)
    return (
        *_phash_pair(gray),
        *_phash_pair(gray.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    )


def is_near_duplicate(
    a: tuple[int, int, int, int],
    b: tuple[int, int, int, int],
    bits: int = DUPLICATE_BITS,
) -> bool:
    """Whether two images (or one and the other's mirror) look the same.

    Both the average hash and the difference hash must be within ``bits``.
    """

    def close(x: int, y: int) -> bool:
        return bin(x ^ y).count("1") <= bits

    same = close(a[0], b[0]) and close(a[1], b[1])
    mirrored = close(a[0], b[2]) and close(a[1], b[3])
    return same or mirrored


def is_monochrome(image: Image.Image) -> bool:
    """Whether an image (its opaque part, for RGBA) has no colour to learn."""
    small = image.copy()
    small.thumbnail((128, 128), Image.Resampling.BOX)
    a = np.asarray(small.convert("RGBA"), np.int16)
    opaque = a[..., 3] > 128
    if not opaque.any():
        return True
    rgb = a[..., :3][opaque]
    chroma = rgb.max(-1) - rgb.min(-1)
    return float(np.percentile(chroma, 99)) < MONOCHROME_CHROMA


def read_item(source: Candidate, options: Options, summary: Summary) -> Item | None:
    """Decodes a candidate; None (and counted in ``summary``) when it is unusable."""
    try:
        with Image.open(source.path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            full_size = im.size
            if source.role == "object":
                image = im.convert("RGBA")
            else:
                image = im.convert("RGB")
    except Exception:  # Any decoder error: skip, count, go on.
        summary.skip("unreadable", source.original)
        return None
    if min(full_size) < 16:
        summary.skip("too small", source.original)
        return None
    if source.role == "object":
        alpha = image.getchannel("A")
        if alpha.getextrema()[0] == 255:
            summary.skip("no transparency", source.original)
            return None
        box = alpha.point(lambda v: 255 if v > 8 else 0).getbbox()
        if box is None:
            summary.skip("empty alpha", source.original)
            return None
        image = image.crop(box)
        if max(image.size) < options.min_object_side:
            summary.skip("too small", source.original)
            return None
    if is_monochrome(image):
        summary.skip("monochrome", source.original)
        return None
    # Working copy: enough pixels for every later use, no more.
    keep = max(
        options.max_side,
        VAL_MIN_SIDE,
        int(np.ceil(options.composite_size / MIN_BACKGROUND_CROP)),
    )
    if source.role == "photo" and max(image.size) > keep:
        image = _resize_long_side(image, keep)
    return Item(source, image, full_size, perceptual_hashes(image))


def _resize_long_side(image: Image.Image, side: int) -> Image.Image:
    w, h = image.size
    scale = side / max(w, h)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def deduplicate(items: list[Item], summary: Summary) -> list[Item]:
    """Drops near-duplicates (also mirrored), keeping the largest of each group."""
    order = sorted(items, key=lambda it: (-it.pixels, it.source.key))
    kept: list[Item] = []
    for item in order:
        twin = next((k for k in kept if is_near_duplicate(item.hashes, k.hashes)), None)
        if twin is None:
            kept.append(item)
        else:
            summary.skip(
                "near-duplicate",
                f"{item.source.original} (of {twin.source.original})",
            )
    return sorted(kept, key=lambda it: it.source.key)


# --------------------------------------------------------------------------
# Splits.
# --------------------------------------------------------------------------


def stable_fraction(key: str) -> float:
    """A number in [0, 1) that depends on ``key`` only (SHA-256)."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def assign_splits(photos: list[Item], objects: list[Item], options: Options) -> None:
    """Sets ``split`` of every photo and object, in place.

    A source (or a group of photos, see :attr:`Candidate.group`) is validation
    when the stable hash of its :attr:`Candidate.split_key` falls below
    ``val_fraction``. Only photos of at least VAL_MIN_SIDE px long side may be
    validation photos; if fewer than ``min_val_photos`` fall there, the eligible
    photos of lowest hash are added. If the validation images (photos plus
    composites of validation objects) are still fewer than ``min_val_images``,
    objects of lowest hash are added. All of it is deterministic.
    """
    groups: dict[str, list[Item]] = collections.defaultdict(list)
    for it in photos + objects:
        groups[it.source.split_key].append(it)

    def eligible(members: list[Item]) -> bool:
        return all(
            it.source.role == "object" or max(it.full_size) >= VAL_MIN_SIDE
            for it in members
        )

    def set_split(members: list[Item], split: str) -> None:
        for it in members:
            it.split = split

    order = sorted(groups, key=lambda k: (stable_fraction(k), k))
    for key in order:
        is_val = stable_fraction(key) < options.val_fraction and eligible(groups[key])
        set_split(groups[key], VALIDATION if is_val else TRAIN)

    def count(role: str) -> int:
        return sum(
            it.split == VALIDATION and it.source.role == role
            for members in groups.values()
            for it in members
        )

    for key in order:
        if count("photo") >= options.min_val_photos:
            break
        members = groups[key]
        if members[0].source.role == "photo" and members[0].split == TRAIN:
            if eligible(members):
                set_split(members, VALIDATION)
    per_object = options.composites_per_object
    for key in order:
        if per_object <= 0:
            break
        if count("photo") + per_object * count("object") >= options.min_val_images:
            break
        members = groups[key]
        if members[0].source.role == "object" and members[0].split == TRAIN:
            set_split(members, VALIDATION)


# --------------------------------------------------------------------------
# Composites.
# --------------------------------------------------------------------------


def composite_rng(seed: int, key: str, index: int) -> np.random.Generator:
    """The random stream of one composite: a function of seed, object and index."""
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "big"), index])


def make_composite(
    obj: Image.Image,
    background: Image.Image,
    rng: np.random.Generator,
    size: int,
) -> tuple[Image.Image, Image.Image]:
    """Pastes an RGBA object onto a random crop of ``background``.

    The canvas has long side ``size`` and a random aspect ratio in ASPECTS; the
    background crop has a random scale (no upscaling where the background is
    large enough) and position, and is flipped at random; the object is scaled
    so that its long side is a random fraction (OBJECT_FRACTION) of the canvas
    short side (enlarged at most MAX_UPSCALE times), flipped at random and
    placed at a random position fully inside the canvas.

    Returns:
        ``(image, mask)``: the RGB composite and the object's alpha on the canvas
        (mode ``L``, 0 = background, 255 = object).
    """
    aspect = float(rng.uniform(*ASPECTS))
    if aspect >= 1:
        w, h = size, max(1, round(size / aspect))
    else:
        w, h = max(1, round(size * aspect)), size
    bw, bh = background.size
    fit = min(bw / w, bh / h)  # The largest crop with the canvas aspect: fit * (w, h).
    lo = min(1.0, max(MIN_BACKGROUND_CROP, 1.0 / fit))
    crop = float(rng.uniform(lo, 1.0)) * fit
    cw, ch = w * crop, h * crop
    x0 = float(rng.uniform(0, bw - cw)) if bw > cw else 0.0
    y0 = float(rng.uniform(0, bh - ch)) if bh > ch else 0.0
    canvas = background.resize(
        (w, h),
        Image.Resampling.LANCZOS,
        box=(x0, y0, x0 + cw, y0 + ch),
        reducing_gap=2.0,
    )
    if rng.random() < 0.5:
        canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    ow, oh = obj.size
    frac = float(rng.uniform(*OBJECT_FRACTION))
    scale = min(
        frac * min(w, h) / max(ow, oh), MAX_UPSCALE, 0.95 * w / ow, 0.95 * h / oh
    )
    nw, nh = max(1, round(ow * scale)), max(1, round(oh * scale))
    # Resample with premultiplied alpha: no dark fringes at the edges.
    layer_obj = obj.convert("RGBa").resize((nw, nh), Image.Resampling.LANCZOS)
    layer_obj = layer_obj.convert("RGBA")
    if rng.random() < 0.5:
        layer_obj = layer_obj.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    px = int(rng.integers(0, w - nw + 1))
    py = int(rng.integers(0, h - nh + 1))
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    layer.paste(layer_obj, (px, py))
    image = Image.alpha_composite(canvas.convert("RGBA"), layer).convert("RGB")
    return image, layer.getchannel("A")


# --------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------


def _jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def _png_bytes(image: Image.Image, optimize: bool = False) -> bytes:
    buf = io.BytesIO()
    if optimize:  # Smallest file, slow: for files kept in the repository.
        image.save(buf, "PNG", optimize=True)
    else:
        image.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _clean_partial_files(output_dir: pathlib.Path) -> None:
    """Removes temporary files an interrupted run (kill -9) left behind."""
    for sub in (output_dir, *(output_dir / d for d in (TRAIN, VALIDATION, MASK_DIR))):
        if sub.is_dir():
            for tmp in sub.glob(".*.part"):
                tmp.unlink(missing_ok=True)


def read_manifest(path: os.PathLike | str) -> list[dict]:
    """The rows of a MANIFEST.csv (empty when there is none)."""
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def _manifest_text(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in MANIFEST_COLUMNS})
    return buf.getvalue()


def _row(item: Item, file: str, kind: str, split: str, size) -> dict:
    s = item.source
    return {
        "file": file,
        "kind": kind,
        "split": split,
        "source_package": s.package,
        "package_version": s.version,
        "original_path": s.original,
        "licence": s.licence,
        "note": s.note,
        "mask": "",
        "object_split": "",
        "background_package": "",
        "background_path": "",
        "background_licence": "",
        "background_split": "",
        "width": str(size[0]),
        "height": str(size[1]),
    }


class _Writer:
    """Writes outputs atomically, keeping those that exist (resumability)."""

    def __init__(self, output_dir: pathlib.Path, options: Options, summary: Summary):
        self.output_dir = output_dir
        self.options = options
        self.summary = summary

    def exists(self, *rels: str) -> bool:
        return not self.options.overwrite and all(
            (self.output_dir / r).is_file() for r in rels
        )

    def size_of(self, rel: str) -> tuple[int, int]:
        with Image.open(self.output_dir / rel) as im:
            return im.size

    def write(self, rel: str, data: bytes) -> None:
        atomic_write_bytes(self.output_dir / rel, data)


def build_corpus(
    output_dir: os.PathLike | str,
    cache_dir: os.PathLike | str,
    options: Options = Options(),
    *,
    photos: Iterable[PythonPhoto] = PHOTOS,
    deb_packages: Sequence[str] = DEB_PACKAGES,
    fetch: Callable[[str, os.PathLike | str], pathlib.Path] = fetch_deb,
) -> Summary:
    """Builds (or resumes) the corpus in ``output_dir``; returns what it did.

    Args:
        output_dir: the corpus folder (train/, validation/, masks/, MANIFEST.csv).
        cache_dir: where Debian packages are downloaded and unpacked.
        options: see :class:`Options`.
        photos: the Python package photos to use.
        deb_packages: the Debian packages to use (a subset of DEB_PACKAGES).
        fetch: ``fetch(package, cache_dir) -> unpacked root``; :func:`fetch_deb`
            by default, which reuses an already unpacked ``cache_dir/<package>``.

    Raises:
        CorpusError: a Debian package cannot be fetched.
    """
    output_dir = pathlib.Path(output_dir)
    summary = Summary()
    candidates = python_candidates(photos, summary)
    for package in deb_packages:
        root = pathlib.Path(fetch(package, cache_dir))
        if package == WALLPAPER_PACKAGE:
            candidates += wallpaper_candidates(root, summary)
        elif package == STAMP_PACKAGE:
            candidates += stamp_candidates(root, summary)
        else:
            raise ValueError(f"Unknown source package {package!r}")

    items = []
    for source in tqdm(
        candidates, desc="reading", unit="img", disable=not options.progress
    ):
        item = read_item(source, options, summary)
        if item is not None:
            items.append(item)
    photos_ = deduplicate([it for it in items if it.source.role == "photo"], summary)
    objects = deduplicate([it for it in items if it.source.role == "object"], summary)
    assign_splits(photos_, objects, options)

    output_dir.mkdir(parents=True, exist_ok=True)
    _clean_partial_files(output_dir)
    writer = _Writer(output_dir, options, summary)
    rows = []
    jobs = [(it, None) for it in photos_] + [
        (it, i) for it in objects for i in range(options.composites_per_object)
    ]
    backgrounds = {
        split: [p for p in photos_ if p.source.background and p.split == split]
        for split in (TRAIN, VALIDATION)
    }
    for item, index in tqdm(
        jobs, desc="writing", unit="img", disable=not options.progress
    ):
        if index is None:
            rows.append(_write_photo(item, writer))
        else:
            row = _write_composite(item, index, backgrounds, writer)
            if row is not None:
                rows.append(row)
    summary.rows = sorted(rows, key=lambda r: r["file"])

    manifest = output_dir / MANIFEST_NAME
    previous = read_manifest(manifest)
    summary.removed = _remove_stale(output_dir, previous, summary.rows)
    text = _manifest_text(summary.rows)
    if not manifest.is_file() or manifest.read_text() != text:
        atomic_write_text(manifest, text)
        summary.manifest_written = True
    return summary


def _write_photo(item: Item, writer: _Writer) -> dict:
    rel = f"{item.split}/{item.source.name}.jpg"
    if writer.exists(rel):
        writer.summary.kept += 1
        size = writer.size_of(rel)
    else:
        side = writer.options.max_side
        if item.split == VALIDATION:
            side = max(side, VAL_MIN_SIDE)
        image = _resize_long_side(item.image, side)
        writer.write(rel, _jpeg_bytes(image, writer.options.jpeg_quality))
        writer.summary.written += 1
        size = image.size
    return _row(item, rel, "photo", item.split, size)


def _write_composite(
    item: Item, index: int, backgrounds: dict[str, list[Item]], writer: _Writer
) -> dict | None:
    options = writer.options
    rng = composite_rng(options.seed, item.source.key, index)
    # Training objects go on training backgrounds only; validation objects on
    # validation backgrounds when there are any.
    pool = backgrounds[item.split] or (
        backgrounds[TRAIN] if item.split == VALIDATION else []
    )
    if not pool:
        writer.summary.skip("no background for its split", item.source.original)
        return None
    bg = pool[int(rng.integers(len(pool)))]
    split = VALIDATION if VALIDATION in (item.split, bg.split) else TRAIN
    name = f"{item.source.name}_c{index}"
    rel = f"{split}/{name}.jpg"
    mask_rel = f"{MASK_DIR}/{name}.png"
    if writer.exists(rel, mask_rel):
        writer.summary.kept += 1
        size = writer.size_of(rel)
    else:
        image, mask = make_composite(item.image, bg.image, rng, options.composite_size)
        writer.write(mask_rel, _png_bytes(mask))
        writer.write(rel, _jpeg_bytes(image, options.jpeg_quality))
        writer.summary.written += 1
        size = image.size
    row = _row(item, rel, "composite", split, size)
    row.update(
        mask=mask_rel,
        object_split=item.split,
        background_package=bg.source.package,
        background_path=bg.source.original,
        background_licence=bg.source.licence,
        background_split=bg.split,
    )
    return row


def _remove_stale(
    output_dir: pathlib.Path, previous: list[dict], rows: list[dict]
) -> int:
    """Deletes files an earlier manifest listed that this one does not."""
    now = {r["file"] for r in rows} | {r["mask"] for r in rows if r["mask"]}
    removed = 0
    for row in previous:
        for rel in (row.get("file", ""), row.get("mask", "")):
            if not rel or rel in now or ".." in pathlib.PurePosixPath(rel).parts:
                continue
            path = output_dir / rel
            if path.is_file():
                path.unlink()
                removed += 1
    return removed


# --------------------------------------------------------------------------
# The bundled example pair.
# --------------------------------------------------------------------------

# The bundled example: two overlapping views of one validation photo (never
# trained on), the left part as the gray input, the right part as reference.
EXAMPLE_PHOTO = "plasma_FallenLeaf"
EXAMPLE_VIEW = 5 / 8  # Each view's share of the photo's width.


def write_example_pair(
    output_dir: os.PathLike | str,
    corpus_dir: os.PathLike | str,
    photo: str = EXAMPLE_PHOTO,
) -> None:
    """Writes ``example_gray.png`` (luminance only) and ``example_reference.png``.

    Both come from the built corpus's photo ``photo`` (file stem, either
    split): the left :data:`EXAMPLE_VIEW` of its width as the gray input and
    the right one as the colour reference, a related pair that overlaps.

    Raises:
        CorpusError: the photo is not in the corpus.
    """
    output_dir = pathlib.Path(output_dir)
    matches = sorted(pathlib.Path(corpus_dir).glob(f"*/{photo}.*"))
    if not matches:
        raise CorpusError(
            f"the example photo {photo} is not in the corpus {corpus_dir}"
        )
    with Image.open(matches[0]) as im:
        rgb = im.convert("RGB")
    width, height = rgb.size
    side = round(width * EXAMPLE_VIEW)
    gray = _png_bytes(rgb.crop((0, 0, side, height)).convert("L"), optimize=True)
    ref = _png_bytes(rgb.crop((width - side, 0, width, height)), optimize=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output_dir / "example_gray.png", gray)
    atomic_write_bytes(output_dir / "example_reference.png", ref)
