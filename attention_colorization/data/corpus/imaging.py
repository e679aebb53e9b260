"""Pillow helpers of the corpus: long-side resizing, JPEG and PNG bytes."""

from __future__ import annotations

import io

from PIL import Image


def resize_long_side(image: Image.Image, side: int) -> Image.Image:
    """``image`` shrunk to a long side of ``side`` (never enlarged)."""
    w, h = image.size
    scale = side / max(w, h)
    if scale >= 1:
        return image
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def jpeg_bytes(image: Image.Image, quality: int) -> bytes:
    """A JPEG file of ``image`` (4:4:4 chroma, optimised)."""
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality, subsampling=0, optimize=True)
    return buf.getvalue()


def png_bytes(image: Image.Image, optimize: bool = False) -> bytes:
    """A PNG file of ``image``."""
    buf = io.BytesIO()
    if optimize:  # Smallest file, slow: for files kept in the repository.
        image.save(buf, "PNG", optimize=True)
    else:
        image.save(buf, "PNG", compress_level=6)
    return buf.getvalue()
