"""The inference API: a gray photo and a colour reference in, a colour photo out.

    from attention_colorization import Colorizer

    colorizer = Colorizer.load()  # bundled demo weights
    rgb = colorizer.colorize(gray_image, reference=photo)  # uint8 [H, W, 3]

Any resolution: the network runs at its model resolution S; the predicted ab
is upsampled (bilinear) to the input's size and joined to the input's own
full-resolution L, which is kept exactly; chroma is then reduced where needed
to bring each pixel into the sRGB gamut (L and hue unchanged).
"""

from __future__ import annotations

import os
import typing

import numpy as np
import tensorflow as tf

from attention_colorization import color, imageio
from attention_colorization import workdir as workdir_lib
from attention_colorization.palette_prior import palette_prior

# From this many pixels on, the full-resolution work (L of the input; ab
# upsampling, gamut fitting, Lab -> RGB) runs XLA-compiled: 5x faster at
# 2560 x 1600 even counting the compilation, slower than plain graph mode for
# small photos.
XLA_MIN_PIXELS = 1_000_000
# T of the DCM's annealed mean with a palette: each pixel takes one of the
# palette's colours rather than their average (see palette_prior).
PALETTE_TEMPERATURE = 0.38
# The full-resolution work runs in bands of rows of about this many pixels, so
# its memory stays bounded at any size (4096 x 4096: 16 bands).
BAND_PIXELS = 1 << 20


