"""The methods of an evaluation and how each colourises a gray target."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from attention_colorization.colorizer import parse_palette
from attention_colorization.evaluation import baselines, metrics
from attention_colorization.evaluation import pairs as pairs_lib

METHODS = ("ours", "gray", "welsh", "reinhard")  # The default set.
KNOWN_METHODS = (*METHODS, "attention")
NO_REFERENCE_METHODS = ("ours", "gray")  # The methods run on ``auto`` pairs.


def parse_methods(methods: str | Sequence[str]) -> tuple[str, ...]:
    """``'ours,gray'`` or a list -> a tuple of known method names (order kept)."""
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",")]
    names = tuple(dict.fromkeys(m.strip().lower() for m in methods if m.strip()))
    unknown = [m for m in names if m not in KNOWN_METHODS]
    if unknown or not names:
        raise ValueError(
            f"unknown method(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(KNOWN_METHODS)}"
        )
    return names


def palette_swatch(palette: str, size: int) -> np.ndarray:
    """A palette as an image: equal-width vertical stripes, uint8 ``[size, size, 3]``.

    Equal areas give each colour equal weight in the HIS histogram, as in the
    model's palette prior (``color.palette_histogram``).
    """
    colours = parse_palette(palette)  # [C, 3] in [0, 1]
    column = np.minimum(np.arange(size) * len(colours) // size, len(colours) - 1)
    row = np.round(colours[column] * 255.0).astype(np.uint8)  # [size, 3]
    return np.ascontiguousarray(np.broadcast_to(row, (size, size, 3)))


class MethodRunner:
    """Runs the methods on one gray target; models are loaded once, up front."""

    def __init__(
        self,
        methods: Sequence[str],
        weights,
        colorizer=None,
        attention=None,
        precision: str = "auto",
    ):
        self.methods = tuple(methods)
        self.colorizer = colorizer
        self.attention = attention
        if "ours" in self.methods and colorizer is None:
            from attention_colorization.colorizer import Colorizer

            self.colorizer = Colorizer.load(weights, precision=precision)
        if "attention" in self.methods and attention is None:
            from attention_colorization.evaluation.attention_baseline import (
                AttentionTransfer,
            )

            try:
                self.attention = AttentionTransfer()
            except (ImportError, FileNotFoundError) as error:
                raise ValueError(f"--methods=attention: {error}") from None

    @staticmethod
    def applies(method: str, pair: pairs_lib.Pair) -> bool:
        """Whether ``method`` runs on ``pair`` (no reference: ours and gray only)."""
        return pair.kind != "auto" or method in NO_REFERENCE_METHODS

    def run(self, method, lightness, gray_rgb, reference, pair) -> np.ndarray:
        """-> uint8 RGB of the target's shape ``[H, W, 3]``."""
        if method == "ours":
            if pair.kind == "palette":
                out = self.colorizer.colorize(gray_rgb, palette=pair.palette)
            elif pair.kind == "auto":
                out = self.colorizer.colorize(gray_rgb)
            else:
                out = self.colorizer.colorize(gray_rgb, reference=reference)
            return np.asarray(out)[..., :3]
        if method == "attention":
            return metrics.to_uint8(self.attention(lightness, reference))
        return metrics.to_uint8(baselines.BASELINES[method](lightness, reference))
