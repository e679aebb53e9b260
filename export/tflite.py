r"""Converts the colouriser to a fixed-size TFLite model (from a clone).

    python export/tflite.py --saved_model=/models/colorizer/1 \
        --output=colorizer.tflite [--quantize=none|float16|dynamic|int8] \
        [--interface=lab|uint8] [--image_size=S]
    python export/tflite.py --weights=WORKDIR --output=m.tflite --quantize=int8 \
        [--calibration_dir=workdirs/corpus/validation]

The same as ``attention-colorize-export tflite ...``: this script only runs
the installed package's command (``pip install -e ".[export]"``); see
attention_colorization/export/cli.py and tflite.py. What the app computes
around the model (--interface=lab): export/README.md and its numpy reference,
attention_colorization/export/mobile_reference.py.
"""

import sys

from attention_colorization.export import cli

if __name__ == "__main__":
    cli.run("tflite", sys.argv[1:])
