"""Figures drawn from a run folder's checkpoints: `advnets figure density-1d RUN_DIR`, the paper's Figure 1.

Panels come from the run's kept step checkpoints (`log.checkpoint_every_epochs`, `log.keep_checkpoints`), evenly
spaced from the first kept one to the last. Each panel uses the checkpoint's raw G, D's opponent at that step
(not the weight average, which D never saw), and 10,000 samples of it drawn with the run's eval.seed. The drawing
itself is reporting/density.py's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from advnets.config import build_config
from advnets.errors import UserError
from advnets.evaluate import checkpoint_kind
from advnets.models import ModelSpec, build_discriminator, build_generator, examples_per_logit
from advnets.models.sampling import eval_mode, generate
from advnets.reporting.density import (
    FIGURE_SAMPLES,
    GRID_POINTS,
    DensityPanel,
    mixture_density,
    pick_evenly,
    plot_density_strip,
)
from advnets.runs.checkpoint import load_checkpoint
from advnets.runs.run_dir import RunDir


def density_1d_figure(run_dir: Path, out: Path | None = None, *, checkpoints: int = 5) -> Path:
    """Figure 1 of the paper from the step checkpoints of a 1-D run (RUN/density-1d.png by default) -> its path.

    Not a run folder, a run whose examples are not 1-D, a data set without a known density, or a run without step
    checkpoints are UserErrors."""
    if checkpoints < 1:
        raise UserError(f"--checkpoints {checkpoints} must be a positive number of panels")
    run = RunDir(run_dir)
    cfg = run.load_config()  # refuses a folder that is not a run
    mixture = getattr(cfg.data, "mixture", None)
    centres, std = mixture() if callable(mixture) else (None, 0.0)
    if centres is None or centres.shape[1] != 1:
        raise UserError(
            f"{run_dir} is not a 1-D run (data.name={cfg.data.name}); density-1d draws runs on 1-D data with a "
            "known density, such as gauss-1d (preset toy-1d)"
        )
    found = run.step_checkpoints()
    if not found:
        raise UserError(
            f"{run.checkpoints} holds no step checkpoints to draw; train longer, or keep more with "
            "log.checkpoint_every_epochs and log.keep_checkpoints"
        )
    loaded = []
    for path in pick_evenly(found, checkpoints):
        state = load_checkpoint(path)
        run_cfg = build_config(base=state["config"])
        shape, kind = checkpoint_kind(state, run_cfg)
        spec = ModelSpec(run_cfg.model.z_dim, shape, kind, num_classes=state.get("num_classes"))
        G = build_generator(run_cfg.model.generator, spec, init=False)
        D = build_discriminator(run_cfg.model.discriminator, spec, init=False)
        try:
            G.load_state_dict(state["G"])
            D.load_state_dict(state["D"])
        except RuntimeError as err:
            raise UserError(f"{path} does not match its own config ({str(err).splitlines()[0][:160]})") from None
        loaded.append((state["counters"]["step"], G, D, run_cfg))

    # One x range for every panel, so that they can be compared: the data's 4-std range, widened to hold the middle
    # 99% of every panel's samples.
    lo, hi = float(centres.min()) - 4 * std, float(centres.max()) + 4 * std
    sampled = []
    for step, G, D, run_cfg in loaded:
        samples = generate(G, run_cfg.model.z_dim, run_cfg.model.noise, FIGURE_SAMPLES, seed=run_cfg.eval.seed)
        samples_np = samples.flatten().double().numpy()
        finite = samples_np[np.isfinite(samples_np)]
        if len(finite):
            lo, hi = min(lo, float(np.quantile(finite, 0.005))), max(hi, float(np.quantile(finite, 0.995)))
        sampled.append((step, samples_np, D))
    xs = np.linspace(lo, hi, GRID_POINTS)
    group = examples_per_logit(loaded[0][2])
    panels = []
    for step, samples_np, D in sampled:
        x_in = torch.as_tensor(xs, dtype=torch.float32).repeat_interleave(group).unsqueeze(1)  # [GRID * group, 1]
        with eval_mode(D):
            d_of_x = torch.sigmoid(D(x_in)).double().numpy()  # [GRID]
        panels.append(DensityPanel(step, samples_np, d_of_x))
    d_label = "D(x)" if group == 1 else f"D(set of {group} copies of x)"
    out = out if out is not None else run.figure("density-1d")
    p_data = mixture_density(xs, centres[:, 0].numpy(), std)
    plot_density_strip(panels, xs, p_data, out, d_label=d_label, title=f"{cfg.name}: p_data, p_g and {d_label}")
    return out

