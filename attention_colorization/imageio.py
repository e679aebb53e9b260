"""Reading and writing images as a person expects, with one-line errors.

* EXIF orientation is applied; palette, 16-bit, float, gray+alpha and CMYK
  images become float RGB in [0, 1]; an alpha channel is kept aside.
* Decompression bombs and images too small to colourise are refused.
* Images needed only small (references) decode small: a JPEG straight to a
  reduced size (its DCT scaling, :func:`load_image` ``draft_size``), then an
  integer box reduction (:func:`reduce_image`).
* Writes go to a temporary name in the destination folder, then are renamed:
  no half-written file is ever left behind.
"""

from __future__ import annotations

import contextlib
import os
import pathlib

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from attention_colorization.atomic import atomic_open

DEFAULT_MAX_PIXELS = 64_000_000  # 8000 x 8000; larger needs --max_pixels.
MIN_SIDE = 8  # Smaller images carry too little to colourise.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


class ImageError(ValueError):
    """A bad input or output image; the message is one line for the user."""


def load_image(
    path: os.PathLike,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Opens, verifies and fully decodes an image file, EXIF-rotated.

    Args:
        path: the image file.
        max_pixels: refuse images with more pixels (checked on the header).
        draft_size: ``(width, height)``: a JPEG may decode straight to the
            smallest of its DCT scalings (1/2, 1/4, 1/8) that is at least this
            size (``Image.draft``), for an image needed only small; other
            formats decode in full.

    Raises:
        ImageError: missing, empty, not an image, truncated, too small or too large.
    """
    with _opened(path, max_pixels) as probe:
        if draft_size is not None:
            probe.draft(None, tuple(int(v) for v in draft_size))
        probe.load()  # Full decode: truncated files fail here.
        image = ImageOps.exif_transpose(probe)
        image.load()
    return image


def probe_image(path: os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple:
    """The checks of :func:`load_image` that need only the header (no decode).

    Returns:
        ``(width, height)`` as stored (before any EXIF rotation).

    Raises:
        ImageError: missing, empty, not an image, too small or too large.
    """
    with _opened(path, max_pixels) as probe:
        return probe.size


@contextlib.contextmanager
def _opened(path: os.PathLike, max_pixels: int):
    """``Image.open(path)`` after the file checks and the size guard; Pillow's
    errors inside the block become one-line :class:`ImageError` s."""
    path = pathlib.Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    # check_size is the decompression-bomb guard: it runs on the header's size,
    # before any pixel is decoded. Pillow's own guard (a fixed 89.5 MP) is off
    # meanwhile, so that max_pixels decides, whether above or below it.
    pillow_limit = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        with Image.open(path) as probe:
            width, height = probe.size
            check_size(width, height, max_pixels, str(path))
            yield probe
    except ImageError:
        raise
    except UnidentifiedImageError as error:
        raise ImageError(
            f"{path}: not a readable image ({_first_line(error)})"
        ) from None
    except PermissionError:
        raise ImageError(f"{path}: permission denied") from None
    except (OSError, SyntaxError, ValueError) as error:
        raise ImageError(
            f"{path}: corrupt or truncated image ({_first_line(error)})"
        ) from None
    finally:
        Image.MAX_IMAGE_PIXELS = pillow_limit


def check_size(
    width: int,
    height: int,
    max_pixels: int,
    name: str = "image",
    min_side: int = MIN_SIDE,
) -> None:
    if min(width, height) < min_side:
        raise ImageError(
            f"{name}: image too small ({width}x{height}); the short side must be "
            f">= {min_side} pixels"
        )
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image too large ({width}x{height} = {width * height:,} pixels, "
            f"limit {max_pixels:,}; raise it with --max_pixels)"
        )


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__


def reduce_image(image: Image.Image, size: int) -> Image.Image:
    """Shrinks ``image`` by an integer factor (``Image.reduce``: box averages)
    while both sides stay at least ``size``; modes ``reduce`` lacks are first
    converted as :func:`to_float_rgb` would (P, 1 -> RGB/RGBA/L)."""
    factor = min(image.width, image.height) // max(int(size), 1)
    if factor < 2:
        return image
    if image.mode in ("P", "PA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):
        return image  # 16-bit: no box reduction in Pillow; decoded as is
    return image.reduce(factor)


def to_pixels(image) -> tuple[np.ndarray, np.ndarray | None]:
    """Like :func:`to_float_rgb`, but an 8-bit gray image stays compact.

    Returns:
        (pixels, alpha): ``pixels`` is uint8 ``[H, W]`` for an 8-bit gray input
        (PIL mode L, a uint8 ``[H, W]`` or ``[H, W, 1]`` array), else float32
        RGB ``[H, W, 3]`` in [0, 1] (:func:`to_float_rgb`); ``alpha`` as there.
    """
    if isinstance(image, Image.Image) and image.mode == "L":
        image = np.asarray(image)
    if not isinstance(image, Image.Image):
        array = np.asarray(image)
        if array.dtype == np.uint8 and (
            array.ndim == 2 or (array.ndim == 3 and array.shape[-1] == 1)
        ):
            gray = array.reshape(array.shape[:2])
            check_size(gray.shape[1], gray.shape[0], np.iinfo(np.int64).max)
            return np.ascontiguousarray(gray), None
    return to_float_rgb(image)


def to_float_rgb(
    image, min_side: int = MIN_SIDE, dtype: type = np.float32
) -> tuple[np.ndarray, np.ndarray | None]:
    """Any PIL image or numpy array -> (float RGB ``[H, W, 3]`` in [0, 1], alpha).

    numpy input: ``[H, W]``, ``[H, W, 1]``, ``[H, W, 3]`` or ``[H, W, 4]``, of
    dtype uint8 (0-255), uint16 (0-65535) or float (0-1). The alpha, if any, is
    returned as ``[H, W]`` in [0, 1], else None.

    Args:
        image: the image.
        min_side: a shorter side is refused (:class:`ImageError`); the default
            is what colourising needs, the metrics pass 1.
        dtype: ``np.float32`` (the default) or ``np.float64``, of both results.
    """
    if isinstance(image, Image.Image):
        return _pil_to_float(image, min_side, dtype)
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageError(
            f"expected an image array [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], "
            f"got shape {array.shape}"
        )
    if array.dtype == np.uint8:
        data = array.astype(dtype) / 255.0
    elif array.dtype == np.uint16:
        data = array.astype(dtype) / 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        data = np.clip(array.astype(dtype), 0.0, 1.0)
    elif array.dtype == np.bool_:
        data = array.astype(dtype)
    else:
        raise ImageError(f"unsupported image dtype {array.dtype}")
    if data.ndim == 2:
        data = np.repeat(data[..., None], 3, axis=-1)
    alpha = None
    if data.shape[-1] == 4:
        data, alpha = data[..., :3], data[..., 3]
    check_size(data.shape[1], data.shape[0], np.iinfo(np.int64).max, min_side=min_side)
    return np.ascontiguousarray(data), alpha


def _pil_to_float(
    image: Image.Image, min_side: int, dtype: type
) -> tuple[np.ndarray, np.ndarray | None]:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        gray = np.asarray(image, dtype=np.uint16).astype(np.float32) / 65535.0
        return to_float_rgb(gray, min_side, dtype)
    if mode == "I":
        gray = np.asarray(image, dtype=np.int64)
        scale = 65535.0 if gray.max() > 255 else 255.0
        return to_float_rgb(
            np.clip(gray / scale, 0, 1).astype(np.float32), min_side, dtype
        )
    if mode == "F":
        gray = np.asarray(image, dtype=np.float32)
        if gray.max() > 1.0:
            gray = gray / 255.0
        return to_float_rgb(gray, min_side, dtype)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode == "LA" or mode == "PA":
        image = image.convert("RGBA")
    elif mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGB")
    return to_float_rgb(np.asarray(image), min_side, dtype)


def output_format(path: os.PathLike) -> str:
    """The Pillow format that writes ``path`` (from its suffix).

    Raises:
        ImageError: no suffix, or one Pillow cannot write.
    """
    path = pathlib.Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise ImageError(
            f"{path}: cannot write image format {path.suffix!r} (use .png or .jpg)"
        )
    return fmt


def save_image_atomic(
    array: np.ndarray, path: os.PathLike, overwrite: bool = False
) -> None:
    """Saves a uint8 image array (format from the suffix) via a temporary file.

    Raises:
        ImageError: the file exists and ``overwrite`` is False, or it cannot be written.
    """
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise ImageError(f"{path}: exists (use --overwrite to replace it)")
    fmt = output_format(path)
    image = Image.fromarray(np.asarray(array))
    if fmt == "JPEG" and image.mode == "RGBA":
        image = image.convert("RGB")
    try:
        with atomic_open(path, "wb") as f:
            image.save(f, format=fmt)
    except OSError as error:
        raise ImageError(f"{path}: cannot write ({_first_line(error)})") from None
