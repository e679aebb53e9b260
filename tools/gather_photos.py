r"""Collects the colour photos that ship inside installed Python packages.

    python tools/gather_photos.py --output_dir=photos/

Sources: scikit-image's data folder, scikit-learn's sample images and
matplotlib's sample data. Only real colour photographs are taken (gray images,
charts, masks and microscopy renderings are not); each is copied as it ships.
These are the training photos of the bundled demo model and the sources of its
example pair.
"""

from __future__ import annotations

import importlib.util
import pathlib
import shutil
import sys

from absl import app, flags

_OUTPUT_DIR = flags.DEFINE_string(
    "output_dir", "photos", "Where the photos are copied."
)
_EXAMPLE_DIR = flags.DEFINE_string(
    "example_dir",
    "",
    "If set, also write the bundled example pair there "
    "(attention_colorization/weights/demo).",
)

# The example pair: the left view of scikit-image's stereo motorcycle as the
# gray input, the right view as its (semantically related) colour reference.
EXAMPLE_INPUT = ("skimage", "data/motorcycle_left.png")
EXAMPLE_REFERENCE = ("skimage", "data/motorcycle_right.png")

# (package, path inside the package): colour photographs only.
PHOTOS = (
    ("skimage", "data/astronaut.png"),
    ("skimage", "data/chelsea.png"),
    ("skimage", "data/coffee.png"),
    ("skimage", "data/rocket.jpg"),
    ("skimage", "data/motorcycle_left.png"),
    ("skimage", "data/motorcycle_right.png"),
    ("skimage", "data/hubble_deep_field.jpg"),
    ("skimage", "data/retina.jpg"),
    ("skimage", "data/ihc.png"),
    ("skimage", "data/color.png"),
    ("sklearn", "datasets/images/china.jpg"),
    ("sklearn", "datasets/images/flower.jpg"),
    ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"),
)


def package_dir(name: str) -> pathlib.Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def gather(output_dir: pathlib.Path) -> list[pathlib.Path]:
    """Copies every available photo of :data:`PHOTOS` into ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for package, rel in PHOTOS:
        root = package_dir(package)
        source = root / rel if root else None
        if source is None or not source.is_file():
            print(f"warning: {package}:{rel} not found (is {package} installed?)")
            continue
        target = output_dir / f"{package}_{source.name}"
        shutil.copyfile(source, target)
        copied.append(target)
    return copied


def write_example_pair(output_dir: pathlib.Path) -> None:
    """``example_gray.png`` (luminance only) and ``example_reference.png``."""
    from PIL import Image

    output_dir.mkdir(parents=True, exist_ok=True)
    gray_src = package_dir(EXAMPLE_INPUT[0]) / EXAMPLE_INPUT[1]
    ref_src = package_dir(EXAMPLE_REFERENCE[0]) / EXAMPLE_REFERENCE[1]
    Image.open(gray_src).convert("L").save(
        output_dir / "example_gray.png", optimize=True
    )
    Image.open(ref_src).convert("RGB").save(
        output_dir / "example_reference.png", optimize=True
    )


def main(argv):
    del argv
    if _EXAMPLE_DIR.value:
        write_example_pair(pathlib.Path(_EXAMPLE_DIR.value))
    copied = gather(pathlib.Path(_OUTPUT_DIR.value))
    if not copied:
        print(
            "error: no photos found; install scikit-image, scikit-learn or matplotlib",
            file=sys.stderr,
        )
        return 1
    print(f"{len(copied)} photos in {_OUTPUT_DIR.value}")
    return 0


if __name__ == "__main__":
    app.run(main)
