"""Regenerates the packaged gamut table (attention_colorization/weights/gamut_chroma.npy).

    python tools/make_gamut_table.py

The derivation lives in ``attention_colorization.color.derive_gamut_table``
(a few minutes); a test checks that rows of the packaged file equal a fresh
derivation.
"""

import pathlib
import sys
import time

import numpy as np

from attention_colorization.color import (
    GAMUT_TABLE_FILE,
    derive_gamut_table,
    pack_gamut_table,
)


def main() -> int:
    start = time.perf_counter()
    table = pack_gamut_table(derive_gamut_table())  # [levels, hues, 6] float16
    out = (
        pathlib.Path(__file__).resolve().parents[1]
        / "attention_colorization"
        / "weights"
    )
    tmp = out / "gamut_chroma.tmp.npy"
    np.save(tmp, table)
    tmp.replace(out / GAMUT_TABLE_FILE)
    print(
        f"wrote {out / GAMUT_TABLE_FILE}: {table.shape}, {table.nbytes:,} bytes, "
        f"in {time.perf_counter() - start:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
