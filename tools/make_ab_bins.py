"""Regenerates the packaged 313 ab bins (attention_colorization/weights/ab_bins.npy).

    python tools/make_ab_bins.py

The derivation lives in ``attention_colorization.color.derive_ab_bins``; a test
checks that the packaged file equals a fresh derivation.
"""

import pathlib
import sys

import numpy as np

from attention_colorization.color import NUM_BINS, derive_ab_bins


def main() -> int:
    bins = derive_ab_bins()
    if bins.shape != (NUM_BINS, 2):
        print(
            f"error: derived {bins.shape[0]} bins, expected {NUM_BINS}", file=sys.stderr
        )
        return 1
    out = (
        pathlib.Path(__file__).resolve().parents[1]
        / "attention_colorization"
        / "weights"
    )
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "ab_bins.tmp.npy"
    np.save(tmp, bins)
    tmp.replace(out / "ab_bins.npy")
    print(
        f"wrote {out / 'ab_bins.npy'}: {bins.shape[0]} bins, "
        f"a in [{bins[:, 0].min():.0f}, {bins[:, 0].max():.0f}], "
        f"b in [{bins[:, 1].min():.0f}, {bins[:, 1].max():.0f}]"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
