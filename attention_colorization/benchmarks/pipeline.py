"""Section 5: input pipeline vs training step throughput; steps/s by precision policy."""

from __future__ import annotations

import math
import os
import pathlib
import shutil
import statistics
import tempfile
import time

from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    fmt,
    markdown_table,
)
from attention_colorization.benchmarks.settings import POLICIES, Settings
from attention_colorization.benchmarks.workers import (
    WorkerTimeout,
    report_progress,
    run_worker,
)

TARGET_PIPELINE_RATIO = 2.0  # input pipeline >= 2 x training step throughput


def pipeline_targets(pipeline_images_per_second: float, train: dict) -> list[Target]:
    """Input pipeline >= 2 x the float32 training throughput (its faster stage).

    Args:
        pipeline_images_per_second: the input pipeline's images/s.
        train: ``{policy: {"stages": {stage: {"images_per_second"}}}}`` (a
            policy that failed has ``"error"`` instead).
    """
    ratio = None
    stages = train.get("float32", {}).get("stages")
    if stages:
        fastest = max(s["images_per_second"] for s in stages.values())
        ratio = pipeline_images_per_second / fastest
    return [
        Target(
            "pipeline images/s ÷ float32 training images/s (faster stage)",
            ratio,
            ">=",
            TARGET_PIPELINE_RATIO,
        )
    ]


def sample_photos(folder: os.PathLike) -> list[pathlib.Path]:
    """Copies the colour photos shipped by installed packages into ``folder``.

    scikit-image's data photos, scikit-learn's ``china.jpg``/``flower.jpg`` and
    matplotlib's ``grace_hopper.jpg``, whichever are installed.
    """
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    sources = []
    try:
        import skimage.data

        base = pathlib.Path(skimage.data.__file__).parent
        sources += [
            base / name
            for name in (
                "astronaut.png",
                "chelsea.png",
                "coffee.png",
                "rocket.jpg",
                "motorcycle_left.png",
                "motorcycle_right.png",
                "hubble_deep_field.jpg",
                "retina.jpg",
                "ihc.png",
                "color.png",
            )
        ]
    except ImportError:
        pass
    try:
        import sklearn

        base = pathlib.Path(sklearn.__file__).parent / "datasets" / "images"
        sources += [base / "china.jpg", base / "flower.jpg"]
    except ImportError:
        pass
    try:
        import matplotlib

        sources.append(
            pathlib.Path(matplotlib.get_data_path())
            / "sample_data"
            / "grace_hopper.jpg"
        )
    except ImportError:
        pass
    copied = []
    for i, path in enumerate(p for p in sources if p.is_file()):
        target = folder / f"{i:02d}_{path.name}"
        shutil.copyfile(path, target)
        copied.append(target)
    if not copied:
        raise FileNotFoundError(
            "no sample photos: install scikit-image, scikit-learn or matplotlib"
        )
    return copied


def pipeline_config(config, photo_dir: os.PathLike):
    """``config`` reading ``photo_dir`` for both splits (no held-out share)."""
    config = config.copy_and_resolve_references()
    config.data.train_dir = str(photo_dir)
    config.data.val_dir = str(photo_dir)
    config.data.train_tfrecords = ""
    config.data.val_tfrecords = ""
    config.data.pairs_csv = ""
    return config


def pipeline_throughput(config, batches: int = 40, warmup: int = 5) -> dict:
    """Images/s of ``make_dataset(config, "train")`` over ``batches`` batches."""
    from attention_colorization.data import PipelineStats, make_dataset

    stats = PipelineStats()
    iterator = iter(make_dataset(config, "train", stats=stats))
    for _ in range(warmup):
        next(iterator)
    start = time.perf_counter()
    for _ in range(batches):
        batch = next(iterator)
    batch["ref_hist"].numpy()
    seconds = time.perf_counter() - start
    images = batches * int(config.train.batch_size)
    return {
        "images_per_second": images / seconds,
        "seconds": seconds,
        "batches": batches,
        "batch_size": int(config.train.batch_size),
        "files": stats.num_files,
        "skipped": stats.skipped,
    }


