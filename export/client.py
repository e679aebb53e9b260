r"""Colourises one photo with the exported model (from a clone).

    python export/client.py --gray=old.jpg --reference=ref.jpg --output=out.png \
        [--protocol=rest|grpc] [--server=HOST:PORT] [--saved_model=BASE/N]

The same as ``attention-colorize-client ...``: this script only runs the
installed package's command (``pip install -e ".[export]"``); see
attention_colorization/export/client.py.
"""

from attention_colorization.export import client

if __name__ == "__main__":
    client.main()
