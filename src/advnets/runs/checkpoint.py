"""Complete, atomic checkpoints that load without executing code.

A checkpoint is one `torch.save`d dict of tensors and plain data: G, D, both optimisers, the step and update
counters, the data cursor, every RNG state, the resolved config and the package version. It is written to a
temporary file in the same folder, fsynced and renamed, and only then does `latest` (a small text file naming the
checkpoint) move; so `latest` never names a partial file. Loading uses `weights_only=True`: a file carrying
pickled code (a crafted `__reduce__` payload) is refused rather than run.
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from advnets.errors import UserError

LATEST = "latest"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some filesystems do not allow opening folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, write: Any) -> None:
    """Call write(file_object) into a temporary sibling of `path`, fsync it, then rename it over `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    _fsync_dir(path.parent)


def save_checkpoint(folder: Path, name: str, state: dict[str, Any], keep: int) -> Path:
    """Write folder/name atomically, point `latest` at it, and keep only the newest `keep` step checkpoints."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    atomic_write_bytes(path, lambda f: torch.save(state, f))
    atomic_write_bytes(folder / LATEST, lambda f: f.write(f"{name}\n".encode()))
    old = sorted(folder.glob("step-*.pt"))[:-keep]
    for stale in old:
        if stale.name != name:
            stale.unlink()
    return path


def latest_checkpoint(folder: Path) -> Path:
    """The checkpoint `latest` names in `folder` (a run's checkpoints/ folder)."""
    pointer = folder / LATEST
    if not pointer.is_file():
        raise UserError(f"{folder} holds no checkpoint (no `latest` file); train first, or pass --checkpoint")
    path = folder / pointer.read_text().strip()
    if not path.is_file():
        raise UserError(
            f"{pointer} names {path.name}, which is missing; pass an existing file with --checkpoint"
        )
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, refusing anything that would execute code."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; check the path")
    unreadable = UserError(
        f"checkpoint {path} is unreadable or truncated; use an earlier checkpoint from the same folder or retrain"
    )
    # torch.save writes a zip archive; anything else that is not even a pickle is damaged or foreign.
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as f:
            if f.read(1) != b"\x80":
                raise unreadable
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        what = (
            f"it references {found.group(1)}"
            if found
            else "it holds objects other than tensors and plain data"
        )
        raise UserError(
            f"refusing to load {path}: {what}, which could run code when unpickled; only load checkpoints "
            "written by advnets"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError):
        raise unreadable from None
    if not isinstance(state, dict) or "format" not in state or state.get("format") != "advnets-checkpoint":
        raise UserError(f"{path} is not an advnets checkpoint; pass one from a run's checkpoints/ folder")
    return state
