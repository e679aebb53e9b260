r"""The pretrained matcher's share of the demo model's forward pass.

    python tools/benchmark_backbone_share.py [--config=configs/demo.py] [--repeats=15]

Builds the config's generator (random weights; the speed does not depend on
them) at its training size, then times, alternately, the whole stage-2
forward pass (target + one reference, batch 1) and the EfficientNet matcher
alone on the same two L channels; prints both medians and the share.
"""

from __future__ import annotations

import importlib.util
import time

import numpy as np
from absl import app, flags

_CONFIG = flags.DEFINE_string("config", "configs/demo.py", "Config file.")
_REPEATS = flags.DEFINE_integer("repeats", 15, "Timed calls of each.")


def main(argv):
    del argv
    import tensorflow as tf

    from attention_colorization.model import build_generator

    spec = importlib.util.spec_from_file_location("config", _CONFIG.value)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    generator = build_generator(config)
    if generator.matcher is None:
        raise app.UsageError(f"{_CONFIG.value} does not match on a pretrained backbone")
    s = config.data.image_size
    rng = np.random.default_rng(0)
    lab = np.concatenate(
        [rng.uniform(0, 100, (1, s, s, 1)), rng.uniform(-50, 50, (1, s, s, 2))], -1
    ).astype(np.float32)
    lightness, reference = tf.constant(lab[..., :1]), tf.constant(lab)
    both = tf.constant(np.concatenate([lab[..., :1]] * 2, axis=0) / 50.0 - 1.0)
    full = tf.function(
        lambda gray, ref: generator(
            {"l": gray, "ref_lab": ref}, training=False, stage=2
        )["ab"]
    )
    matcher = tf.function(lambda x: generator.matcher(x, training=False))
    full(lightness, reference)
    matcher(both)
    full_times, matcher_times = [], []
    for _ in range(_REPEATS.value):
        start = time.perf_counter()
        full(lightness, reference).numpy()
        full_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        [x.numpy() for x in matcher(both)]
        matcher_times.append(time.perf_counter() - start)
    whole, part = np.median(full_times), np.median(matcher_times)
    print(
        f"{s} px: whole forward {whole * 1e3:.1f} ms, matcher (target + reference) "
        f"{part * 1e3:.1f} ms, share {part / whole * 100:.1f} % (target < 25 %)"
    )
    return 0


if __name__ == "__main__":
    app.run(main)
