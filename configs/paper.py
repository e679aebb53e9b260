r"""The paper's configuration: full-width F, 256 px, the paper's loss weights.

    python -m attention_colorization.train --config=configs/paper.py \
        --workdir=/tmp/paper --config.data.train_dir=/data/imagenet/train
"""

from attention_colorization.config import default_config


def get_config():
    return default_config()
