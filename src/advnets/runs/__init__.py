"""The run-folder application on top of the training loop: self-describing run folders, checkpoints, the hooks
that write metrics, samples, figures and evaluations, and `train` / `resume` / `sample` as library functions."""

from advnets.runs.session import load_generator, resume, sample, train

__all__ = ["load_generator", "resume", "sample", "train"]
