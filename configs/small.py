r"""A CPU-sized model: width 0.25, 128 px, no perceptual term.

    python -m attention_colorization.train --config=configs/small.py \
        --workdir=/tmp/small --config.data.train_dir=photos/
"""

from attention_colorization.config import default_config


def get_config():
    config = default_config()
    config.data.image_size = 128
    config.data.resize_short = 144
    config.data.shuffle_buffer = 256
    config.model.width = 0.25
    config.model.attention_chunk = 512
    config.loss.perceptual = 0.0
    config.loss.perceptual_weights = "none"
    config.train.batch_size = 8
    config.train.learning_rate = 2e-4
    config.train.stage1_steps = 1000
    config.train.stage2_steps = 1000
    config.train.checkpoint_every_steps = 250
    config.train.log_every_steps = 25
    config.train.image_every_steps = 250
    config.train.val_every_steps = 500
    config.train.val_steps = 4
    config.train.mixed_precision = "float32"
    return config
