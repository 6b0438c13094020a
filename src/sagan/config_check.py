"""Checking a config dict read from JSON: unknown keys, missing keys and wrong types.

Each problem is a one-line SaganError naming the key and where it came from; the values
themselves are validated when the config dataclass is built.
"""

from __future__ import annotations

import dataclasses
import difflib
from typing import Any

from sagan.errors import SaganError


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_sequence_of(check: Any) -> Any:
    return lambda v: isinstance(v, list | tuple) and all(check(x) for x in v)


# The field annotations (strings under `from __future__ import annotations`) that a saved
# config uses, with a test and the words for an error message.
_FIELD_TYPES: dict[str, tuple[Any, str]] = {
    "int": (_is_int, "an integer"),
    "float": (_is_number, "a number"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "str": (lambda v: isinstance(v, str), "a string"),
    "str | None": (lambda v: v is None or isinstance(v, str), "a string or null"),
    "float | None": (lambda v: v is None or _is_number(v), "a number or null"),
    "AttnVariant": (lambda v: isinstance(v, str), "a string"),
    "SNMode": (lambda v: isinstance(v, str), "a string"),
    "ModelConfig": (lambda v: isinstance(v, dict), "an object of model settings"),
    "tuple[int, ...]": (_is_sequence_of(_is_int), "a list of integers"),
    "tuple[bool, ...]": (_is_sequence_of(lambda x: isinstance(x, bool)), "a list of booleans"),
}


def check_config_dict(
    cls: type,
    d: Any,
    source: str,
    partial: bool = True,
    prefix: str = "",
    nested: dict[str, type] | None = None,
) -> None:
    """Raise a one-line SaganError for an unknown key, a wrong type or (unless ``partial``)
    a missing required key of dataclass ``cls`` in ``d``; the dicts of ``nested`` fields
    (e.g. {"model": ModelConfig}) are checked too."""
    if not isinstance(d, dict):
        what = prefix.rstrip(".") or "the config"
        raise SaganError(f"{what} in {source} must be a JSON object, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in d:
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = (
                f"did you mean '{prefix}{close[0]}'?"
                if close
                else "known keys: " + ", ".join(f"{prefix}{k}" for k in fields)
            )
            raise SaganError(f"unknown key '{prefix}{key}' in {source}: {hint}")
    if not partial:
        required = [
            name
            for name, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in d]
        if missing:
            raise SaganError(
                f"{source} lacks the key '{prefix}{missing[0]}': is it a sagan config?"
            )
    for key, value in d.items():
        check, words = _FIELD_TYPES.get(str(fields[key].type), (None, ""))
        if check is not None and not check(value):
            raise SaganError(f"'{prefix}{key}' in {source} must be {words}, got {value!r}")
        if nested and key in nested:
            check_config_dict(nested[key], value, source, partial, prefix=f"{key}.")
