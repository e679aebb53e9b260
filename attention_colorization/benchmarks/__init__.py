r"""Performance benchmarks: measurements, target checks and the markdown report.

    python tools/benchmark.py [--quick] [--weights=PATH] [--output=BENCHMARKS.md]
        [--sections=latency,attention,end_to_end,tflite,pipeline]

The tool is a thin command line over :func:`run_benchmarks`. Every section is a
function ``section(settings) -> SectionResult`` that measures, checks its
targets (:class:`Target`) and renders markdown; :func:`render_report` joins the
sections under a header with the machine (CPU model, cores, TensorFlow) and the
command. :class:`Settings` holds every size and repeat count: ``Settings.full``,
``Settings.quick_mode`` (under 5 minutes) and, in the tests, tiny settings with the
test config.

Modules:

* the harness: :mod:`.settings` (:class:`Settings`, model paths),
  :mod:`.timing` (median wall time, matmul peak), :mod:`.flops` (FLOP
  counting on graphs), :mod:`.memory` (peak/current RSS), :mod:`.workers`
  (measurements in fresh processes), :mod:`.machine` (CPU, versions),
  :mod:`.synthetic` (synthetic photos), :mod:`.report` (:class:`Target`,
  :class:`SectionResult`, markdown), :mod:`.runner` (sections in order, the
  report).
* one module per section:

  * ``latency`` (:mod:`.latency`): forward latency split by stage (F, SCM,
    DCM, fusion, decoder; each sublayer call a separate ``tf.function`` on the
    real intermediate inputs), achieved GFLOP/s as a share of this machine's
    float32 matmul throughput.
  * ``attention`` (:mod:`.attention_memory`): the SCM's attention peak memory,
    chunked vs plain.
  * ``end_to_end`` (:mod:`.end_to_end`): ``Colorizer.colorize`` time and peak
    RSS by input size, the network pass (``Colorizer._run``) timed separately
    from the rest.
  * ``tflite`` (:mod:`.tflite`): latency and size of each TFLite quantisation
    vs the Keras function (needs :mod:`attention_colorization.export.tflite`
    and the ``[export]`` extra).
  * ``pipeline`` (:mod:`.pipeline`): input pipeline vs training step
    throughput; steps/s by precision policy.

Measurements that must not share a process run in fresh subprocesses
(``python -m attention_colorization.benchmarks _worker KIND JSON``, see
:mod:`.workers`): peak memory (one process per measurement, so peaks do not
mix) and the precision policies (the Keras policy is process-wide).

No module imports TensorFlow at import time: ``tools/benchmark.py`` checks its
flags and the weights before TensorFlow starts.
"""

from attention_colorization.benchmarks.report import (
    SectionResult,
    Target,
    render_report,
)
from attention_colorization.benchmarks.runner import (
    SECTIONS,
    parse_sections,
    run_benchmarks,
    run_section,
)
from attention_colorization.benchmarks.settings import Settings, resolve_weights

__all__ = [
    "SECTIONS",
    "SectionResult",
    "Settings",
    "Target",
    "parse_sections",
    "render_report",
    "resolve_weights",
    "run_benchmarks",
    "run_section",
]
