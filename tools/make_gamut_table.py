"""Regenerates the packaged gamut table (attention_colorization/weights/gamut_chroma.npy).

    python tools/make_gamut_table.py                  # the packaged file
    python tools/make_gamut_table.py --output=/tmp/gamut_chroma.npy

The derivation lives in ``attention_colorization.gamut.derive_gamut_table``
(about two minutes on 2 cores): for each L row (0, 0.5, ..., 100), hue column
and face of the RGB cube, the chroma at which the ray from the gray leaves
through that face, stored as float16 reciprocals rounded up.
``tests/test_gamut.py`` checks rows of the packaged file against a fresh
derivation, and this tool's output against the function.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time

import numpy as np

from attention_colorization.gamut import (
    GAMUT_TABLE_FILE,
    derive_gamut_table,
    pack_gamut_table,
)

PACKAGED = (
    pathlib.Path(__file__).resolve().parents[1]
    / "attention_colorization"
    / "weights"
    / GAMUT_TABLE_FILE
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--output", default=str(PACKAGED), help="Where to write the .npy table."
    )
    args = parser.parse_args((sys.argv if argv is None else argv)[1:])
    start = time.perf_counter()
    table = pack_gamut_table(derive_gamut_table())  # [levels, hues, 6] float16
    out = pathlib.Path(args.output)
    tmp = out.with_name(out.stem + ".tmp.npy")
    np.save(tmp, table)
    tmp.replace(out)  # atomic: a reader never sees half a table
    print(
        f"wrote {out}: {table.shape}, {table.nbytes:,} bytes, "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
