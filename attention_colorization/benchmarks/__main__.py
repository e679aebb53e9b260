"""``python -m attention_colorization.benchmarks _worker KIND JSON``: one worker process.

:func:`~attention_colorization.benchmarks.workers.run_worker` starts these; the
command line for people is ``tools/benchmark.py``.
"""

import sys

from attention_colorization.benchmarks.workers import worker_main

if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "_worker":
        sys.exit(worker_main(sys.argv[2:]))
    sys.exit("usage: python tools/benchmark.py --help")
