"""The inference API: a gray photo and a colour reference in, a colour photo out.

    from attention_colorization import Colorizer

    colorizer = Colorizer.load()  # bundled demo weights
    rgb = colorizer.colorize(gray_image, reference=photo)  # uint8 [H, W, 3]

Any resolution: the network runs at its model resolution S; the predicted ab
is upsampled (bilinear) to the input's size and joined to the input's own
full-resolution L, which is kept exactly; chroma is then reduced where needed
to bring each pixel into the sRGB gamut (L and hue unchanged). That
full-resolution work (:mod:`attention_colorization.full_resolution`) is one
fused pass per band of rows (ab across the width, Lab -> sRGB -> uint8),
XLA-compiled for large photos, then the gamut scale by table lookup for the
pixels out of gamut only. References are decoded and reduced near the model resolution first
(a JPEG by its DCT scaling), so a huge reference costs what the model uses.

``precision`` (:mod:`attention_colorization.precision`): ``"auto"`` runs the
network in bfloat16 where the hardware computes it natively, float32
elsewhere; the colour work stays float32.
"""

from __future__ import annotations

import os
import typing

import numpy as np
import tensorflow as tf
from PIL import Image

from attention_colorization import color, full_resolution, imageio
from attention_colorization import precision as precision_lib
from attention_colorization.palette_prior import palette_prior

