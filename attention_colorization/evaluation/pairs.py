"""Evaluation pairs: (gray target, colour reference or palette, kind).

Kinds (:data:`KINDS`): the paper's (Sec. 4) ``related`` - a semantically
related reference; ``independent`` - an unrelated one; ``palette`` - a palette
of colours instead of a reference photo; and ours: ``rotated`` - the related
reference with its ab plane rotated by :data:`ROTATION_DEG` (does the output
follow the reference, or recall the photo's colours? SPEC.md, "Evaluation");
``auto`` - no reference at all (the model's automatic mode).

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

Which kinds are built (``kinds``, ``--kinds``): from a folder, by default
``related`` and ``independent`` (+ ``palette`` with palettes) here, every kind
that applies in :func:`attention_colorization.evaluation.evaluate_lib.evaluate`;
from a CSV, by default its rows as they are; naming ``rotated`` or ``auto``
derives them from the CSV's related rows / its targets. Order: the paper's
kinds target by target (related, independent, palette), then ours target by
target (rotated, auto), so ``--max_pairs`` takes the paper's kinds first.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import pathlib
from collections.abc import Sequence

import numpy as np

from attention_colorization import imageio
from attention_colorization.colorizer import parse_palette
from attention_colorization.evaluation import metrics
from attention_colorization.evaluation.images import ImageCache

KINDS = ("related", "independent", "rotated", "palette", "auto")
PAPER_KINDS = ("related", "independent", "palette")  # The paper's Table 1.
DERIVED_KINDS = ("rotated", "auto")  # Built from related pairs / targets.
DIR_KINDS = ("related", "independent")  # build_pairs_from_dir's default.
ROTATION_DEG = 120.0  # ab rotation of the ``rotated`` reference, degrees.
NO_REFERENCE = "(none)"  # The reference label of an ``auto`` pair.
NEEDS_PALETTES = "--kinds=palette needs --palettes='#hex,#hex;#hex,...'"
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
SOURCE_ROTATED = (
    "; rotated = the related reference with its ab plane rotated by {deg:g} degrees"
)
SOURCE_AUTO = "; auto = no reference (automatic mode)"


class PairsError(ValueError):
    """Bad pairs input; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Pair:
    """One evaluation pair.

    Attributes:
        target: the colour ground-truth image, turned gray for colourisation.
        reference: the reference image (for ``rotated``, before its rotation);
            None for a ``palette`` or ``auto`` pair.
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

    ``kind=rotated``: the reference column holds the related reference before
    its rotation; ``kind=auto``: the reference column may be empty.

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
            if not row[column] and not (kind == "auto" and column == "reference"):
                raise PairsError(f"{where}: empty {column}")
        target = _resolve(row["target"], root, where, "target")
        if kind == "auto":
            pairs.append(Pair(target, None, kind, None, row["target"], NO_REFERENCE))
        elif kind == "palette":
            palette = _check_palette(row["reference"], where)
            pairs.append(Pair(target, None, kind, palette, row["target"], palette))
        else:
            reference = _resolve(row["reference"], root, where, "reference")
            label = row["reference"]
            if kind == "rotated":
                label = rotated_label(label)
            pairs.append(Pair(target, reference, kind, None, row["target"], label))
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


def parse_kinds(kinds: str | Sequence[str]) -> tuple[str, ...]:
    """``'related, Rotated'`` or a list -> known kinds, in :data:`KINDS` order.

    Raises:
        PairsError: an unknown kind, or none given (one line).
    """
    if isinstance(kinds, str):
        kinds = kinds.split(",")
    names = {k.strip().lower() for k in kinds if k.strip()}
    unknown = sorted(names - set(KINDS))
    if unknown or not names:
        raise PairsError(
            f"--kinds: unknown kind(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(KINDS)}"
        )
    return tuple(k for k in KINDS if k in names)


def rotated_label(label: str, degrees: float = ROTATION_DEG) -> str:
    """How a rotated reference is named in the results."""
    return f"{label} (ab rotated {degrees:g} deg)"


def rotate_reference(image, degrees: float = ROTATION_DEG) -> np.ndarray:
    """An image with its ab plane rotated by ``degrees``, L kept: uint8 ``[H, W, 3]``.

    ``(a, b) -> R(degrees) (a, b)``
    (:func:`attention_colorization.data.augment.rotate_ab`), then into the sRGB
    gamut by reducing chroma (hue and L kept) and rounded to 8 bits.
    """
    import tensorflow as tf

    from attention_colorization.data.augment import rotate_ab

    lab = metrics.rgb_to_lab(image)  # [H, W, 3]
    ab = tf.constant(lab[..., 1:], tf.float32)
    rotated = rotate_ab(ab, tf.constant(np.radians(degrees), tf.float32), 1.0)
    return metrics.to_uint8(metrics.lab_to_rgb(lab[..., 0], rotated.numpy()))


def derive_pairs(pairs: Sequence[Pair], kinds: Sequence[str]) -> list[Pair]:
    """The ``rotated`` pairs of the related pairs and one ``auto`` pair per target,
    for the ``kinds`` named, target by target (pairs already there are not
    repeated)."""
    have = {(p.target, p.reference, p.kind) for p in pairs}
    out = []
    for pair in pairs:
        if pair.kind == "related" and "rotated" in kinds:
            key = (pair.target, pair.reference, "rotated")
            if key not in have:
                have.add(key)
                label = rotated_label(pair.reference_label or str(pair.reference))
                out.append(
                    Pair(
                        pair.target,
                        pair.reference,
                        "rotated",
                        None,
                        pair.target_label,
                        label,
                    )
                )
        if "auto" in kinds and (pair.target, None, "auto") not in have:
            have.add((pair.target, None, "auto"))
            out.append(
                Pair(pair.target, None, "auto", None, pair.target_label, NO_REFERENCE)
            )
    # Target by target: rotated before auto.
    order = {t: i for i, t in enumerate(dict.fromkeys(p.target for p in out))}
    return sorted(out, key=lambda p: (order[p.target], p.kind == "auto"))


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
    kinds: Sequence[str] | None = None,
    cache: ImageCache | None = None,
) -> tuple[list[Pair], str]:
    """Builds pairs of the photos of ``data_dir``: each photo is a target.

    Each photo is decoded once (through ``cache``, which keeps its evaluation
    size); unreadable photos are skipped (``cache.skipped``) and the others
    paired among themselves.

    Args:
        data_dir: folder of colour photos (recursive); ``output_dir`` is skipped
            if it lies inside.
        output_dir: where distorted copies go (``references/``) without VGG.
        vgg_weights: ``"none"``, ``"imagenet"`` or a weights file path.
        feature_size: VGG19 input side.
        kinds: the kinds to build, of ``related``, ``independent``,
            ``rotated``, ``auto`` (default :data:`DIR_KINDS`; ``palette`` is
            added by :func:`load_pairs`).
        cache: the evaluation's :class:`ImageCache` (default: a private one).

    Returns:
        (pairs, a sentence saying how they were built). Order: related, then
        independent, target by target; then rotated and auto, target by target.

    Raises:
        PairsError: fewer than two readable images, or VGG19 weights that
            cannot be had.
    """
    kinds = tuple(DIR_KINDS if kinds is None else kinds)
    root = pathlib.Path(data_dir)
    output_dir = pathlib.Path(output_dir)
    cache = cache if cache is not None else ImageCache(None)
    use_vgg = bool(vgg_weights) and vgg_weights.lower() != "none"
    copies = not use_vgg and ("related" in kinds or "rotated" in kinds)

    paths, labels, hists, crops, related = [], [], [], [], []
    for path in list_images(root, exclude=output_dir):
        label = _label(path, root)
        rgb = cache.decode(path, label)
        if rgb is None:
            continue  # Unreadable: cache.skipped says why.
        paths.append(path)
        labels.append(label)
        if use_vgg:
            crops.append(metrics.resize_center_crop(rgb, feature_size))
        else:
            hists.append(histogram_features([rgb])[0])  # [441]
        if copies:
            name = label.replace("/", "__").rsplit(".", 1)[0] + "_related.png"
            copy = distorted_copy(rgb)
            imageio.save_image_atomic(
                copy, output_dir / REFERENCE_DIR / name, overwrite=True
            )
            cache.put(output_dir / REFERENCE_DIR / name, copy)
            related.append(
                (output_dir / REFERENCE_DIR / name, f"{REFERENCE_DIR}/{name}")
            )
    if len(paths) < 2:
        skipped = "; ".join(f"{f} ({r})" for f, r in cache.skipped.values())
        raise PairsError(
            f"{root}: found {len(paths)} readable image(s); building pairs needs at "
            f"least two" + (f" (skipped: {skipped})" if skipped else "")
        )
    if use_vgg:
        feats = vgg_features(crops, vgg_weights, feature_size)
        nearest, farthest = nearest_and_farthest(1.0 - feats @ feats.T)
        related = [(paths[j], labels[j]) for j in nearest]
        source = SOURCE_VGG.format(path=root, w=vgg_weights)
    else:
        hists = np.stack(hists)  # [N, 441]
        similarity = np.minimum(hists[:, None, :], hists[None, :, :]).sum(-1)
        _, farthest = nearest_and_farthest(1.0 - similarity)
        source = SOURCE_HIST.format(path=root)

    pairs = []
    for i, path in enumerate(paths):
        if "related" in kinds:
            pairs.append(
                Pair(path, related[i][0], "related", None, labels[i], related[i][1])
            )
        if "independent" in kinds:
            j = farthest[i]
            pairs.append(
                Pair(path, paths[j], "independent", None, labels[i], labels[j])
            )
    # The derived kinds come from every target's related pair (its reference is
    # only needed, and only known, when rotated pairs are asked for).
    base = [
        Pair(
            path,
            related[i][0] if related else None,
            "related",
            None,
            labels[i],
            related[i][1] if related else "",
        )
        for i, path in enumerate(paths)
    ]
    pairs += derive_pairs(base, kinds)
    return pairs, source + _derived_source(kinds)


def _derived_source(kinds: Sequence[str]) -> str:
    text = SOURCE_ROTATED.format(deg=ROTATION_DEG) if "rotated" in kinds else ""
    return text + (SOURCE_AUTO if "auto" in kinds else "")


def load_pairs(
    pairs_csv: os.PathLike | None,
    data_dir: os.PathLike | None,
    output_dir: os.PathLike,
    vgg_weights: str = "none",
    palettes: str | None = None,
    feature_size: int = VGG_FEATURE_SIZE,
    kinds: Sequence[str] | None = None,
    cache: ImageCache | None = None,
) -> tuple[list[Pair], str]:
    """The pairs from exactly one of ``pairs_csv`` and ``data_dir``, plus palettes.

    Args:
        pairs_csv, data_dir: the source (exactly one).
        output_dir: where a folder's distorted related copies go.
        vgg_weights, feature_size: see :func:`build_pairs_from_dir`.
        palettes: ``'#a,#b;#c'``: one ``palette`` pair per target.
        kinds: the kinds to keep or build (:func:`parse_kinds`); None: the
            CSV's rows, or a folder's :data:`DIR_KINDS`, plus palette pairs
            when palettes are given.
        cache: the evaluation's :class:`ImageCache` (folder mode).

    Returns:
        (pairs, a sentence saying where they came from and how they were built).

    Raises:
        PairsError: bad input, or ``palette`` asked for without palettes.
    """
    if bool(pairs_csv) == bool(data_dir):
        raise PairsError("give exactly one of --pairs=CSV and --data_dir=DIR")
    palette_list = parse_palettes(palettes)
    if kinds is not None:
        kinds = parse_kinds(kinds)
        if "palette" in kinds and not palette_list and data_dir:
            raise PairsError(NEEDS_PALETTES)
        if "palette" not in kinds:
            palette_list = []
    if pairs_csv:
        pairs = read_pairs_csv(pairs_csv)
        source = SOURCE_CSV.format(path=pairs_csv)
        if kinds is not None:
            derived = derive_pairs(pairs, kinds)
            pairs = [p for p in pairs if p.kind in kinds]
            pairs += [p for p in derived if p.kind in kinds]
            if not pairs:
                raise PairsError(
                    f"{pairs_csv}: no pairs of the kinds {','.join(kinds)} (--kinds)"
                )
            source += _derived_source(kinds)
    else:
        pairs, source = build_pairs_from_dir(
            data_dir, output_dir, vgg_weights, feature_size, kinds, cache
        )
    if palette_list:
        paper = [p for p in pairs if p.kind in PAPER_KINDS]
        ours = [p for p in pairs if p.kind not in PAPER_KINDS]
        if not paper:  # Only derived kinds: palettes follow them.
            paper, ours = ours, []
        pairs = add_palette_pairs(paper, palette_list) + ours
        source += SOURCE_PALETTES.format(n=len(palette_list))
    return pairs, source
