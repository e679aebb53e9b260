"""Times the authors' PyTorch generator: run by a Python with torch, not ours.

    TORCH_PYTHON authors_worker.py JSON

JSON: ``{"repo": DIR, "size": 256, "repeats": 5, "warmup": 2, "seed": 0}``.
Loads only ``DIR/models/networks.py`` of github.com/wangyins/
transformer-for-image-colorization (no other module of theirs: their
``models`` package imports cv2, scikit-image and their options), builds
``define_G(1, 198, 2, 'instance', 'normal', 0.02, [])`` as their
``models/main_model.py`` does with their test options, and calls
``ColorNet.forward(input, ref_input, ref_color, bias_input, ab_constant,
device)`` on random inputs of the shapes their test pipeline feeds it:

* ``input``: target L ``[1, 1, S, S]``, ``ref_input``: reference L
  ``[1, 1, S, S]`` (network units, [-1, 1]);
* ``ref_color``: the reference ab at a quarter of the size ``[1, 2, S/4, S/4]``
  (their attention runs at S/4: ``N = (S/4)^2`` tokens);
* ``bias_input``: the reference's histogram over their 198 ab bins
  ``[1, 198]`` (viewed as ``[1, 198, 1, 1]``);
* ``ab_constant``: their ``doc/ab_constant_filter.npy`` ``[198, 2]``, batched
  ``[1, 198, 2]``.

Random weights (their init); ``torch.no_grad``, eval mode, float32, CPU,
torch's default threads. Prints one line ``BENCHMARK_RESULT {json}``: the
median and every timed forward's seconds and the peak RSS (``VmHWM``).
Imports nothing of attention_colorization, so the torch Python needs only
torch and numpy.
"""

import importlib.util
import json
import os
import statistics
import sys
import time

RESULT_PREFIX = "BENCHMARK_RESULT "  # as attention_colorization.benchmarks.workers


def _peak_rss_bytes():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def main(argv):
    params = json.loads(argv[1])
    repo, size = params["repo"], int(params["size"])
    import numpy as np
    import torch

    path = os.path.join(repo, "models", "networks.py")
    spec = importlib.util.spec_from_file_location("authors_networks", path)
    networks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(networks)
    torch.manual_seed(int(params.get("seed", 0)))
    net = networks.define_G(1, 198, 2, "instance", "normal", 0.02, [])
    net.eval()
    generator = torch.Generator().manual_seed(int(params.get("seed", 0)))

    def uniform(*shape, scale=1.0):
        return (torch.rand(*shape, generator=generator) * 2.0 - 1.0) * scale

    target_l = uniform(1, 1, size, size)
    ref_l = uniform(1, 1, size, size)
    ref_ab = uniform(1, 2, size // 4, size // 4, scale=0.5)
    hist = torch.softmax(torch.randn(1, 198, generator=generator), dim=-1)
    ab = np.load(os.path.join(repo, "doc", "ab_constant_filter.npy"))
    ab_constant = torch.from_numpy(np.asarray(ab, np.float32))[None]  # [1, 198, 2]
    device = torch.device("cpu")
    params_count = sum(p.numel() for p in net.parameters())

    def forward():
        with torch.no_grad():
            return net(target_l, ref_l, ref_ab, hist, ab_constant, device)

    for _ in range(int(params.get("warmup", 2))):
        outputs = forward()
    times = []
    for _ in range(int(params.get("repeats", 5))):
        start = time.perf_counter()
        outputs = forward()
        times.append(time.perf_counter() - start)
    result = {
        "seconds": statistics.median(times),
        "times": times,
        "peak_rss_bytes": _peak_rss_bytes(),
        "output_shapes": [list(o.shape) for o in outputs],
        "parameters": params_count,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
