"""The Hugging Face Hub through huggingface_hub: downloads into its standard cache, uploads
with its API, and each of its failures as one line.

Downloads honour ``HF_HUB_CACHE`` and ``HF_HUB_OFFLINE`` as every huggingface_hub user
does. Only an export's config.json and model.safetensors are fetched, and nothing from
the Hub is ever unpickled. Uploads use the user's token from huggingface_hub's usual
places (``HF_TOKEN``, or the file ``hf auth login`` writes); sagan never writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from sagan.errors import SaganError
from sagan.export import CONFIG_FILE, EXPORT_FORMAT, WEIGHTS_FILE

LIBRARY = "sagan"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sagan")
    except PackageNotFoundError:
        return "0+unknown"


def download_export(repo_id: str, revision: str | None = None) -> Path:
    """The local snapshot folder holding the repository's config.json and model.safetensors.

    config.json is fetched and checked first, so a repository of another library fails
    before any weights are downloaded.
    """
    config = Path(_download(repo_id, CONFIG_FILE, revision))
    try:
        fmt = json.loads(config.read_text()).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if fmt != EXPORT_FORMAT:
        raise SaganError(
            f"Hub repository '{repo_id}' is not a sagan generator (its config.json has format "
            f"{fmt!r}, not {EXPORT_FORMAT!r}): is it a model of another library?"
        )
    weights = Path(_download(repo_id, WEIGHTS_FILE, revision))
    if weights.parent != config.parent:  # a revision that moved between the two requests
        raise SaganError(f"Hub repository '{repo_id}' changed while downloading: try again")
    return config.parent


def _download(repo_id: str, filename: str, revision: str | None) -> str:
    """One file through huggingface_hub's cache, its failures as SaganErrors."""
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"Hub repository '{repo_id}'" + (f" at revision {revision!r}" if revision else "")
    try:
        return hf_hub_download(
            repo_id,
            filename,
            revision=revision,
            library_name=LIBRARY,
            library_version=_version(),
        )
    except HFValidationError as e:
        raise SaganError(f"'{repo_id}' is not a valid Hub repository id: {_first(e)}") from None
    except GatedRepoError:
        raise SaganError(
            f"{where} is gated: accept its conditions on the Hub and log in (hf auth login)"
        ) from None
    except RepositoryNotFoundError:
        raise SaganError(
            f"'{repo_id}' is not a local path, and the Hub has no repository '{repo_id}' "
            "(or it is private: log in with hf auth login)"
        ) from None
    except RevisionNotFoundError:
        raise SaganError(f"Hub repository '{repo_id}' has no revision {revision!r}") from None
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the Hub cannot be reached"
        raise SaganError(
            f"'{repo_id}' is not a local path, and {filename} of {where} is not in the Hugging "
            f"Face cache '{constants.HF_HUB_CACHE}' while {why}: download it once online, "
            "or pass a local folder"
        ) from None
    except EntryNotFoundError:
        raise SaganError(
            f"{where} has no {filename}: it is not a sagan export (a model of another library?)"
        ) from None
    except HfHubHTTPError as e:
        raise SaganError(f"the Hub refused {filename} of {where}: {_first(e)}") from None
    except OSError as e:
        raise SaganError(f"cannot download {filename} of {where}: {e.strerror or e}") from None


def check_push_target(repo_id: str) -> None:
    """A repository id of the form org/name and a token, checked before any work."""
    from huggingface_hub import get_token
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    if repo_id.count("/") != 1:
        raise SaganError(f"--push-to-hub '{repo_id}' must be a repository id like org/name")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise SaganError(
            f"--push-to-hub '{repo_id}' is not a valid repository id: {_first(e)}"
        ) from None
    if get_token() is None:
        raise SaganError(
            "--push-to-hub needs a Hugging Face token: log in with 'hf auth login' or set HF_TOKEN"
        )


def push_folder(folder: Path, repo_id: str, private: bool = False) -> str:
    """Create the model repository if needed and upload the export's files in one commit.

    Returns the commit's URL.
    """
    from huggingface_hub import HfApi

    files = sorted(
        p.name for p in Path(folder).iterdir() if p.is_file() and not p.name.startswith(".")
    )
    api = HfApi(library_name=LIBRARY, library_version=_version())
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            folder_path=str(folder),
            repo_type="model",
            allow_patterns=files,
            commit_message=f"Upload sagan generator ({', '.join(files)})",
        )
    except Exception as e:  # HTTP refusals and network failures alike: the export stays
        again = f"sagan export --ckpt {folder} --out {folder} --push-to-hub {repo_id}"
        raise SaganError(
            f"the upload to '{repo_id}' failed ({type(e).__name__}: {_first(e)}); the export in "
            f"'{folder}' is complete: push it again with '{again}'"
        ) from None
    return str(getattr(commit, "commit_url", commit))


def _first(e: BaseException) -> str:
    """The first line of an exception's message, shortened."""
    text = str(e).strip()
    return (text.splitlines()[0] if text else type(e).__name__)[:200]
