r"""Builds the training corpus from photographs that ship in packages.

    python tools/gather_photos.py --output_dir=workdirs/corpus

Sources, and only these: the colour photographs inside installed Python
packages (scikit-image, scikit-learn, matplotlib), the photographic wallpapers
of the Debian package plasma-workspace-wallpapers, and the object photographs
(with alpha) of tuxpaint-stamps-default, composited onto photographic
backgrounds. The Debian packages are fetched with ``apt-get download`` into
``--cache_dir`` and unpacked there (nothing is installed). The output:

    OUTPUT/train/        training images      (--config.data.train_dir)
    OUTPUT/validation/   held-out images      (--config.data.val_dir)
    OUTPUT/masks/        object masks of the composites
    OUTPUT/MANIFEST.csv  file, kind, split, source package, path, licence, mask...

A second run resumes: packages, images and masks that exist are kept. The
choices of sources are in attention_colorization/data/corpus/catalogue.py, the
details in the rest of that package.
``--example_dir`` also writes the bundled example pair
(attention_colorization/weights/demo): two overlapping views of the validation
photo ``--example_photo``, the left one gray, the right one the reference.
"""

from __future__ import annotations

import pathlib
import sys
import time

from absl import app, flags

from attention_colorization.data import corpus

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", "workdirs/corpus", "The corpus folder (train/, validation/, ...)."
)
_CACHE_DIR = flags.DEFINE_string(
    "cache_dir",
    "~/.cache/attention_colorization/debs",
    "Where the Debian packages are downloaded and unpacked (kept between runs).",
)
_EXAMPLE_PHOTO = flags.DEFINE_string(
    "example_photo",
    corpus.EXAMPLE_PHOTO,
    "The corpus photo (file stem) the example pair is cut from.",
)
_EXAMPLE_DIR = flags.DEFINE_string(
    "example_dir",
    "",
    "If set, also write the bundled example pair there "
    "(attention_colorization/weights/demo).",
)
_MAX_SIDE = flags.DEFINE_integer(
    "max_side",
    1024,
    "Long side of stored photos at most (validation photos keep at least "
    f"{corpus.VAL_MIN_SIDE} px).",
)
_COMPOSITE_SIZE = flags.DEFINE_integer(
    "composite_size", 512, "Long side of the composites."
)
_COMPOSITES = flags.DEFINE_integer(
    "composites_per_object", 3, "Composites made from each object photo."
)
_VAL_FRACTION = flags.DEFINE_float(
    "val_fraction", 0.15, "Share of photos and objects held out (stable hash)."
)
_MIN_VAL_PHOTOS = flags.DEFINE_integer(
    "min_val_photos", 4, "At least this many photographs (not composites) held out."
)
_MIN_VAL_IMAGES = flags.DEFINE_integer(
    "min_val_images", 30, "At least this many images held out in all."
)
_MIN_OBJECT_SIDE = flags.DEFINE_integer(
    "min_object_side", 96, "Object photos with a smaller long side are skipped."
)
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the composites.")
_JPEG_QUALITY = flags.DEFINE_integer("jpeg_quality", 92, "JPEG quality (4:4:4).")
_OVERWRITE = flags.DEFINE_bool(
    "overwrite", False, "Rewrite images that exist already (after changing flags)."
)
_MIN_IMAGES = flags.DEFINE_integer(
    "min_images", 300, "Exit with status 1 when the corpus has fewer images."
)
_PROGRESS = flags.DEFINE_bool("progress", True, "Show progress bars.")


def main(argv):
    del argv
    start = time.monotonic()
    try:
        options = corpus.Options(
            max_side=_MAX_SIDE.value,
            composite_size=_COMPOSITE_SIZE.value,
            composites_per_object=_COMPOSITES.value,
            val_fraction=_VAL_FRACTION.value,
            min_val_photos=_MIN_VAL_PHOTOS.value,
            min_val_images=_MIN_VAL_IMAGES.value,
            min_object_side=_MIN_OBJECT_SIDE.value,
            seed=_SEED.value,
            jpeg_quality=_JPEG_QUALITY.value,
            overwrite=_OVERWRITE.value,
            progress=_PROGRESS.value,
        )
        summary = corpus.build_corpus(
            _OUTPUT_DIR.value, pathlib.Path(_CACHE_DIR.value).expanduser(), options
        )
        if _EXAMPLE_DIR.value:
            corpus.write_example_pair(
                _EXAMPLE_DIR.value, _OUTPUT_DIR.value, _EXAMPLE_PHOTO.value
            )
    except corpus.CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(summary.report(_OUTPUT_DIR.value))
    print(f"  took {time.monotonic() - start:.1f} s")
    if len(summary.rows) < _MIN_IMAGES.value:
        print(
            f"error: only {len(summary.rows)} images, fewer than "
            f"--min_images={_MIN_IMAGES.value}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    app.run(main)
