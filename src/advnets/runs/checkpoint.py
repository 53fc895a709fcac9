"""Complete, atomic checkpoints that load without executing code.

A checkpoint is one `torch.save`d dict of tensors and plain data: G, D, G's weight average (`G_ema`, only when the
run keeps one), both optimisers, the step and update counters, the data cursor, every RNG state, the resolved
config and the package version. It is written to a temporary file in the same folder, fsynced and renamed
(advnets.io.atomic_write), and only then does `latest` (a small text file naming the checkpoint) move; so `latest`
never names a partial file, and a failed write (a full disk) leaves the previous checkpoint as `latest`. Old step
checkpoints are removed only after a save succeeded. Loading uses `weights_only=True`: a file carrying pickled code
(a crafted `__reduce__` payload) is refused rather than run.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from functools import partial
from pathlib import Path
from typing import Any

import torch

from advnets.errors import UserError
from advnets.io import WriteError, atomic_write, write_text

# The layout of a checkpoints folder; RunDir (runs/run_dir.py) names the folder and asks for these.
LATEST = "latest"
STEP_CHECKPOINTS = "step-*.pt"


def step_checkpoint_name(step: int) -> str:
    """The file name of the checkpoint after `step` updates (matches STEP_CHECKPOINTS; sorts by step)."""
    return f"step-{step:07d}.pt"


# The older name, kept for evaluation.py's best-so-far checkpoint; fsynced like every checkpoint.
atomic_write_bytes = partial(atomic_write, durable=True)


def save_checkpoint(folder: Path, name: str, state: dict[str, Any], keep: int) -> Path:
    """Write folder/name atomically, point `latest` at it, and keep only the newest `keep` step checkpoints.

    If either write fails, the folder is left as it was (the previous `latest` and the file it names untouched,
    no partial file) and the WriteError says so."""
    path = folder / name
    previous = _previous(folder)
    written = False
    try:
        atomic_write(path, lambda f: torch.save(state, f), durable=True)
        written = True
        write_text(folder / LATEST, f"{name}\n", durable=True)
    except WriteError as err:
        if written and path != previous:
            # Complete, but `latest` does not name it: on a full disk its space is better given back.
            path.unlink(missing_ok=True)
        intact = (
            f"the previous checkpoint {previous} is intact and still `latest`"
            if previous is not None
            else "no earlier checkpoint was saved"
        )
        raise WriteError(err.path, f"{err.cause}; {intact}", err.fix) from None
    # Only now that `latest` names the new file may the older ones go.
    for stale in sorted(folder.glob(STEP_CHECKPOINTS))[:-keep]:
        if stale.name != name:
            stale.unlink(missing_ok=True)
    return path


def _previous(folder: Path) -> Path | None:
    """The checkpoint `latest` names now, if it names one that exists."""
    try:
        return latest_checkpoint(folder)
    except UserError:
        return None


def latest_checkpoint(folder: Path) -> Path:
    """The checkpoint `latest` names in `folder` (a run's checkpoints/ folder)."""
    pointer = folder / LATEST
    if not pointer.is_file():
        raise UserError(f"{folder} holds no checkpoint (no `latest` file); train first, or pass --checkpoint")
    try:
        name = pointer.read_text().strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if not name or "\n" in name:
        raise UserError(
            f"{pointer} does not name a checkpoint file; pass a step-*.pt file from {folder} with --checkpoint"
        )
    path = folder / name
    if not path.is_file():
        raise UserError(
            f"{pointer} names {path.name}, which is missing; pass an existing file with --checkpoint"
        )
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Load a checkpoint onto the CPU, refusing anything that would execute code.

    `path` may be a `latest` pointer (`--checkpoint RUN/checkpoints/latest`): the checkpoint it names is loaded."""
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; check the path")
    if path.name == LATEST:
        path = latest_checkpoint(path.parent)
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