def train_step_worker(params: dict) -> dict:
    """Worker ``train_step``: steps/s of ``gan.train_step`` per stage under one policy."""
    import keras
    import tensorflow as tf

    from attention_colorization import workdir as workdir_lib
    from attention_colorization.data import make_dataset
    from attention_colorization.model import build_discriminator, build_generator
    from attention_colorization.train_lib import make_gan, make_optimizer

    policy = params["policy"]
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    config = workdir_lib.load_config(params["config"])
    batch = next(iter(make_dataset(config, "train")))
    generator, discriminator = build_generator(config), build_discriminator(config)
    gan = make_gan(config, generator, discriminator, vgg=None)
    out = {"policy": policy, "batch_size": int(config.train.batch_size), "stages": {}}
    for stage in params["stages"]:
        gan.stage = stage
        g_optimizer = make_optimizer(config.train, policy)
        d_optimizer = make_optimizer(config.train, policy)
        gan.compile(g_optimizer=g_optimizer, d_optimizer=d_optimizer)
        g_optimizer.build(gan.stage_variables())
        d_optimizer.build(discriminator.trainable_variables)
        step = tf.function(gan.train_step)
        # The first call traces; then warm-up and timed steps while the stage's
        # time budget lasts (at least one timed step: a slow policy, e.g.
        # float16 on a CPU without fast float16 kernels, gets fewer steps).
        start = time.perf_counter()
        logs = step(batch)
        first = time.perf_counter() - start
        report_progress(stage=stage, first_call_seconds=first)
        budget = params.get("budget_seconds") or float("inf")
        for _ in range(params["warmup"] - 1):
            if time.perf_counter() - start > budget / 2:
                break
            logs = step(batch)
        times = []
        while len(times) < params["steps"]:
            if times and time.perf_counter() - start > budget:
                break
            t0 = time.perf_counter()
            logs = step(batch)
            times.append(time.perf_counter() - t0)
            report_progress(stage=stage, step_seconds=times[-1])
        seconds = statistics.median(times)
        out["stages"][str(stage)] = {
            "seconds": seconds,
            "steps_per_second": 1.0 / seconds,
            "images_per_second": out["batch_size"] / seconds,
            "steps_timed": len(times),
            "first_call_seconds": first,
            "g_loss_finite": math.isfinite(float(logs["g_loss"])),
        }
    return out


def train_step_throughput(
    config,
    policy: str = "float32",
    stages=(1, 2),
    steps=10,
    warmup=2,
    timeout=1800.0,
    budget_seconds: float | None = None,
    isolate: bool = True,
) -> dict:
    """Steps/s of the compiled ``gan.train_step`` per stage, under ``policy``, in a fresh process.

    ``config`` must read a photo folder (see :func:`pipeline_config`); the step
    runs on one batch of its pipeline, repeated, so the pipeline is not timed.
    """
    from attention_colorization import workdir as workdir_lib

    with tempfile.TemporaryDirectory(prefix="benchmark-config-") as tmp:
        workdir_lib.save_config(config, tmp)
        params = {
            "config": tmp,
            "policy": policy,
            "stages": list(stages),
            "steps": int(steps),
            "warmup": max(1, int(warmup)),
            "budget_seconds": budget_seconds,
        }
        return run_worker("train_step", params, timeout, isolate)


