"""The one exception type that the command line turns into a one-line message."""

from __future__ import annotations


class SaganError(Exception):
    """A problem with the user's input or environment.

    The message is a single actionable line: what is wrong and what to change. The CLI
    prints it without a traceback and exits with status 2.
    """


class TrainingInterrupted(SaganError):
    """Training stopped on SIGINT or SIGTERM after writing a final checkpoint."""
