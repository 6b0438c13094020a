"""Reading and writing training configs as JSON files (a run's config.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sagan.config import DEPARTURES, INFORMATIVE, RESOLVED, ModelConfig, TrainConfig
from sagan.config_check import check_config_dict
from sagan.errors import SaganError


def read_config_file(path: str) -> dict[str, Any]:
    """A training config, maybe partial, from a JSON file (or a run folder's config.json).

    Unknown keys and values of the wrong type are one-line errors naming the key; the
    values themselves are checked when the config is built.
    """
    p = Path(path).expanduser()
    if p.is_dir():
        p = p / "config.json"
    if p.exists() and not p.is_file():  # reading a named pipe would wait forever
        raise SaganError(f"config file '{p}' is not a regular file: pass a JSON file")
    try:
        d = json.loads(p.read_text())
    except FileNotFoundError:
        raise SaganError(
            f"config file '{p}' does not exist: pass a run's config.json or its run folder"
        ) from None
    except json.JSONDecodeError as e:
        raise SaganError(
            f"config file '{p}' is not valid JSON ({e.msg} at line {e.lineno} column {e.colno})"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise SaganError(
            f"cannot read config file '{p}': {getattr(e, 'strerror', None) or e}"
        ) from None
    if isinstance(d, dict):
        for key in INFORMATIVE:
            d.pop(key, None)
    check_config_dict(TrainConfig, d, f"'{p}'", nested={"model": ModelConfig})
    return d


def save_config(cfg: TrainConfig, path: str, resolved: dict[str, Any] | None = None) -> None:
    """Write the config as indented JSON, with two keys for readers: ``resolved``, what its
    "auto" settings became (a resumed run resolves them again), and
    ``departures_from_official``, ``TrainConfig.departures``."""
    d = cfg.to_dict()
    d[DEPARTURES] = cfg.departures()
    if resolved:
        d[RESOLVED] = resolved
    with open(path, "w") as f:
        json.dump(d, f, indent=2)
        f.write("\n")
