"""Keep torch's internal notices off the console; the run's log.txt still records them.

Two kinds reach a training console otherwise: messages of torch's own loggers (for
example "No CUDA runtime is found, using CUDA_HOME=..." when torch.compile starts on a
CPU-only machine) and Python warnings raised inside torch's compiler and profiler
machinery. Neither says anything a user can act on. Every other warning is still shown,
and every warning, shown or not, is written to log.txt.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

_TORCH = str(Path(torch.__file__).parent)
# Parts of torch whose Python warnings are about its own machinery, not the user's run.
INTERNAL = ("_dynamo", "_inductor", "_functorch", "profiler", "utils/cpp_extension")
NOISE = (re.compile(r"No CUDA runtime is found"), re.compile(r"record_function"))


def is_internal(message: str, filename: str) -> bool:
    """Whether a warning is one of torch's internal notices (kept out of the console)."""
    if any(p.search(message) for p in NOISE):
        return True
    inside = filename.replace("\\", "/")
    return inside.startswith(_TORCH) and any(f"/{part}" in inside for part in INTERNAL)


class _RecordHandler(logging.Handler):
    def __init__(self, record: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._record = record

    def emit(self, rec: logging.LogRecord) -> None:
        try:
            self._record(f"torch ({rec.name}): {rec.getMessage()}")
        except Exception:  # a message that cannot be formatted is not worth a crash
            self.handleError(rec)


@contextmanager
def torch_notices_to(record: Callable[[str], None]) -> Iterator[None]:
    """Send torch's logger messages and internal warnings to ``record`` only; show other
    warnings as usual (and record them too)."""
    handler = _RecordHandler(record)
    # torch gives its log roots (torch, torch._dynamo, ...) stderr handlers of their own.
    roots = [
        lg
        for name, lg in logging.Logger.manager.loggerDict.items()
        if (name == "torch" or name.startswith("torch."))
        and isinstance(lg, logging.Logger)
        and (lg.handlers or name == "torch")
    ]
    saved = [(lg, lg.handlers[:], lg.propagate) for lg in roots]
    for lg in roots:
        lg.handlers = [handler]
        lg.propagate = False
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        text = f"{category.__name__}: {message}"
        record(f"warning ({filename}:{lineno}): {text}")
        if not is_internal(str(message), filename):
            shown(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown
        for lg, handlers, propagate in saved:
            lg.handlers, lg.propagate = handlers, propagate
