"""The run-folder application on top of the training loop: self-describing run folders, checkpoints, the hooks
that write metrics, samples, figures and evaluations, and `train` / `resume` / `sample` as library functions."""

from __future__ import annotations

from typing import Any

__all__ = ["RunDir", "evaluate_run", "load_generator", "resume", "sample", "train"]


def __getattr__(name: str) -> Any:
    # Loaded on first use, not at import: advnets.evaluate uses runs.run_dir, and runs.session uses evaluate.
    if name == "RunDir":
        from advnets.runs.run_dir import RunDir

        return RunDir
    if name in __all__:
        from advnets.runs import session

        return getattr(session, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
