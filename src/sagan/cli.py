"""The ``sagan`` command line: thin dispatch to ``sagan.commands``.

Errors in the user's input print one line and exit with status 2; ``--debug`` shows
the traceback instead.
"""

from __future__ import annotations

import argparse
import sys

from sagan.commands import (
    attention,
    evaluate,
    experiment,
    explore,
    export,
    info,
    interpolate,
    prepare,
    sample,
    train,
)
from sagan.errors import SaganError, TrainingInterrupted


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line pointing at --help, with exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every subcommand."""
    parser = OneLineParser(prog="sagan", description="Self-Attention GAN: train, sample, inspect.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for module in (
        train,
        prepare,
        sample,
        interpolate,
        evaluate,
        attention,
        experiment,
        explore,
        export,
        info,
    ):
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; ``sagan`` alone runs ``sagan train`` with its defaults."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    debug = "--debug" in argv
    if not [a for a in argv if a != "--debug"]:
        argv = [*argv, "train"]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    args.argv = argv  # for commands that relaunch themselves (train --gpus)
    try:
        args.run(args)
    except SystemExit as e:  # a relaunched command's exit status
        return int(e.code or 0)
    except TrainingInterrupted as e:
        print(f"stopped: {e}", file=sys.stderr)
        return 130
    except SaganError as e:
        if debug:
            raise
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
