"""Classical colourisation baselines for the evaluation.

Each takes the gray target (its CIE L) and a colour reference and returns float
RGB ``[H, W, 3]`` in [0, 1] whose Lab L is the target's L: the baselines only
choose ab, and out-of-gamut results lose chroma, not lightness
(:func:`attention_colorization.evaluation.metrics.lab_to_rgb`).

* :func:`gray` - no colour, ``ab = 0``.
* :func:`reinhard` - Reinhard, Ashikhmin, Gooch, Shirley 2001, "Color transfer
  between images", reduced to a gray source: the transfer
  ``ab_out = (s_ref / s_src)(ab_src - m_src) + m_ref`` with a source that has
  zero chroma (``ab_src = m_src = 0``, zero variance) leaves the reference's mean
  ``m_ref`` everywhere. Means are taken in CIE Lab (the paper used l-alpha-beta).
* :func:`welsh` - Welsh, Ashikhmin, Mueller 2002, "Transferring color to
  greyscale images": the reference's luminance is remapped to the target's
  mean and standard deviation, ``L_r' = (s_t / s_r)(L_r - m_r) + m_t``; about
  200 reference samples are taken on a jittered grid; each target pixel takes
  the ab of the sample that minimises
  ``0.5 (L_t - L_s)^2 + 0.5 (sd_t - sd_s)^2``, where ``sd`` is the standard
  deviation of L in the 5 x 5 neighbourhood. Vectorised over chunks of pixels.

Gray inputs (``gray`` argument): a 3-channel image (uint8 or float in [0, 1];
its Lab L is used, so a colour image is reduced to its luminance), a uint8
``[H, W]`` gray image, or a float ``[H, W]`` / ``[H, W, 1]`` array of CIE L in
[0, 100].
"""

from __future__ import annotations

import numpy as np

from attention_colorization.evaluation import metrics

WELSH_SAMPLES = 200  # Jittered-grid samples of the reference (Welsh et al.).
WELSH_WINDOW = 5  # Neighbourhood for the standard deviation, pixels.
WELSH_WEIGHTS = (0.5, 0.5)  # Weights of the luminance and std-dev differences.
WELSH_CHUNK = 16384  # Target pixels matched at once (memory: chunk x samples).
_EPS = 1e-8


def lightness(gray) -> np.ndarray:
    """The CIE L ``[H, W]`` (float64, [0, 100]) of a gray input (module docstring)."""
    array = np.asarray(gray)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2 and np.issubdtype(array.dtype, np.floating):
        if array.size and (array.min() < -1e-6 or array.max() > 100.0 + 1e-6):
            raise ValueError("a float [H, W] gray input must be CIE L in [0, 100]")
        return array.astype(np.float64)
    return metrics.rgb_to_lab(array)[..., 0]


def compose(lightness_l: np.ndarray, ab: np.ndarray) -> np.ndarray:
    """L ``[H, W]`` + ab ``[H, W, 2]`` or ``[2]`` -> float64 RGB ``[H, W, 3]`` in [0, 1]."""
    return metrics.lab_to_rgb(lightness_l, ab)


def gray(gray_image, reference=None) -> np.ndarray:
    """No colour: ``ab = 0`` (the ``reference`` is ignored). RGB ``[H, W, 3]``."""
    del reference
    lum = lightness(gray_image)
    return compose(lum, np.zeros(2))


def reinhard(gray_image, reference) -> np.ndarray:
    """Reinhard et al. 2001 with a gray source: the reference's mean ab everywhere.

    Args:
        gray_image: the gray target (module docstring), ``[H, W(, C)]``.
        reference: colour reference image ``[h, w, 3]`` (any size).

    Returns:
        float64 RGB ``[H, W, 3]`` in [0, 1] with the target's L.
    """
    lum = lightness(gray_image)
    mean_ab = metrics.rgb_to_lab(reference)[..., 1:].reshape(-1, 2).mean(axis=0)
    return compose(lum, mean_ab)


def local_std(lum: np.ndarray, window: int = WELSH_WINDOW) -> np.ndarray:
    """Standard deviation of ``lum [H, W]`` over ``window x window`` neighbourhoods.

    Reflect padding at the borders; computed with integral images of ``x`` and
    ``x^2`` (``var = E[x^2] - E[x]^2``). Returns float64 ``[H, W]``.
    """
    pad = window // 2
    mode = "reflect" if min(lum.shape) > pad else "edge"
    padded = np.pad(lum.astype(np.float64), pad, mode=mode)  # [H + 2p, W + 2p]

    def box_mean(x):
        integral = np.pad(np.cumsum(np.cumsum(x, axis=0), axis=1), ((1, 0), (1, 0)))
        h, w = lum.shape
        total = (
            integral[window : window + h, window : window + w]
            - integral[:h, window : window + w]
            - integral[window : window + h, :w]
            + integral[:h, :w]
        )
        return total / (window * window)

    mean = box_mean(padded)
    var = box_mean(padded**2) - mean**2
    return np.sqrt(np.maximum(var, 0.0))


