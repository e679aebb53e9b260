"""Composites: an object photo (with alpha) pasted onto a random background crop."""

from __future__ import annotations

import hashlib

import numpy as np
from PIL import Image

MIN_BACKGROUND_CROP = 0.35  # Smallest background crop side / largest that fits.
OBJECT_FRACTION = (0.35, 0.8)  # Object long side / canvas short side.
MAX_UPSCALE = 2.0  # An object is enlarged at most this much.
ASPECTS = (0.75, 1.5)  # Composite width / height.


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
