r"""A tiny configuration for tests and smoke runs (under two minutes on 2 cores).

    python -m attention_colorization.train --config=configs/test.py \
        --workdir=/tmp/tiny --config.data.train_dir=photos/
"""

from attention_colorization.config import default_config


def get_config():
    config = default_config()
    config.data.image_size = 32
    config.data.resize_short = 40
    config.data.shuffle_buffer = 16
    config.data.max_decode_side = 256
    config.model.width = 0.125
    config.model.attention_chunk = 16
    config.model.confidence_topk = 4
    config.loss.perceptual = 0.0
    config.loss.perceptual_weights = "none"
    config.train.batch_size = 2
    config.train.learning_rate = 1e-3
    config.train.stage1_steps = 6
    config.train.stage2_steps = 6
    config.train.checkpoint_every_steps = 4
    config.train.log_every_steps = 2
    config.train.image_every_steps = 4
    config.train.val_every_steps = 6
    config.train.val_steps = 1
    config.train.mixed_precision = "float32"
    return config