def jittered_grid(
    height: int, width: int, samples: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """About ``samples`` positions, one uniformly random point per grid cell.

    The grid has ``rows x cols ~ samples`` cells of roughly square shape.

    Returns:
        (ys, xs), int arrays ``[rows * cols]``.
    """
    rows = int(np.clip(round(np.sqrt(samples * height / width)), 1, height))
    cols = int(np.clip(round(samples / rows), 1, width))
    y_edges = np.linspace(0, height, rows + 1)
    x_edges = np.linspace(0, width, cols + 1)
    y0 = np.repeat(y_edges[:-1], cols)
    y1 = np.repeat(y_edges[1:], cols)
    x0 = np.tile(x_edges[:-1], rows)
    x1 = np.tile(x_edges[1:], rows)
    ys = np.floor(y0 + rng.uniform(size=y0.shape) * (y1 - y0)).astype(np.int64)
    xs = np.floor(x0 + rng.uniform(size=x0.shape) * (x1 - x0)).astype(np.int64)
    return np.clip(ys, 0, height - 1), np.clip(xs, 0, width - 1)


def welsh_ab(
    target_l: np.ndarray,
    reference,
    samples: int = WELSH_SAMPLES,
    window: int = WELSH_WINDOW,
    weights: tuple[float, float] = WELSH_WEIGHTS,
    seed: int = 0,
    chunk: int = WELSH_CHUNK,
) -> np.ndarray:
    """The ab ``[H, W, 2]`` that Welsh et al. 2002 transfer to ``target_l [H, W]``.

    Args:
        target_l: target CIE L ``[H, W]``.
        reference: colour reference image ``[h, w, 3]``.
        samples: jittered-grid samples of the reference.
        window: neighbourhood side for the standard deviation.
        weights: weights of the squared luminance and std-dev differences.
        seed: seed of the jitter (the result is deterministic).
        chunk: target pixels matched per step (memory ``chunk x samples``).
    """
    ref_lab = metrics.rgb_to_lab(reference)  # [h, w, 3]
    ref_l, ref_ab = ref_lab[..., 0], ref_lab[..., 1:]
    # Luminance remapping: the reference takes the target's mean and spread.
    mu_t, sd_t = float(target_l.mean()), float(target_l.std())
    mu_r, sd_r = float(ref_l.mean()), float(ref_l.std())
    scale = sd_t / sd_r if sd_r > _EPS else 1.0
    ref_l = scale * (ref_l - mu_r) + mu_t
    ys, xs = jittered_grid(*ref_l.shape, samples, np.random.default_rng(seed))
    sample_l = ref_l[ys, xs]  # [S]
    sample_sd = local_std(ref_l, window)[ys, xs]  # [S]
    sample_ab = ref_ab[ys, xs]  # [S, 2]

    w_l, w_s = (float(w) for w in weights)
    flat_l = target_l.reshape(-1)  # [P]
    flat_sd = local_std(target_l, window).reshape(-1)  # [P]
    best = np.empty(flat_l.shape, np.int64)  # [P]
    for start in range(0, flat_l.size, chunk):
        stop = start + chunk
        d_l = flat_l[start:stop, None] - sample_l[None, :]  # [chunk, S]
        d_s = flat_sd[start:stop, None] - sample_sd[None, :]  # [chunk, S]
        best[start:stop] = np.argmin(w_l * d_l**2 + w_s * d_s**2, axis=1)
    return sample_ab[best].reshape(target_l.shape + (2,))  # [H, W, 2]


def welsh(gray_image, reference, **kwargs) -> np.ndarray:
    """Welsh et al. 2002 colour transfer (module docstring).

    Args:
        gray_image: the gray target (module docstring), ``[H, W(, C)]``.
        reference: colour reference image ``[h, w, 3]`` (any size).
        **kwargs: see :func:`welsh_ab`.

    Returns:
        float64 RGB ``[H, W, 3]`` in [0, 1] with the target's L.
    """
    lum = lightness(gray_image)
    return compose(lum, welsh_ab(lum, reference, **kwargs))


BASELINES = {"gray": gray, "welsh": welsh, "reinhard": reinhard}
