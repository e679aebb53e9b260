"""Reading candidates into items (working copies and hashes) and deduplicating them."""

from __future__ import annotations

import dataclasses

import numpy as np
from PIL import Image, ImageOps

from attention_colorization.data.corpus.candidates import Candidate
from attention_colorization.data.corpus.composites import MIN_BACKGROUND_CROP
from attention_colorization.data.corpus.imaging import resize_long_side
from attention_colorization.data.corpus.phash import (
    is_near_duplicate,
    perceptual_hashes,
)
from attention_colorization.data.corpus.settings import TRAIN, VAL_MIN_SIDE, Options
from attention_colorization.data.corpus.summary import Summary

MONOCHROME_CHROMA = 4.0  # 99th percentile of max(RGB) - min(RGB) below this: gray.


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
        image = resize_long_side(image, keep)
    return Item(source, image, full_size, perceptual_hashes(image))


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
