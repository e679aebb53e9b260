"""The evaluation's images: how photos are resized, decoded once, and skipped.

Two resize modes (:class:`Resize`):

* ``size`` (the paper's, the default): the short side is resized to ``size``
  and the centre ``size x size`` is cropped;
* ``long_side``: the whole photo, resized so that its long side is
  ``long_side`` pixels, aspect kept.

:class:`ImageCache` decodes each file once and keeps its resized version, so a
target used by several pairs (and a photo that is also another target's
reference) is read from disk once. A file that cannot be read is remembered
with the reason, and the pairs that need it are skipped, not the run.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib

import numpy as np

from attention_colorization import imageio
from attention_colorization.evaluation import metrics

DEFAULT_SIZE = 256  # The paper's evaluation side.


@dataclasses.dataclass(frozen=True)
class Resize:
    """How evaluation images are sized: exactly one of ``size`` and ``long_side``.

    Attributes:
        size: short side resized to it, then a centre ``size x size`` crop.
        long_side: long side resized to it (up or down), aspect kept.
    """

    size: int | None = DEFAULT_SIZE
    long_side: int | None = None

    def __post_init__(self):
        if (self.size is None) == (self.long_side is None):
            raise ValueError("give exactly one of --size and --long_side")
        side = self.size if self.size is not None else self.long_side
        flag = "--size" if self.size is not None else "--long_side"
        if side < 16:
            raise ValueError(
                f"{flag}={side} is too small (SSIM needs at least 11 pixels)"
            )

    @property
    def side(self) -> int:
        """The square side (``size``) or the long side: the palette swatch's side."""
        return self.size if self.size is not None else self.long_side

    def __call__(self, image) -> np.ndarray:
        """An image ``[H, W(, C)]`` -> uint8 RGB ``[S, S, 3]`` or ``[h, w, 3]``."""
        if self.size is not None:
            return metrics.resize_center_crop(image, self.size)
        return metrics.resize_long_side(image, self.long_side)

    def describe(self) -> str:
        """A sentence for summary.md."""
        if self.size is not None:
            return (
                f"short side resized to {self.size} px, centre-cropped to "
                f"{self.size} x {self.size}"
            )
        return (
            f"whole photos resized to a long side of {self.long_side} px, aspect kept"
        )


def make_resize(size: int | None = None, long_side: int | None = None) -> Resize:
    """``--size`` (default :data:`DEFAULT_SIZE`) or ``--long_side``, not both."""
    if size is not None and long_side is not None:
        raise ValueError("--size and --long_side exclude each other; give one")
    if long_side is not None:
        return Resize(size=None, long_side=int(long_side))
    return Resize(size=DEFAULT_SIZE if size is None else int(size))


class ImageCache:
    """Decoded, resized images by path; each file is decoded at most once.

    Memory: every resized image is kept (``S * S * 3`` bytes each, 0.2 MB at
    256 px, up to 0.8 MB at a 512 px long side), not the full-size decode.

    Args:
        resize: the :class:`Resize` applied to every image; None keeps nothing
            (each :meth:`get` decodes; only the skipped files are remembered).

    Attributes:
        skipped: ``{path: (label, reason)}`` of the files that could not be read.
    """

    def __init__(self, resize: Resize | None):
        self.resize = resize
        self._images: dict[pathlib.Path, np.ndarray] = {}
        self.skipped: dict[pathlib.Path, tuple[str, str]] = {}
        self.decodes = 0  # Files decoded so far (for tests and the report).

    @staticmethod
    def _key(path: os.PathLike) -> pathlib.Path:
        return pathlib.Path(path).resolve()

    def decode(self, path: os.PathLike, label: str = "") -> np.ndarray | None:
        """Decodes a file at full size (uint8 RGB ``[H, W, 3]``), keeping its resized
        version; None, with the reason remembered, when it cannot be read."""
        key = self._key(path)
        if key in self.skipped:
            return None
        self.decodes += 1
        try:
            rgb = metrics.load_rgb(path)
        except (imageio.ImageError, OSError, ValueError) as error:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            # The messages start with the path: keep what follows it.
            reason = reason.removeprefix(f"{path}: ")
            self.skipped[key] = (label or str(path), reason)
            return None
        if self.resize is not None:
            self._images[key] = self.resize(rgb)
        return rgb

    def put(self, path: os.PathLike, rgb: np.ndarray) -> None:
        """Stores the resized version of an image already in memory (a file just
        written from it, e.g. a distorted reference copy)."""
        if self.resize is not None:
            self._images[self._key(path)] = self.resize(rgb)

    def get(self, path: os.PathLike, label: str = "") -> np.ndarray | None:
        """The resized image uint8 ``[S, S, 3]`` / ``[h, w, 3]``, decoded on first
        use; None when the file cannot be read (see :attr:`skipped`)."""
        key = self._key(path)
        if key in self._images:
            return self._images[key]
        rgb = self.decode(path, label)
        return rgb if rgb is None or self.resize is None else self._images[key]

    def skipped_list(self) -> list[dict]:
        """``[{"file", "reason"}]`` of the unreadable files, in the order met."""
        return [{"file": f, "reason": r} for f, r in self.skipped.values()]
