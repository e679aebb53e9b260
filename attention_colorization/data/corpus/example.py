"""The bundled example pair (gray input and reference), cut from a corpus photo."""

from __future__ import annotations

import os
import pathlib

from PIL import Image

from attention_colorization.atomic import atomic_write_bytes
from attention_colorization.data.corpus.imaging import png_bytes
from attention_colorization.data.corpus.settings import CorpusError

# The bundled example: two overlapping views of one validation photo (never
# trained on), the left part as the gray input, the right part as reference.
EXAMPLE_PHOTO = "plasma_FallenLeaf"
EXAMPLE_VIEW = 5 / 8  # Each view's share of the photo's width.


def write_example_pair(
    output_dir: os.PathLike | str,
    corpus_dir: os.PathLike | str,
    photo: str = EXAMPLE_PHOTO,
) -> None:
    """Writes ``example_gray.png`` (luminance only) and ``example_reference.png``.

    Both come from the built corpus's photo ``photo`` (file stem, either
    split): the left :data:`EXAMPLE_VIEW` of its width as the gray input and
    the right one as the colour reference, a related pair that overlaps.

    Raises:
        CorpusError: the photo is not in the corpus.
    """
    output_dir = pathlib.Path(output_dir)
    matches = sorted(pathlib.Path(corpus_dir).glob(f"*/{photo}.*"))
    if not matches:
        raise CorpusError(
            f"the example photo {photo} is not in the corpus {corpus_dir}"
        )
    with Image.open(matches[0]) as im:
        rgb = im.convert("RGB")
    width, height = rgb.size
    side = round(width * EXAMPLE_VIEW)
    gray = png_bytes(rgb.crop((0, 0, side, height)).convert("L"), optimize=True)
    ref = png_bytes(rgb.crop((width - side, 0, width, height)), optimize=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(output_dir / "example_gray.png", gray)
    atomic_write_bytes(output_dir / "example_reference.png", ref)