def partial_train_result(progress: list[dict], batch_size: int, message: str) -> dict:
    """A timed-out training-step worker's result from its progress records.

    Stages with timed steps get their median; the note says how far it got.
    """
    stages, firsts = {}, {}
    for record in progress:
        stage = str(record["stage"])
        if "first_call_seconds" in record:
            firsts[stage] = record["first_call_seconds"]
        if "step_seconds" in record:
            stages.setdefault(stage, []).append(record["step_seconds"])
    out = {"stages": {}, "batch_size": batch_size}
    for stage, times in stages.items():
        seconds = statistics.median(times)
        out["stages"][stage] = {
            "seconds": seconds,
            "steps_per_second": 1.0 / seconds,
            "images_per_second": batch_size / seconds,
            "steps_timed": len(times),
            "first_call_seconds": firsts.get(stage),
        }
    reached = ", ".join(
        f"stage {k} first call (trace + step) {v:.0f} s" for k, v in firsts.items()
    )
    out["error"] = message + (f"; {reached}" if reached else "; no step finished")
    return out


def pipeline_section(settings: Settings) -> SectionResult:
    """Input pipeline images/s vs training steps/s per precision policy."""
    result = SectionResult("pipeline", "5. Input pipeline vs training step")
    with tempfile.TemporaryDirectory(prefix="benchmark-photos-") as tmp:
        photos = sample_photos(tmp)
        config = pipeline_config(settings.pipeline_config, tmp)
        size = int(config.data.image_size)
        data = pipeline_throughput(
            config, settings.pipeline_batches, settings.pipeline_warmup
        )
        result.data["pipeline"] = data
        train = {}
        for policy in settings.policies:
            try:
                train[policy] = train_step_throughput(
                    config,
                    policy,
                    settings.train_stages,
                    settings.train_steps,
                    settings.train_warmup,
                    settings.policy_timeout,
                    settings.train_budget_seconds,
                    settings.isolate,
                )
            except WorkerTimeout as error:
                train[policy] = partial_train_result(
                    error.progress, int(config.train.batch_size), str(error)
                )
            except RuntimeError as error:
                train[policy] = {"error": str(error).splitlines()[0][:300]}
        result.data["train"] = train

    rows = []
    for policy, r in train.items():
        row = [policy]
        for stage in ("1", "2"):
            run = r.get("stages", {}).get(stage)
            row += (
                [run["steps_per_second"], run["images_per_second"]]
                if run
                else ["—", "—"]
            )
        notes = [
            f"stage {k}: {v['steps_timed']} step(s) timed (time budget)"
            for k, v in r.get("stages", {}).items()
            if v.get("steps_timed", settings.train_steps) < settings.train_steps
        ]
        if "error" in r:
            notes.insert(0, r["error"])
        rows.append(row + ["; ".join(notes)])
    for policy in POLICIES:
        if policy not in settings.policies:
            rows.append([policy, "—", "—", "—", "—", "not run in this mode"])
    result.lines += [
        f"Input pipeline: {fmt(data['images_per_second'])} images/s "
        f"({data['batches']} batches of {data['batch_size']} at {size} px after "
        f"{settings.pipeline_warmup} warm-up batch(es); {data['files']} photos from "
        f"installed packages: {', '.join(p.name for p in photos)}).",
        "",
    ]
    result.lines += markdown_table(
        [
            "policy",
            "stage 1 steps/s",
            "stage 1 images/s",
            "stage 2 steps/s",
            "stage 2 images/s",
            "note",
        ],
        rows,
    )
    result.lines += [
        "",
        f"Training step: `tf.function(gan.train_step)` of `train_lib.make_gan` "
        f"(generator + PatchGAN, both optimizers from `make_optimizer`, no VGG as in "
        f"the config), batch {data['batch_size']} at {size} px; median of "
        f"{settings.train_steps} steps after {settings.train_warmup} warm-up step(s) "
        "(the first traces) on one pipeline batch, fewer when a stage runs past "
        f"{settings.train_budget_seconds:.0f} s; one fresh process per policy (the "
        "Keras policy is process-wide), stopped after "
        f"{settings.policy_timeout:.0f} s. The pipeline was measured alone: in "
        "training it shares the cores with the steps.",
    ]
    result.targets += pipeline_targets(data["images_per_second"], train)
    return result
