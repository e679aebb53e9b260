r"""Runs training with MultiWorkerMirroredStrategy on local worker processes.

    python tools/multi_worker.py --num_workers=2 -- \
        --config=configs/test.py --workdir=/tmp/mw --config.data.train_dir=photos/

Each worker is ``python -m attention_colorization.train`` with
``--config.train.distribution=multi_worker`` and its own ``TF_CONFIG``
(a cluster of 127.0.0.1 ports chosen free). Worker 0 is the chief: it alone
writes checkpoints, TensorBoard logs and the final weights. On a real cluster,
set ``TF_CONFIG`` on each machine the same way (see BUILD.md).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

from absl import app, flags

_NUM_WORKERS = flags.DEFINE_integer("num_workers", 2, "Local worker processes.")
_TIMEOUT = flags.DEFINE_integer(
    "timeout", 1800, "Seconds before the workers are stopped."
)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free TCP ports on 127.0.0.1."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


def tf_config(ports: list[int], index: int) -> str:
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def launch(train_args: list[str], num_workers: int, timeout: int) -> int:
    """Starts the workers, streams the chief's output, returns the worst exit code."""
    ports = free_ports(num_workers)
    args = [sys.executable, "-m", "attention_colorization.train", *train_args]
    args.append("--config.train.distribution=multi_worker")
    procs = []
    for index in range(num_workers):
        env = dict(os.environ, TF_CONFIG=tf_config(ports, index))
        out = None if index == 0 else subprocess.DEVNULL
        procs.append(subprocess.Popen(args, env=env, stdout=out, stderr=out))
    codes = []
    try:
        for proc in procs:
            codes.append(proc.wait(timeout=timeout))
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        print(
            f"error: workers still running after {timeout} s; stopped", file=sys.stderr
        )
        return 1
    return max(codes, key=abs)


def main(argv):
    code = launch(argv[1:], _NUM_WORKERS.value, _TIMEOUT.value)
    print(f"{_NUM_WORKERS.value} workers finished with exit code {code}")
    return code


if __name__ == "__main__":
    app.run(main)
