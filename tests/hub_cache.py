"""A local stand-in for the Hugging Face Hub: a folder published into a huggingface_hub cache.

The layout is the one huggingface_hub writes when it downloads a repository:

    models--org--name/
      blobs/<etag>                      the files' contents; the etag is the sha256 of an
                                        LFS file, the git blob id (sha1) of any other
      snapshots/<commit>/<path>         relative symlinks to ../../blobs/<etag>
      refs/<revision>                   the commit hash, without a newline

so that ``hf_hub_download(repo, file)`` with ``HF_HUB_OFFLINE=1`` resolves it on its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

LFS_SUFFIXES = (".safetensors", ".onnx", ".bin", ".pt")  # the Hub's default .gitattributes


def git_blob_id(data: bytes) -> str:
    """The id git gives a file's contents: sha1 of 'blob <size>\\0' + contents."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def etag(name: str, data: bytes) -> str:
    """The name huggingface_hub gives the file's blob in its cache."""
    if name.endswith(LFS_SUFFIXES):
        return hashlib.sha256(data).hexdigest()
    return git_blob_id(data)


def publish_to_cache(
    folder: Path, cache: Path, repo_id: str, revision: str = "main", files: dict | None = None
) -> str:
    """Put the visible files of ``folder`` (or ``files``: {path: bytes}) into ``cache`` as
    the snapshot of ``repo_id`` at ``revision``; returns the commit hash."""
    if files is None:
        files = {
            p.name: p.read_bytes()
            for p in sorted(Path(folder).iterdir())
            if p.is_file() and not p.name.startswith(".")
        }
    repo = Path(cache) / ("models--" + repo_id.replace("/", "--"))
    tree = b"".join(f"{name} {etag(name, data)}\n".encode() for name, data in sorted(files.items()))
    commit = hashlib.sha1(repo_id.encode() + b"\n" + tree).hexdigest()
    for name, data in files.items():
        blob = repo / "blobs" / etag(name, data)
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)
    return commit