def row_bands(height: int, width: int, band_pixels: int | None = None) -> list:
    """Splits ``height`` rows into bands of one height (the last may overlap).

    Args:
        height, width: the image's size.
        band_pixels: pixels per band at most (default :data:`BAND_PIXELS`);
            a band has at least one row.

    Returns:
        ``[(rows, keep, out), ...]`` slices: each band computes the image rows
        ``rows`` (all of one length, so a compiled function sees one shape) and
        writes its rows ``keep`` to the image rows ``out``; the ``out`` slices
        cover every row once, in order.
    """
    band_pixels = band_pixels or BAND_PIXELS
    count = max(1, -(-height * width // band_pixels))  # ceil
    band = -(-height // count)  # ceil: rows per band
    bands = []
    for first in range(0, height, band):
        stop = min(first + band, height)
        start = min(first, height - band)  # the last band ends at the last row
        bands.append(
            (
                slice(start, start + band),
                slice(first - start, stop - start),
                slice(first, stop),
            )
        )
    return bands


def parse_palette(palette) -> np.ndarray:
    """``'#d8a47f,#6b8f71'``, a list of hex strings or of RGB triples -> ``[C, 3]`` in [0, 1].

    Triples are 0-255 values, or 0-1 floats when every triple lies in [0, 1]
    (one scale for the whole palette).
    """
    if isinstance(palette, str):
        palette = [p for p in palette.replace(";", ",").split(",") if p.strip()]
    triples = [
        np.asarray(item, np.float64).reshape(-1)
        for item in palette
        if not isinstance(item, str)
    ]
    scale = 255.0 if any(t.size and t.max() > 1.0 for t in triples) else 1.0
    colours = []
    for item in palette:
        if isinstance(item, str):
            text = item.strip().lstrip("#")
            if len(text) == 3:
                text = "".join(c * 2 for c in text)
            if len(text) != 6 or any(c not in "0123456789abcdefABCDEF" for c in text):
                raise ValueError(f"bad palette colour {item!r}: use #rrggbb")
            colours.append([int(text[i : i + 2], 16) / 255.0 for i in (0, 2, 4)])
        else:
            rgb = np.asarray(item, dtype=np.float64).reshape(-1)
            if rgb.shape != (3,):
                raise ValueError(f"bad palette colour {item!r}: need three channels")
            colours.append(rgb / scale)
    if not colours:
        raise ValueError("the palette is empty")
    return np.clip(np.asarray(colours, np.float32), 0.0, 1.0)


class PreparedReferences(typing.NamedTuple):
    """References ready for the network (:meth:`Colorizer.prepare_references`)."""

    lab: tf.Tensor  # [K, S, S, 3] Lab at the model resolution
    hist: tf.Tensor  # [K, 313] reference histograms R_H


class Colorizer:
    """Colourises gray photos with a trained generator.

    Args:
        generator: a built ``Generator``.
        config: its ``ConfigDict`` (for the model resolution and histogram floor).
    """

    def __init__(self, generator, config):
        self.generator = generator
        self.config = config
        self.image_size = int(config.data.image_size)
        self.hist_floor = float(config.data.hist_floor)
        # One trace per (number of references, return_maps); K must stay static.
        self._run = tf.function(self._forward)
        # Any image size: one trace with unknown height and width.
        self._pre = tf.function(self._preprocess, reduce_retracing=True)
        self._post = tf.function(self._postprocess, reduce_retracing=True)
        self._pre_xla = tf.function(self._preprocess, jit_compile=True)
        self._post_xla = tf.function(self._postprocess, jit_compile=True)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> Colorizer:
        """Loads the bundled demo model (``path=None``), a training workdir, or a
        ``*.weights.h5`` file with its ``config.json`` beside it."""
        # None, a workdir or a *.weights.h5: weights_path.resolve_weights.
        generator, config = workdir_lib.load_generator(path)
        return cls(generator, config)

    # -------------------------------------------------------------- internals
    def _forward(self, inputs, return_maps, database_temperature=None):
        return self.generator(
            inputs,
            training=False,
            stage=2,
            return_maps=return_maps,
            database_temperature=database_temperature,
        )

    @staticmethod
    def _preprocess(rgb):
        """Float RGB rows ``[h, W, 3]`` -> their L ``[h, W, 1]``."""
        return color.rgb_to_lightness(rgb)

    @staticmethod
    def _postprocess(lightness, ab_rows):
        """L rows ``[h, W, 1]`` + their ab ``[1, h, S, 2]`` -> sRGB ``[h, W, 3]``.

        ``ab_rows`` is the network's ab already interpolated to the rows (see
        :meth:`colorize_float`); here it is interpolated across to the width.
        Bilinear interpolation is separable, so rows then columns equals the
        direct 2-D resize.
        """
        ab = tf.image.resize(ab_rows, tf.shape(lightness)[:2], method="bilinear")[0]
        lab = color.fit_to_gamut(tf.concat([lightness, ab], axis=-1))  # [h, W, 3]
        return color.lab_to_rgb(lab)  # [h, W, 3] in [0, 1]

    def _lightness(self, rgb: np.ndarray) -> tuple[np.ndarray, tf.Tensor]:
        """Full-res float RGB ``[H, W, 3]`` -> (L ``[H, W, 1]``, L ``[1, S, S, 1]``)."""
        height, width = rgb.shape[:2]
        lightness = np.empty((height, width, 1), np.float32)
        pre = self._pre_xla if height * width >= XLA_MIN_PIXELS else self._pre
        for rows, keep, out in row_bands(height, width):
            lightness[out] = pre(tf.constant(rgb[rows])).numpy()[keep]
        small = tf.image.resize(lightness[None], [self.image_size] * 2, method="area")
        return lightness, small

    def _reference(self, image) -> tuple[tf.Tensor, tf.Tensor]:
        """A reference (any size) -> (Lab ``[S, S, 3]``, histogram ``[313]``)."""
        if isinstance(image, (str, os.PathLike)):
            image = imageio.load_image(image)
        rgb, _ = imageio.to_float_rgb(image)
        small = tf.image.resize(
            tf.constant(rgb)[None], [self.image_size] * 2, method="area"
        )
        lab = color.rgb_to_lab(tf.clip_by_value(small[0], 0.0, 1.0))  # [S, S, 3]
        hist = color.reference_histogram(lab[..., 1:], floor=self.hist_floor)  # [313]
        return lab, hist

    # ------------------------------------------------------------------- API
    def prepare_references(self, references) -> PreparedReferences:
        """Makes references ready once for many photos (pass the result as
        ``references=`` to :meth:`colorize`): each is resized to the model
        resolution, converted to Lab and histogrammed here, not per photo.

        Args:
            references: a list of references (PIL, numpy or paths), at least one.
        """
        pairs = [self._reference(r) for r in references]
        if not pairs:
            raise ValueError("prepare_references needs at least one reference")
        return PreparedReferences(
            lab=tf.stack([p[0] for p in pairs]), hist=tf.stack([p[1] for p in pairs])
        )

    def colorize(
        self,
        image,
        reference=None,
        references=None,
        palette=None,
        return_maps: bool = False,
    ):
        """Colourises one image.

        Args:
            image: a PIL image, a numpy array (gray or colour; uint8, uint16 or
                float in [0, 1]) or a file path. A colour image is reduced to
                its luminance; an alpha channel is carried into the output.
            reference: one reference (PIL, numpy or path).
            references: several references, fused by the gate over K + 1
                sources, or the :meth:`prepare_references` of them.
            palette: instead of references, colours (``'#rrggbb,...'`` or a list)
                used as the database prior.
            return_maps: also return the maps (see Returns).

        Returns:
            uint8 ``[H, W, 3]`` RGB (``[H, W, 4]`` RGBA when the input had alpha)
            of the input's size. With ``return_maps``, ``(image, maps)`` where
            ``maps["alpha"]`` is float32 ``[H, W, M]`` (which source coloured each
            pixel, references first, the database last) and, with references,
            ``maps["match"]`` uint8 ``[K, H, W, 3]``: each reference resampled
            at the SCM's best match of every pixel.
        """
        rgb, alpha, maps = self.colorize_float(
            image, reference, references, palette, return_maps
        )
        result = np.round(rgb * 255.0).astype(np.uint8)
        if alpha is not None:
            result = np.concatenate(
                [result, np.round(alpha * 255.0).astype(np.uint8)[..., None]], axis=-1
            )
        return (result, maps) if return_maps else result

    def colorize_float(
        self, image, reference=None, references=None, palette=None, return_maps=False
    ):
        """:meth:`colorize` before 8-bit rounding.

        Returns:
            (rgb float32 ``[H, W, 3]`` in [0, 1], alpha ``[H, W]`` or None, maps).
        """
        if isinstance(image, (str, os.PathLike)):
            image = imageio.load_image(image)
        rgb, alpha = imageio.to_float_rgb(image)
        height, width = rgb.shape[:2]
        if isinstance(references, PreparedReferences):
            if reference is not None:
                raise ValueError("give prepared references alone, not with reference=")
            prepared = references
        else:
            refs = list(references or [])
            if reference is not None:
                refs.insert(0, reference)
            prepared = self.prepare_references(refs) if refs else None
        if prepared is not None and palette is not None:
            raise ValueError("give references or a palette, not both")

        lightness, l_small = self._lightness(rgb)
        inputs = {"l": l_small}
        ref_labs = []
        if prepared is not None:
            ref_labs = tf.unstack(prepared.lab)
            inputs["ref_lab"] = prepared.lab[None]  # [1, K, S, S, 3]
            inputs["ref_hist"] = prepared.hist[None]  # [1, K, 313]
        temperature = None
        if palette is not None and prepared is None:
            grid = self.image_size // 4
            l_grid = tf.image.resize(l_small, [grid, grid], method="area")[0]
            prior = palette_prior(l_grid, parse_palette(palette), self.hist_floor)
            inputs["ref_hist"] = prior[None]  # [1, G, G, Q]
            temperature = PALETTE_TEMPERATURE
        outputs = self._run(
            inputs,
            return_maps=bool(return_maps and ref_labs),
            database_temperature=temperature,
        )

        # ab to Lab units, interpolated down the rows: [1, H, S, 2] (small).
        ab = color.net_to_ab(tf.cast(outputs["ab"], tf.float32))  # [1, S, S, 2]
        ab_rows = tf.image.resize(ab, [height, self.image_size], method="bilinear")
        post = self._post_xla if height * width >= XLA_MIN_PIXELS else self._post
        out = np.empty((height, width, 3), np.float32)
        for rows, keep, band_out in row_bands(height, width):
            band = post(tf.constant(lightness[rows]), ab_rows[:, rows])
            out[band_out] = band.numpy()[keep]
        maps = self._maps(outputs, ref_labs, height, width) if return_maps else {}
        return out, alpha, maps

    def _maps(self, outputs, ref_labs, height, width) -> dict:
        maps = {}
        if "alpha" in outputs:
            a = tf.cast(outputs["alpha"], tf.float32)  # [1, G, G, M]
            maps["alpha"] = tf.image.resize(a, [height, width], method="nearest")[
                0
            ].numpy()
        if "match" in outputs and ref_labs:
            grid = int(outputs["match"].shape[-1])
            match = tf.cast(outputs["match"][0], tf.int32)  # [K, G, G]
            warped = []
            for k, ref_lab in enumerate(ref_labs):
                ref_rgb = color.lab_to_rgb(ref_lab)  # [S, S, 3]
                ref_grid = tf.image.resize(ref_rgb[None], [grid, grid], method="area")[
                    0
                ]
                flat = tf.reshape(ref_grid, [grid * grid, 3])  # [G * G, 3]
                picked = tf.gather(flat, match[k])  # [G, G, 3]
                full = tf.image.resize(picked[None], [height, width], method="nearest")[
                    0
                ]
                warped.append(np.round(full.numpy() * 255).astype(np.uint8))
            maps["match"] = np.stack(warped)
        return maps
