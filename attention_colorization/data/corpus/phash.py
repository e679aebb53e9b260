"""Perceptual hashes (average and difference hash, also mirrored) and near-duplicates."""

from __future__ import annotations

import numpy as np
from PIL import Image

HASH_SIZE = 8  # Perceptual hashes of HASH_SIZE**2 bits.
DUPLICATE_BITS = 6  # Both hashes within this many bits: a near-duplicate.


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
