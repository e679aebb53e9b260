r"""Exports the colouriser as a versioned TF Serving SavedModel (from a clone).

    python export/saved_model.py --export_dir=/models/colorizer \
        [--weights=WORKDIR] [--version=N] [--overwrite] [--model_name=colorizer]

The same as ``attention-colorize-export saved_model ...``: this script only
runs the installed package's command (``pip install -e ".[export]"``); see
attention_colorization/export/cli.py and saved_model.py.
"""

import sys

from attention_colorization.export import cli

if __name__ == "__main__":
    cli.run("saved_model", sys.argv[1:])
