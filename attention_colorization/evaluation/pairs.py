"""Evaluation pairs: (gray target, colour reference or palette, kind).

Kinds (the paper's Sec. 4): ``related`` - a semantically related reference;
``independent`` - an unrelated one; ``palette`` - a palette of colours instead
of a reference photo.

Two sources:

* :func:`read_pairs_csv` - a CSV with the columns ``target,reference,kind``;
  paths are relative to the CSV's folder or absolute; for ``kind=palette`` the
  reference column holds the colours, e.g. ``"#d8a47f,#6b8f71"`` (quoted) or
  ``#d8a47f;#6b8f71``.
* :func:`build_pairs_from_dir` - every image of a folder is a target. With VGG19
  weights (the paper's way): related = nearest neighbour and independent =
  farthest image in VGG19 feature space (block5 features, global average
  pooled, cosine distance). Without them (the default here, offline): related =
  a geometrically distorted copy of the target (mirror + crop + rescale,
  written to the output folder) and independent = the image whose 441-bin ab
  histogram is least similar (lowest HIS).

Palettes (``--palettes='#hex,#hex;#hex,...'``: ``;`` separates palettes, ``,``
colours) add one ``palette`` pair per target, palettes taken in turn.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib

import numpy as np

from attention_colorization import imageio
from attention_colorization.colorizer import parse_palette
from attention_colorization.evaluation import metrics

KINDS = ("related", "independent", "palette")
CSV_COLUMNS = ("target", "reference", "kind")
VGG_FEATURE_SIZE = 224  # VGG19's ImageNet input size.
HIST_FEATURE_SIZE = 64  # Side of the thumbnails whose ab histograms are compared.
REFERENCE_DIR = "references"  # Distorted copies, under the output folder.
# Distortion of the related copy: crop fractions (top, left, bottom, right).
DISTORT_CROP = (0.08, 0.12, 0.04, 0.02)

SOURCE_CSV = "read from {path}"
SOURCE_VGG = (
    "built from {path}: related = nearest neighbour, independent = farthest image "
    "in VGG19 feature space (block5, average-pooled, cosine distance; weights {w})"
)
SOURCE_HIST = (
    "built from {path} without VGG19 weights (--vgg_weights=none): related = a "
    "geometrically distorted copy of the target (mirror + crop + bicubic rescale), "
    "independent = the image with the least similar 441-bin ab histogram (lowest HIS)"
)
SOURCE_PALETTES = "; palette pairs: {n} palette(s) given with --palettes, in turn"


class PairsError(ValueError):
    """Bad pairs input; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """One evaluation pair.

    Attributes:
        target: the colour ground-truth image, turned gray for colourisation.
        reference: the reference image; None for a ``palette`` pair.
        kind: one of :data:`KINDS`.
        palette: the palette text (``'#rrggbb,...'``) of a ``palette`` pair.
        target_label, reference_label: how the pair is named in the results.
    """

    target: pathlib.Path
    reference: pathlib.Path | None
    kind: str
    palette: str | None = None
    target_label: str = ""
    reference_label: str = ""


