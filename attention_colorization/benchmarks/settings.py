"""Sizes and repeat counts of every section (:class:`Settings`) and the model paths."""

from __future__ import annotations

import dataclasses
import os
import pathlib

PACKAGE_DIR = pathlib.Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")


def _load_config_file(path: os.PathLike):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"benchmark_config_{pathlib.Path(path).stem}", str(path)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def config_file(name: str):
    """``configs/NAME.py`` of this repository, loaded."""
    return _load_config_file(REPO_ROOT / "configs" / f"{name}.py")


@dataclasses.dataclass
class Settings:
    """Sizes and repeat counts of every section.

    Attributes:
        quick: quick mode (reported in the header).
        weights: the demo model (a workdir or ``*.weights.h5``); None = the
            bundled demo weights.
        paper_config: configuration of the paper-size model (random weights).
        repeats / warmup: timed and untimed calls per latency figure.
        matmul_size: side of the square matmul measuring the machine's throughput.
        attention_grids: attention grid sides G (N = G²).
        attention_chunks: extra chunk sizes measured besides the paper config's.
        end_to_end_sizes: (height, width) of the gray inputs.
        end_to_end_repeats: colorize calls timed per size.
        end_to_end_paper: also measure the paper-size model (random weights)
            end to end.
        reference_size: side of the square reference.
        tflite_modes: quantisations converted.
        tflite_calibration: int8 calibration pairs (None: all of export.tflite's).
        pipeline_config: configuration of the input pipeline / training steps.
        pipeline_batches / pipeline_warmup: batches timed / pulled before.
        train_steps / train_warmup: training steps timed / run before, per stage.
        policies: precision policies of the training-step comparison.
        train_budget_seconds: a stage's time budget (fewer timed steps past it).
        policy_timeout: seconds before a policy's training-step process is stopped.
        worker_timeout: seconds before another subprocess is stopped.
        isolate: run the attention and training-step measurements in fresh
            processes (False: in this process; tests only, see :func:`run_worker`).
            The end-to-end measurement always runs in a fresh process.
        precision: ``Colorizer.load``'s precision in the end-to-end and
            command-line sections (``auto``, ``float32``, ``bfloat16``).
        cli_reference_side: side of the square JPEG reference the ``cli``
            section gives the command beside a small gray photo.
        cli_photo_size: (height, width) of that gray photo.
        cli_repeats: command runs per ``cli`` figure (median).
        authors_repo: a checkout of the authors' PyTorch code
            (github.com/wangyins/transformer-for-image-colorization) for the
            ``peers`` section; None skips it.
        torch_python: a Python with torch and numpy, for the same.
        peers_rounds: alternating rounds of the ``peers`` section (each a
            fresh process per implementation and precision).
        peers_repeats / peers_warmup: timed / untimed forward passes a process.
        peers_size: the input side of both networks there.
    """

    quick: bool = False
    weights: str | None = None
    paper_config: object = None
    repeats: int = 10
    warmup: int = 2
    matmul_size: int = 2048
    attention_grids: tuple = (64, 128)
    attention_chunks: tuple = (256,)
    end_to_end_sizes: tuple = (
        (512, 512),
        (1024, 1024),
        (2560, 2560),
        (4096, 4096),
        (1600, 2560),
    )
    end_to_end_repeats: int = 3
    end_to_end_paper: bool = True
    reference_size: int = 512
    tflite_modes: tuple = ("none", "float16", "dynamic", "int8")
    tflite_calibration: int | None = None
    tflite_repeats: int = 10
    pipeline_config: object = None
    pipeline_batches: int = 40
    pipeline_warmup: int = 5
    train_steps: int = 10
    train_warmup: int = 2
    train_stages: tuple = (1, 2)
    train_budget_seconds: float = 120.0
    policy_timeout: float = 900.0
    isolate: bool = True
    policies: tuple = POLICIES
    worker_timeout: float = 1800.0
    precision: str = "auto"
    cli_reference_side: int = 7000
    cli_photo_size: tuple = (480, 512)
    cli_repeats: int = 3
    authors_repo: str | None = None
    torch_python: str | None = None
    peers_rounds: int = 3
    peers_repeats: int = 5
    peers_warmup: int = 2
    peers_size: int = 256

    @classmethod
    def full(cls, weights=None, **options) -> Settings:
        return cls(
            **options,
            weights=weights,
            paper_config=config_file("paper"),
            pipeline_config=config_file("small"),
        )

    @classmethod
    def quick_mode(cls, weights=None, **options) -> Settings:
        """Fewer repeats, smaller sizes: under 5 minutes on a 2-core machine."""
        return cls(
            **options,
            quick=True,
            weights=weights,
            paper_config=config_file("paper"),
            repeats=3,
            warmup=1,
            matmul_size=2048,
            attention_grids=(64,),
            attention_chunks=(),
            end_to_end_sizes=((512, 512), (1024, 1024), (1600, 2560)),
            end_to_end_repeats=1,
            end_to_end_paper=False,
            tflite_modes=("none", "float16"),
            tflite_repeats=3,
            pipeline_config=config_file("small"),
            pipeline_batches=8,
            pipeline_warmup=2,
            train_steps=3,
            train_warmup=1,
            train_budget_seconds=60.0,
            policy_timeout=300.0,
            policies=("float32", "mixed_bfloat16"),
            worker_timeout=600.0,
            cli_repeats=1,
            peers_rounds=1,
            peers_repeats=2,
            peers_warmup=1,
        )


def resolve_weights(weights) -> pathlib.Path:
    """``weights`` (a workdir or ``*.weights.h5``) or the bundled demo model.

    See :func:`attention_colorization.weights_path.resolve_weights` (no
    TensorFlow import: a wrong path fails fast).

    Raises:
        attention_colorization.weights_path.ModelPathError: (a
            ``FileNotFoundError``) not a model.
    """
    from attention_colorization.weights_path import resolve_weights as resolve

    return resolve(weights).path
