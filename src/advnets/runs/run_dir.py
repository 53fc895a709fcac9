"""Self-describing run folders: `runs/00003-<name>/` holding the resolved config, the commands that made it,
metrics, TensorBoard events, sample grids, figures and checkpoints. An existing run is never overwritten."""

from __future__ import annotations

import json
import re
import shlex
import sys
import time
from pathlib import Path

import yaml

from advnets import __version__
from advnets.config import RunConfig, build_config, to_yaml
from advnets.errors import UserError
from advnets.io import append_text, write_text

MARKER = "advnets-run.json"
CONFIG = "config.yaml"
METRICS = "metrics.jsonl"


def is_run_dir(path: Path) -> bool:
    return (path / MARKER).is_file() and (path / CONFIG).is_file()


def _next_index(root: Path) -> int:
    used = [int(m.group(1)) for p in root.glob("*") if (m := re.match(r"(\d{5})-", p.name))]
    return max(used, default=-1) + 1


def create_run_dir(cfg: RunConfig, out: Path | None, root: Path = Path("runs")) -> Path:
    """A new, empty run folder: `out` if given (it must not exist or be empty), else root/NNNNN-<name>."""
    if out is not None:
        if is_run_dir(out):
            raise UserError(
                f"{out} already holds a run; continue it with `advnets resume {out}` or pick a new --out"
            )
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise UserError(f"--out {out} exists and is not an empty folder; pick a new path")
        path = out
    else:
        root.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.name).strip("-") or "run"
        path = root / f"{_next_index(root):05d}-{safe}"
    path.mkdir(parents=True, exist_ok=True)
    write_text(path / CONFIG, to_yaml(cfg))
    marker = {"advnets_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    write_text(path / MARKER, json.dumps(marker, indent=2) + "\n")
    record_command(path)
    return path


def record_command(path: Path) -> None:
    """Append the exact command line (and where it ran) to command.txt."""
    command = shlex.join(["advnets", *sys.argv[1:]])
    line = f"# {time.strftime('%Y-%m-%d %H:%M:%S')} in {Path.cwd()}\n{command}\n"
    append_text(path / "command.txt", line)


def require_run_dir(path: Path) -> None:
    if not path.is_dir():
        raise UserError(f"run folder {path} does not exist; pass a folder made by `advnets train`")
    if not is_run_dir(path):
        raise UserError(
            f"{path} is not an advnets run folder (no {MARKER}); pass a folder made by `advnets train`"
        )


def load_run_config(path: Path) -> RunConfig:
    require_run_dir(path)
    try:
        saved = yaml.safe_load((path / CONFIG).read_text())
    except yaml.YAMLError:
        raise UserError(
            f"{path / CONFIG} is not valid YAML; restore it from the checkpoint or retrain"
        ) from None
    return build_config(base=saved)
