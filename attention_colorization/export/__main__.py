"""``python -m attention_colorization.export SUBCOMMAND [--flags]``: see :mod:`.cli`."""

from attention_colorization.export.cli import main

if __name__ == "__main__":
    main()