def _label(path: pathlib.Path, root: pathlib.Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _check_palette(text: str, where: str) -> str:
    try:
        parse_palette(text)
    except ValueError as error:
        raise PairsError(f"{where}: bad palette {text!r} ({error})") from None
    return text.strip()


def read_pairs_csv(path: os.PathLike) -> list[Pair]:
    """Reads ``target,reference,kind`` rows (extra columns are ignored).

    Raises:
        PairsError: a missing file or column, an unknown kind, an empty cell, a
            target or reference that does not exist, a bad palette, no rows.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise PairsError(f"{path}: no such pairs CSV")
    root = path.parent
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in CSV_COLUMNS if c not in columns]
        if missing:
            raise PairsError(
                f"{path}: missing column(s) {', '.join(missing)}; the header must have "
                f"{','.join(CSV_COLUMNS)} (found {','.join(columns) or 'nothing'})"
            )
        rows = [
            {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            for row in reader
        ]
    pairs = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}:{line}"
        if not any(row.get(c) for c in CSV_COLUMNS):
            continue  # A blank line.
        kind = row["kind"].lower()
        if kind not in KINDS:
            raise PairsError(
                f"{where}: unknown kind {row['kind']!r} (use {', '.join(KINDS)})"
            )
        for column in CSV_COLUMNS:
            if not row[column]:
                raise PairsError(f"{where}: empty {column}")
        target = _resolve(row["target"], root, where, "target")
        if kind == "palette":
            palette = _check_palette(row["reference"], where)
            pairs.append(Pair(target, None, kind, palette, row["target"], palette))
        else:
            reference = _resolve(row["reference"], root, where, "reference")
            pairs.append(
                Pair(target, reference, kind, None, row["target"], row["reference"])
            )
    if not pairs:
        raise PairsError(f"{path}: no pairs (only a header?)")
    return pairs


def _resolve(text: str, root: pathlib.Path, where: str, what: str) -> pathlib.Path:
    path = pathlib.Path(text).expanduser()
    if not path.is_absolute():
        path = root / path
    if not path.is_file():
        raise PairsError(f"{where}: {what} {text!r} not found ({path})")
    return path


def list_images(data_dir: os.PathLike, exclude: os.PathLike | None = None):
    """Image files under ``data_dir`` (recursive, sorted), without ``exclude``'s.

    Raises:
        PairsError: not a folder, or fewer than two images.
    """
    root = pathlib.Path(data_dir)
    if not root.is_dir():
        raise PairsError(f"{root}: no such folder (--data_dir)")
    skip = pathlib.Path(exclude).resolve() if exclude else None
    paths = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in imageio.IMAGE_EXTENSIONS:
            continue
        if skip is not None and path.resolve().is_relative_to(skip):
            continue
        paths.append(path)
    if len(paths) < 2:
        raise PairsError(
            f"{root}: found {len(paths)} image(s); building pairs needs at least two"
        )
    return paths


def parse_palettes(text: str | None) -> list[str]:
    """``'#a,#b;#c,#d'`` -> ``['#a,#b', '#c,#d']`` (each checked)."""
    if not text:
        return []
    palettes = [p.strip() for p in text.split(";") if p.strip()]
    return [_check_palette(p, "--palettes") for p in palettes]


def add_palette_pairs(pairs: list[Pair], palettes: list[str]) -> list[Pair]:
    """Adds one ``palette`` pair per distinct target, the palettes taken in turn.

    Each palette pair follows the last pair of its target.
    """
    if not palettes:
        return list(pairs)
    labels = {}
    for pair in pairs:
        labels.setdefault(pair.target, pair.target_label)
    extra = {}
    for i, (target, label) in enumerate(labels.items()):
        palette = palettes[i % len(palettes)]
        extra[target] = Pair(target, None, "palette", palette, label, palette)
    out = []
    for i, pair in enumerate(pairs):
        out.append(pair)
        last = i + 1 == len(pairs) or pairs[i + 1].target != pair.target
        if last and pair.target in extra:
            out.append(extra.pop(pair.target))
    return out + list(extra.values())


# ------------------------------------------------------------------ features


def histogram_features(images: list[np.ndarray]) -> np.ndarray:
    """441-bin ab histograms ``[N, 441]`` of images (any sizes)."""
    feats = []
    for image in images:
        small = metrics.resize_center_crop(image, HIST_FEATURE_SIZE)
        feats.append(metrics.ab_histogram(small))
    return np.stack(feats)


def load_vgg19(weights: str, size: int = VGG_FEATURE_SIZE):
    """VGG19 without its classifier, average-pooled block5 output ``[B, 512]``.

    Args:
        weights: ``"imagenet"`` (Keras' cache in ``~/.keras/models``, else a
            download) or a path to ``vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5``.

    Raises:
        PairsError: the weights cannot be had, with how to proceed.
    """
    import keras

    if weights != "imagenet" and not os.path.isfile(weights):
        raise PairsError(
            f"--vgg_weights={weights!r} is neither 'imagenet', 'none' nor an existing "
            "VGG19 weights file"
        )
    try:
        return keras.applications.VGG19(
            include_top=False,
            weights=weights,
            input_shape=(size, size, 3),
            pooling="avg",
        )
    except Exception as error:  # Keras raises a bare Exception on URL failures.
        first = (str(error).splitlines() or [type(error).__name__])[0][:240]
        raise PairsError(
            f"could not load VGG19 weights {weights!r} ({first}). Offline? Download "
            "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and pass "
            "--vgg_weights=/path/to/it, or use --vgg_weights=none (related = a "
            "distorted copy of the target, independent = the farthest colour histogram)"
        ) from None


def vgg_features(
    images: list[np.ndarray], weights: str, size: int = VGG_FEATURE_SIZE
) -> np.ndarray:
    """L2-normalised VGG19 block5 features ``[N, 512]`` of images (any sizes).

    Each image is resized (short side ``size``) and centre-cropped, then given
    the Caffe-style preprocessing of ``keras.applications.vgg19``.
    """
    import keras

    model = load_vgg19(weights, size)
    batch = np.stack([metrics.resize_center_crop(im, size) for im in images]).astype(
        np.float32
    )
    batch = keras.applications.vgg19.preprocess_input(batch)  # [N, S, S, 3]
    feats = np.asarray(model.predict(batch, batch_size=8, verbose=0), np.float64)
    norms = np.linalg.norm(feats, axis=-1, keepdims=True)
    return feats / np.maximum(norms, 1e-12)  # [N, 512]


def nearest_and_farthest(distance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a distance matrix ``[N, N]``: the nearest and farthest other.

    Ties go to the lowest index. Returns two int arrays ``[N]``.
    """
    distance = np.asarray(distance, np.float64)
    n = distance.shape[0]
    if distance.shape != (n, n) or n < 2:
        raise ValueError(
            f"need a square distance matrix of N >= 2, got {distance.shape}"
        )
    eye = np.eye(n, dtype=bool)
    nearest = np.argmin(np.where(eye, np.inf, distance), axis=1)
    farthest = np.argmax(np.where(eye, -np.inf, distance), axis=1)
    return nearest, farthest


def distorted_copy(image) -> np.ndarray:
    """The related reference without VGG19: mirrored, cropped, rescaled back.

    Deterministic: a horizontal mirror, an off-centre crop (:data:`DISTORT_CROP`
    of the height/width from the top, left, bottom, right), then bicubic
    rescaling to the original size. uint8 ``[H, W, 3]``.
    """
    from PIL import Image

    rgb = metrics.to_uint8(image)[:, ::-1]
    height, width = rgb.shape[:2]
    top, left, bottom, right = DISTORT_CROP
    y0, x0 = int(round(top * height)), int(round(left * width))
    y1 = height - int(round(bottom * height))
    x1 = width - int(round(right * width))
    crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    return np.asarray(
        Image.fromarray(crop).resize((width, height), Image.Resampling.BICUBIC)
    )


def build_pairs_from_dir(
    data_dir: os.PathLike,
    output_dir: os.PathLike,
    vgg_weights: str = "none",
    feature_size: int = VGG_FEATURE_SIZE,
) -> tuple[list[Pair], str]:
    """Builds one related and one independent pair per image of ``data_dir``.

    Args:
        data_dir: folder of colour photos (recursive); ``output_dir`` is skipped
            if it lies inside.
        output_dir: where distorted copies go (``references/``) without VGG.
        vgg_weights: ``"none"``, ``"imagenet"`` or a weights file path.
        feature_size: VGG19 input side.

    Returns:
        (pairs, a sentence saying how they were built). Pairs are ordered
        target by target: related, then independent.

    Raises:
        PairsError: too few images, or VGG19 weights that cannot be had.
    """
    root = pathlib.Path(data_dir)
    output_dir = pathlib.Path(output_dir)
    paths = list_images(root, exclude=output_dir)
    images = [metrics.load_rgb(p) for p in paths]
    use_vgg = bool(vgg_weights) and vgg_weights.lower() != "none"
    if use_vgg:
        feats = vgg_features(images, vgg_weights, feature_size)
        nearest, farthest = nearest_and_farthest(1.0 - feats @ feats.T)
        source = SOURCE_VGG.format(path=root, w=vgg_weights)
    else:
        hists = histogram_features(images)  # [N, 441]
        similarity = np.minimum(hists[:, None, :], hists[None, :, :]).sum(-1)
        nearest = None
        _, farthest = nearest_and_farthest(1.0 - similarity)
        source = SOURCE_HIST.format(path=root)

    pairs = []
    for i, path in enumerate(paths):
        label = _label(path, root)
        if nearest is not None:
            related = paths[nearest[i]]
            related_label = _label(related, root)
        else:
            name = label.replace("/", "__").rsplit(".", 1)[0] + "_related.png"
            related = output_dir / REFERENCE_DIR / name
            imageio.save_image_atomic(
                distorted_copy(images[i]), related, overwrite=True
            )
            related_label = f"{REFERENCE_DIR}/{name}"
        pairs.append(Pair(path, related, "related", None, label, related_label))
        independent = paths[farthest[i]]
        pairs.append(
            Pair(
                path, independent, "independent", None, label, _label(independent, root)
            )
        )
    return pairs, source


def load_pairs(
    pairs_csv: os.PathLike | None,
    data_dir: os.PathLike | None,
    output_dir: os.PathLike,
    vgg_weights: str = "none",
    palettes: str | None = None,
    feature_size: int = VGG_FEATURE_SIZE,
) -> tuple[list[Pair], str]:
    """The pairs from exactly one of ``pairs_csv`` and ``data_dir``, plus palettes.

    Returns:
        (pairs, a sentence saying where they came from and how they were built).
    """
    if bool(pairs_csv) == bool(data_dir):
        raise PairsError("give exactly one of --pairs=CSV and --data_dir=DIR")
    palette_list = parse_palettes(palettes)
    if pairs_csv:
        pairs = read_pairs_csv(pairs_csv)
        source = SOURCE_CSV.format(path=pairs_csv)
    else:
        pairs, source = build_pairs_from_dir(
            data_dir, output_dir, vgg_weights, feature_size
        )
    if palette_list:
        pairs = add_palette_pairs(pairs, palette_list)
        source += SOURCE_PALETTES.format(n=len(palette_list))
    return pairs, source