# References decode to at least this multiple of the model resolution (JPEG
# DCT scaling, then Image.reduce) before the area resize to it. Smaller
# factors move the output further from a full decode's: with a 7000 x 7000
# JPEG reference, a 512 x 480 photo and the bundled model (S = 256), 8 keeps
# the output within 2 levels of it (0.07 % of the pixels beyond 1), 4 within
# 5 (0.8 %), 2 within 9 (6.5 %), 1 within 47; 8 costs about 1.2 s more than 4
# there (decoding at 1/2 instead of 1/4).
REFERENCE_DECODE_FACTOR = 8
# T of the DCM's annealed mean with a palette: each pixel takes one of the
# palette's colours rather than their average (see palette_prior).
PALETTE_TEMPERATURE = 0.38


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
        precision: what the generator computes in, ``"float32"`` or
            ``"bfloat16"`` (it was built under that policy; see :meth:`load`).
    """

    def __init__(self, generator, config, precision: str = "float32"):
        self.generator = generator
        self.config = config
        self.precision = precision
        self.image_size = int(config.data.image_size)
        self.hist_floor = float(config.data.hist_floor)
        # One trace per (number of references, return_maps); K must stay static.
        self._run = tf.function(self._forward)
        self._reference_features = tf.function(
            self._reference_lab_hist, reduce_retracing=True
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike | None = None,
        precision: str = "auto",
        inference_size: int | None = None,
    ) -> Colorizer:
        """Loads the bundled demo model (``path=None``), a training workdir, or a
        ``*.weights.h5`` file with its ``config.json`` beside it.

        Args:
            path: the model (see above).
            precision: ``"auto"`` (bfloat16 where this machine computes it
                natively, else float32; logged once), ``"float32"`` or
                ``"bfloat16"`` (:mod:`attention_colorization.precision`). The
                generator is built under the matching Keras dtype policy, which
                is restored afterwards; with bfloat16 its matching features and
                its own arithmetic stay float32 (``precision.keep_float32``).
            inference_size: the resolution the network runs at (a multiple of
                8, at least 16), overriding the model's own; None keeps it.
                Every weight is resolution-independent: a finer attention grid
                is sharper and slower (the bundled model: 256 px runs 4x
                faster than its default 512, at 1 dB less on related pairs).
        """
        generator, config, chosen = precision_lib.load_generator(
            path, precision, inference_size
        )
        return cls(generator, config, precision=chosen)

    # -------------------------------------------------------------- internals
    def _forward(
        self, inputs, return_maps, database_temperature=None, database_likelihood=True
    ):
        return self.generator(
            inputs,
            training=False,
            stage=2,
            return_maps=return_maps,
            database_temperature=database_temperature,
            database_likelihood=database_likelihood,
        )

    def _reference_lab_hist(self, small):
        """RGB ``[S, S, 3]`` in [0, 1] -> (Lab ``[S, S, 3]``, histogram ``[313]``)."""
        lab = color.rgb_to_lab(tf.clip_by_value(small, 0.0, 1.0))  # [S, S, 3]
        hist = color.reference_histogram(lab[..., 1:], floor=self.hist_floor)
        return lab, hist

    def _area_to_model_size(self, pixels: np.ndarray) -> tf.Tensor:
        """RGB ``[H, W, 3]`` (uint8, or float in [0, 1]) -> its area average
        ``[S, S, 3]`` float32, what ``tf.image.resize(..., "area")`` gives.

        Area resizing is separable: across the width in bands of rows
        (``full_resolution.BAND_PIXELS``), then down the height, so no float
        copy of a large image ever exists.
        """
        height, width = pixels.shape[:2]
        size = self.image_size
        scale = 1.0 / 255.0 if pixels.dtype == np.uint8 else 1.0
        band_pixels = full_resolution.BAND_PIXELS
        if height * width <= band_pixels:
            rgb = tf.cast(tf.constant(pixels), tf.float32) * scale
            return tf.image.resize(rgb[None], [size, size], method="area")[0]
        columns = np.empty((height, size, 3), np.float32)
        for rows, keep, out in full_resolution.row_bands(height, width, band_pixels):
            band = tf.cast(tf.constant(pixels[rows]), tf.float32) * scale
            narrow = tf.image.resize(band[None], [band.shape[0], size], method="area")
            columns[out] = narrow[0].numpy()[keep]
        return tf.image.resize(columns[None], [size, size], method="area")[0]

    def _reference(self, image) -> tuple[tf.Tensor, tf.Tensor]:
        """A reference (any size) -> (Lab ``[S, S, 3]``, histogram ``[313]``).

        Files and PIL images are first brought near the model resolution S
        (at least :data:`REFERENCE_DECODE_FACTOR` x S a side), in this order:
        a JPEG file decodes straight to a reduced size (DCT scaling,
        ``Image.draft``), ``Image.reduce`` shrinks by an integer factor, then
        the area resize (in bands) reaches S x S, where the histogram is
        computed. A 7000 x 7000 JPEG never exists in memory at full size.
        """
        side = REFERENCE_DECODE_FACTOR * self.image_size
        if isinstance(image, (str, os.PathLike)):
            image = imageio.load_image(image, draft_size=(side, side))
        if isinstance(image, Image.Image):
            image = imageio.reduce_image(image, side)
            if image.mode == "RGB":
                image = np.asarray(image)  # uint8: no float copy of it
        rgb8 = (
            isinstance(image, np.ndarray)
            and image.dtype == np.uint8
            and image.shape[2:] == (3,)
        )
        pixels = image if rgb8 else imageio.to_float_rgb(image)[0]
        return self._reference_features(self._area_to_model_size(pixels))

    # ------------------------------------------------------------------- API
    def prepare_references(self, references) -> PreparedReferences:
        """Makes references ready once for many photos (pass the result as
        ``references=`` to :meth:`colorize`): each is resized to the model
        resolution, converted to Lab and histogrammed here, not per photo.

        Args:
            references: a list of references (PIL, numpy or paths), at least one.

        Raises:
            imageio.ImageError: a reference file that cannot be read.
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
        result, alpha, maps = self._colorize(
            image, reference, references, palette, return_maps, as_uint8=True
        )
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
        return self._colorize(
            image, reference, references, palette, return_maps, as_uint8=False
        )

    def _colorize(self, image, reference, references, palette, return_maps, as_uint8):
        """:meth:`colorize` (``as_uint8``) or :meth:`colorize_float` without the alpha."""
        if isinstance(image, (str, os.PathLike)):
            image = imageio.load_image(image)
        pixels, alpha = imageio.to_pixels(image)  # uint8 [H, W] or float [H, W, 3]
        height, width = pixels.shape[:2]
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

        lightness, l_small = full_resolution.lightness(pixels, self.image_size)
        del pixels  # L ([H, W] float32) is all the rest needs
        inputs = {"l": l_small}
        ref_labs = []
        if prepared is not None:
            ref_labs = tf.unstack(prepared.lab)
            inputs["ref_lab"] = prepared.lab[None]  # [1, K, S, S, 3]
            inputs["ref_hist"] = prepared.hist[None]  # [1, K, 313]
        temperature, likelihood = None, True
        if palette is not None and prepared is None:
            grid = self.image_size // 4
            l_grid = tf.image.resize(l_small, [grid, grid], method="area")[0]
            prior = palette_prior(l_grid, parse_palette(palette), self.hist_floor)
            inputs["ref_hist"] = prior[None]  # [1, G, G, Q]
            temperature = PALETTE_TEMPERATURE
            likelihood = bool(self.config.model.palette_likelihood)
        outputs = self._run(
            inputs,
            return_maps=bool(return_maps and ref_labs),
            database_temperature=temperature,
            database_likelihood=likelihood,
        )

        ab = color.net_to_ab(tf.cast(outputs["ab"], tf.float32))  # [1, S, S, 2]
        out = full_resolution.lab_to_output(lightness, ab, as_uint8)
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
