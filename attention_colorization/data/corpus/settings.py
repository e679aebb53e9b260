"""How a corpus is built: the options (command-line flags), the splits, the error."""

from __future__ import annotations

import dataclasses

TRAIN, VALIDATION = "train", "validation"
VAL_MIN_SIDE = 512  # Validation photos are evaluated at this long side.


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
