"""The ``sagan`` subcommands; each module adds its parser and a ``run(args)``."""
