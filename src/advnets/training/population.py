"""Populations: several runs of one configuration (different seeds, learning rates or weight averages) trained as
one batched computation.

Small nets (the toy labs) spend most of an update in per-operation overhead, not arithmetic; stepping N runs as
one computation pays that overhead once for all N. Each member is a complete `Trainer` (its own data order,
generator, counters, hooks, run folder and checkpoints); the population only replaces the arithmetic of the update:

- `StackedModule` holds the members' parameters stacked along a new first axis ([N, ...], one tensor per
  parameter) and calls the shared architecture on each member's slice with `torch.func.vmap` over
  `torch.func.functional_call`. Every member's own parameters and buffers become views of its slice, so its hooks,
  samples and checkpoints always see its current weights, with no copy.
- One optimiser of the members' class and settings steps the stacked tensors. SGD, Adam and RMSprop are
  elementwise, so this is each member's optimiser; the members' optimiser states are views of its state too.
  Members may have their own learning rates (and schedules): the optimiser steps at the highest and each member's
  share is applied to its slice (`_StackedOptimizer._step_at`); G's weight average is each member's own.
- Nets that are chains of dense layers (the MLP generator, the set discriminator) skip vmap: their stacked forward
  is written out with one `baddbmm` per layer (`chains.py`), the same arithmetic without vmap's per-op cost.
- The losses are vmapped, so each is [N], one per member; `steps.apply` backpropagates their sum, which gives
  every member its own gradient in its own slice (members share no parameter).
- `next_batch` asks each member for its next batch from its own generator and data order, and stacks them, so a
  member draws exactly what it would draw alone.

The update rules and steps are the ones a single run uses (`training.updates`, `training.steps`), run on these parts.
What a member computes equals its run alone up to float rounding: the batched products (bmm) may round in other
places than one run's (mm), and the difference grows as training amplifies it (tests/training/test_population.py
states the tolerance). Dropout masks are drawn per member, from its own generator, before the batched pass
(`StackedModule._masks`); other draws inside the update (instance noise, the gradient penalty's ε) come from each
member's generator through `randomness.drawing_per_member`; R1 and the gradient penalty give one term per member
(`STACKED_TERMS`). What cannot be batched this way is refused with the reason (`population_problem`,
`parts_problem`): other penalty terms, G objectives, the unrolled rule, conditional and spectral-norm models, and
the lower-lr remedy (it changes one member's learning rate).
"""

from __future__ import annotations

import copy
import inspect
import json
import signal
import threading
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import stack_module_state, vmap
from torch.nn.utils import parametrize

from advnets.config import RunConfig, to_dict
from advnets.losses import Loss
from advnets.models.layers import Dropout
from advnets.models.players import is_conditional
from advnets.randomness import (
    MaskSpec,
    draw_mask,
    drawing_from,
    drawing_per_member,
    given_masks,
    recording_masks,
)
from advnets.training.chains import chain_of
from advnets.training.ema import update_ema
from advnets.training.optim import ClassicalSGD
from advnets.training.parts import Batch, Parts
from advnets.training.steps import Stats
from advnets.training.trainer import Trainer

# Config keys that may differ between members: the seed, what only names, logs or scores a run, and the
# hyper-parameters that leave every tensor's shape alone and act per member: each player's learning rate (its
# schedule included) and G's weight average.
MEMBER_KEYS = (
    "seed",
    "name",
    "train.g_optimizer.lr",
    "train.d_optimizer.lr",
    "train.g_optimizer.lr_decay",
    "train.d_optimizer.lr_decay",
    "train.g_optimizer.lr_min",
    "train.d_optimizer.lr_min",
    "train.g_optimizer.lr_decay_start",
    "train.d_optimizer.lr_decay_start",
    "train.ema_decay",
    "train.ema_start",
)
MEMBER_PREFIXES = ("log.", "eval.")
RULES = ("alternating", "simultaneous")


# Penalty terms written for a population's stacked D too (one value per member): R1 and the gradient penalty (input
# gradients of the stacked D are each member's own; the penalty's ε is drawn per member). weight_l2 sums over every
# weight, members' together.
STACKED_TERMS = ("r1", "gradient_penalty")
# Input transforms whose draws go through randomness.normal_like, which draws per member in a population.
STACKED_TRANSFORMS = ("instance_noise",)


def population_problem(cfgs: Sequence[RunConfig]) -> str | None:
    """Why these configs cannot train as one population, or None when they can (members' nets are checked when
    the population is built)."""
    if len(cfgs) < 2:
        return "a population needs at least two runs"
    first = _shared(cfgs[0])
    for cfg in cfgs[1:]:
        other = _shared(cfg)
        differs = sorted(k for k in set(first) | set(other) if first.get(k) != other.get(k))
        if differs:
            return (
                "members may differ only in seed, name, log.*, eval.*, their learning rates (train.g_optimizer / "
                "d_optimizer .lr, .lr_decay, .lr_decay_start, .lr_min) and weight average (train.ema_decay, ema_start); these differ: "
                f"{', '.join(differs)}"
            )
    cfg = cfgs[0]
    if cfg.train.update not in RULES:
        return f"train.update={cfg.train.update} is not batched (populations run {' and '.join(RULES)})"
    unbatched = [name for name in cfg.transforms if name not in STACKED_TRANSFORMS]
    if unbatched:
        return f"input transforms ({', '.join(unbatched)}) are not written for a population (only {', '.join(STACKED_TRANSFORMS)} is)"
    if cfg.g_objectives:
        return f"G objectives ({', '.join(cfg.g_objectives)}) call D's features"
    if cfg.health.on_divergence != "stop":
        return "health.on_divergence=lower_lr changes one member's learning rates"
    if to_dict(cfg)["speed"] != to_dict(RunConfig())["speed"]:
        return "the speed switches (speed.*) are not batched; leave them at their defaults"
    return None


def population_key(cfg: RunConfig) -> str:
    """The same text for configs that may be members of one population (the keys `population_problem` compares)."""
    return json.dumps(_shared(cfg), sort_keys=True, default=str)


def _shared(cfg: RunConfig) -> dict[str, Any]:
    flat: dict[str, Any] = {}

    def walk(d: dict[str, Any], prefix: str) -> None:
        for key, value in d.items():
            if isinstance(value, dict) and value:
                walk(value, f"{prefix}{key}.")
            else:
                flat[f"{prefix}{key}"] = value

    walk(to_dict(cfg), "")
    return {k: v for k, v in flat.items() if k not in MEMBER_KEYS and not k.startswith(MEMBER_PREFIXES)}


def parts_problem(parts: Parts) -> str | None:
    """Why a member's built parts cannot be stacked, or None."""
    terms = [name for name, p in parts.penalties.items() if p.term is not None and name not in STACKED_TERMS]
    if terms:
        return f"penalties ({', '.join(terms)}) are not written for a population's stacked D (only {', '.join(STACKED_TERMS)} is)"
    return module_problem(parts.G, "G") or module_problem(parts.D, "D")


def module_problem(module: nn.Module, role: str) -> str | None:
    """Why `module` (G or D) cannot be stacked, or None."""
    if is_conditional(module):
        return f"{role} is conditional"
    if any(parametrize.is_parametrized(m) for m in module.modules()):
        return f"{role} has parametrised weights (spectral norm), whose state changes inside the forward pass"
    if any(isinstance(m, nn.Dropout) for m in module.modules()):
        # advnets' Dropout draws from the run's generator, so its masks can be drawn per member before the batched
        # pass; torch's would draw from the global RNG inside it.
        return f"{role} has torch.nn.Dropout, whose masks come from the global RNG (use advnets.models.layers.Dropout)"
    return None


class StackedModule(nn.Module):
    """N copies of one architecture with stacked parameters: forward(x [N, B, ...]) -> [N, ...], member i's
    module applied to x[i] (vmap over functional_call). `parameters()` are the stacked tensors."""

    base: nn.Module

    def __init__(self, members: Sequence[nn.Module], generators: Sequence[torch.Generator | None] = ()) -> None:
        super().__init__()
        # The architecture to call; its own tensors are never used (functional_call swaps in each slice).
        object.__setattr__(self, "base", copy.deepcopy(members[0]))
        if hasattr(members[0], "set_size"):  # a set discriminator: penalties read how many examples a logit judges
            self.set_size = members[0].set_size
        # Dropout: each member's masks come from its own generator, drawn before the batched pass (`_masks`).
        self.generators = list(generators)
        self.has_dropout = any(isinstance(m, Dropout) for m in self.base.modules())
        if self.has_dropout and len(self.generators) != len(members):
            raise ValueError("a stacked module with dropout needs one generator per member")
        # A chain of dense layers runs written out for all members at once, vmap's overhead avoided (chains.py).
        self.chain = None if self.has_dropout else chain_of(self.base)
        self._mask_specs: dict[tuple[Any, ...], list[MaskSpec]] = {}
        self._shape_only: nn.Module | None = None
        params, buffers = stack_module_state(list(members))  # detached copies, requires_grad as the members'
        self.names = list(params)
        self.buffer_names = list(buffers)
        for i, name in enumerate(self.names):
            self.register_parameter(f"p{i}", nn.Parameter(params[name], requires_grad=params[name].requires_grad))
        for i, name in enumerate(self.buffer_names):
            self.register_buffer(f"b{i}", buffers[name])
        # Where each stacked tensor goes in the base module: its owner's parameter or buffer dict, and its key.
        self._slots: list[tuple[dict[str, Any], str]] = []
        for names, kind in ((self.names, "_parameters"), (self.buffer_names, "_buffers")):
            for name in names:
                owner, _, attr = name.rpartition(".")
                self._slots.append((getattr(self.base.get_submodule(owner), kind), attr))
        self.bind(members)

    def stacked(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        params = {name: getattr(self, f"p{i}") for i, name in enumerate(self.names)}
        buffers = {name: getattr(self, f"b{i}") for i, name in enumerate(self.buffer_names)}
        return params, buffers

    def bind(self, members: Sequence[nn.Module]) -> None:
        """Make every member's parameters and buffers views of its slice (its hooks see the current weights)."""
        params, buffers = self.stacked()
        # Per stacked parameter, the members' parameters in member order (bind_grads runs every iteration).
        self.member_params = [[dict(m.named_parameters())[name] for m in members] for name in self.names]
        for name, own in zip(self.names, self.member_params, strict=True):
            for p, view in zip(own, params[name].data.unbind(0), strict=True):
                p.data = view
        for name in self.buffer_names:
            for m, view in zip(members, buffers[name].data.unbind(0), strict=True):
                m.get_buffer(name).data = view

    def bind_grads(self) -> None:
        """Give each member the gradient of its slice (the health monitor reads members' `.grad`). The stacked
        gradients are zeroed in place, never freed (`_StackedOptimizer.zero_grad`), so views bound once stay
        the members' gradients for good."""
        for stacked, own in zip(self.stacked()[0].values(), self.member_params, strict=True):
            if stacked.grad is not None and own[0].grad is None:
                for p, grad in zip(own, stacked.grad.unbind(0), strict=True):
                    p.grad = grad

    def train(self, mode: bool = True) -> StackedModule:
        super().train(mode)
        self.base.train(mode)
        return self

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        if self.chain is not None and len(args) == 1:
            return self.chain(self.stacked()[0], args[0])
        tensors = [getattr(self, f"p{i}") for i in range(len(self.names))]
        tensors += [getattr(self, f"b{i}") for i in range(len(self.buffer_names))]
        masks = self._masks(args) if self.has_dropout and self.base.training else []
        in_dims = (0, 0, *[0 if torch.is_tensor(a) else None for a in args])
        return vmap(self._call, in_dims=in_dims)(tensors, masks, *args)

    def _call(self, tensors: list[torch.Tensor], masks: list[torch.Tensor], *args: torch.Tensor) -> torch.Tensor:
        """The base module on one member's tensors (and dropout masks): what functional_call does, without its
        per-call checks (tied weights, strictness), which cost more than a toy net's arithmetic. The base's own
        tensors are put back."""
        saved = []
        for (store, name), tensor in zip(self._slots, tensors, strict=True):
            saved.append(store[name])
            store[name] = tensor
        try:
            if not masks:
                return self.base(*args)
            with given_masks(masks):
                return self.base(*args)
        finally:
            for (store, name), tensor in zip(self._slots, saved, strict=True):
                store[name] = tensor

    def _masks(self, args: Sequence[Any]) -> list[torch.Tensor]:
        """Every dropout mask of one forward pass, [N, ...] each: member i's drawn from its own generator in the
        order its run alone draws them (layer after layer), so a member's masks are its run's."""
        key = tuple((tuple(a.shape[1:]), a.dtype) if torch.is_tensor(a) else a for a in args)
        specs = self._mask_specs.get(key)
        if specs is None:
            # What the pass draws, from a shape-only copy of the net (no arithmetic, no running statistics moved).
            if self._shape_only is None:
                self._shape_only = copy.deepcopy(self.base).to("meta")
            self._shape_only.train(self.base.training)
            with recording_masks() as specs, torch.no_grad():
                self._shape_only(*[torch.empty_like(a[0], device="meta") if torch.is_tensor(a) else a for a in args])
            self._mask_specs[key] = specs
        device = next(self.parameters()).device
        drawn = [[draw_mask(spec, device, g) for spec in specs] for g in self.generators]
        return [torch.stack(layer) for layer in zip(*drawn, strict=True)]


class StackedLoss:
    """A loss whose terms are [N], one per member (vmap over the member's batch of logits)."""

    def __init__(self, loss: Loss) -> None:
        self.loss = loss
        self._d = vmap(loss.d_terms)
        self._g = vmap(loss.g_terms)

    def __getattr__(self, name: str) -> Any:  # monitors' panel and the like: the member loss's
        return getattr(self.loss, name)

    def d_terms(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self._d(real_logits, fake_logits))

    def g_terms(self, fake_logits: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(self._g(fake_logits))


def _stack_batches(batches: Sequence[Batch]) -> Batch:
    def stack(values: list[torch.Tensor | None]) -> torch.Tensor | None:
        return None if values[0] is None else torch.stack(values)  # type: ignore[arg-type]

    z = stack([b.z for b in batches])
    assert z is not None
    return Batch(
        stack([b.real for b in batches]), stack([b.real_labels for b in batches]), z, stack([b.fake_labels for b in batches])
    )


class _StackedOptimizer:
    """One optimiser of the members' class and settings over the stacked parameters, its state shared with the
    members' optimisers as views (so each member's checkpoint holds its own state)."""

    def __init__(self, stacked: StackedModule, members: Sequence[nn.Module], opts: Sequence[torch.optim.Optimizer]):
        self.members, self.opts = list(members), list(opts)
        params, _ = stacked.stacked()
        names = {id(p): name for name, p in members[0].named_parameters()}
        self.order = [names[id(p)] for group in opts[0].param_groups for p in group["params"]]
        self.params = [params[name] for name in self.order]
        # The members' class and settings (defaults can gain keys the constructor does not take, e.g. from
        # load_state_dict: only those it takes are passed).
        kind = type(opts[0])
        accepted = inspect.signature(kind.__init__).parameters
        self.opt = kind(self.params, **{k: v for k, v in opts[0].defaults.items() if k in accepted})
        self.bound = False
        states = [self._member_states(i) for i in range(len(opts))]
        if any(states[0]):  # resumed members: stack their states
            for j, p in enumerate(self.params):
                self.opt.state[p] = {
                    key: torch.stack([s[j][key] for s in states]) if torch.is_tensor(value) and value.dim() > 0 else value
                    for key, value in states[0][j].items()
                }
            self.bind()

    def _member_states(self, i: int) -> list[dict[str, Any]]:
        member_params = dict(self.members[i].named_parameters())
        return [self.opts[i].state.get(member_params[name], {}) for name in self.order]

    def bind(self) -> None:
        """Each member's state: views of its slice of every per-element tensor, the shared step counters."""
        if self.bound or not all(self.opt.state.get(p) for p in self.params):
            return
        for i, (member, opt) in enumerate(zip(self.members, self.opts, strict=True)):
            member_params = dict(member.named_parameters())
            for name, p in zip(self.order, self.params, strict=True):
                state = self.opt.state[p]
                opt.state[member_params[name]] = {
                    key: value[i] if torch.is_tensor(value) and value.shape == p.shape else value
                    for key, value in state.items()
                }
        self.bound = True

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.opt.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        # Zeroed in place, so that the members' gradients stay views of these tensors (StackedModule.bind_grads);
        # backward then adds each gradient to zeros, which leaves it exact.
        self.opt.zero_grad(set_to_none=False)

    def step(self) -> None:
        # Each member's schedule set its lr (and momentum: the same for all, one config) for this update.
        lrs = [opt.param_groups[0]["lr"] for opt in self.opts]
        top = max(lrs)
        for group in self.opt.param_groups:
            group["lr"] = top
            if "momentum" in group:
                group["momentum"] = self.opts[0].param_groups[0]["momentum"]
        if top == 0 or all(lr == top for lr in lrs):
            self.opt.step()
        else:
            self._step_at(torch.tensor([lr / top for lr in lrs], dtype=torch.float64))
        self.bind()

    def _step_at(self, shares: torch.Tensor) -> None:
        """The step with member i's learning rate at shares[i] × the stacked optimiser's. Every optimiser here moves a
        weight by lr × (something its state and gradient give), so member i's move is shares[i] × the move at the
        top rate: Adam, RMSprop and torch's SGD keep states that do not depend on lr, and their moves are scaled
        after the step. ClassicalSGD's velocity holds lr × gradients (v ← μv − lr g), so its gradients are scaled
        before the step instead, which keeps each member's velocity its own (and its checkpoint exact)."""
        per = [shares.to(p).view(-1, *[1] * (p.dim() - 1)) for p in self.params]
        if isinstance(self.opt, ClassicalSGD):
            grads = [(p.grad, p.grad.clone()) for p in self.params if p.grad is not None]
            for p, share in zip(self.params, per, strict=True):
                if p.grad is not None:
                    p.grad.mul_(share)
            self.opt.step()
            for grad, kept in grads:  # the members' gradients as computed (their monitors read them)
                grad.copy_(kept)
            return
        before = [p.detach().clone() for p in self.params]
        self.opt.step()
        with torch.no_grad():
            for p, old, share in zip(self.params, before, per, strict=True):
                p.copy_(torch.where(share == 1, p, old + (p - old) * share))


class Population:
    """Members (Trainers of one config, different seeds) stepped together; the `Loop` the update rule sees."""

    def __init__(self, members: Sequence[Trainer]) -> None:
        problem = population_problem([m.cfg for m in members])
        problem = problem or parts_problem(members[0].parts)
        if problem:
            raise ValueError(f"cannot train these runs as one population: {problem}")
        steps = {m.step for m in members}
        if len(steps) > 1:
            raise ValueError(f"population members must be at the same step, got steps {sorted(steps)}")
        self.members = list(members)
        self.cfg = members[0].cfg
        self.update = members[0].update
        self._build()

    def _build(self) -> None:
        ms = self.members
        generators = [m.generator for m in ms]
        G, D = StackedModule([m.G for m in ms], generators), StackedModule([m.D for m in ms], generators)
        self.parts = Parts(
            G=G,
            D=D,
            g_opt=_StackedOptimizer(G, [m.G for m in ms], [m.g_opt for m in ms]),  # type: ignore[arg-type]
            d_opt=_StackedOptimizer(D, [m.D for m in ms], [m.d_opt for m in ms]),  # type: ignore[arg-type]
            loss=StackedLoss(ms[0].parts.loss),  # type: ignore[arg-type]
            penalties=ms[0].parts.penalties,  # R1 (per member) and constraints (weight clipping: elementwise)
            transforms=ms[0].parts.transforms,  # instance noise: drawn per member (train_step)
        )
        self.stop_requested = False
        self.step = self.members[0].step if self.members else 0  # the Loop's: completed iterations

    # -- the Loop -----------------------------------------------------------------------------------------------
    def next_batch(self, n_fake: int | None = None, *, real: bool = True) -> Batch:
        return _stack_batches([m.next_batch(n_fake, real=real) for m in self.members])

    def begin_d_update(self) -> None:
        for m in self.members:
            m.begin_d_update()

    def begin_g_update(self) -> None:
        for m in self.members:
            m.begin_g_update()

    # -- one iteration --------------------------------------------------------------------------------------------
    def train_step(self) -> list[Stats]:
        """One iteration of every member; returns each member's stats."""
        # Inside the update only instance noise draws (normal_like, per member) and dropout (masks drawn per member
        # by StackedModule); population_problem refuses what else would, and vmap raises on a random op.
        with drawing_from(None), drawing_per_member([m.generator for m in self.members]):
            stats = self.update.run(self.parts, self, self.cfg.train)
        G, D = self.parts.G, self.parts.D
        assert isinstance(G, StackedModule) and isinstance(D, StackedModule)
        G.bind_grads()
        D.bind_grads()
        for m in self.members:
            if m.cfg.train.ema_decay is not None:
                assert m.parts.G_ema is not None
                started = m.step >= m.cfg.train.ema_start
                update_ema(m.parts.G_ema, m.G, m.cfg.train.ema_decay if started else 0.0)
            m.step += 1
        self.step += 1
        split = {key: value.unbind(0) for key, value in stats.items()}
        return [{key: values[i] for key, values in split.items()} for i in range(len(self.members))]

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        if self.stop_requested:
            raise KeyboardInterrupt
        self.stop_requested = True

    def fit(self) -> list[str]:
        """Train every member until done or stopped; returns each member's status (as `Trainer.fit`). A member
        whose hooks fail (a divergence stop) ends "failed" with its error printed by its own hooks' `on_end`, and
        the others go on without it."""
        members = list(self.members)
        status = {id(m): "failed" for m in members}
        errors: dict[int, BaseException] = {}
        self.errors = errors  # id(member) -> what ended it
        for m in members:
            m.stop_requested = False
            m.G.train()
            m.D.train()
        self.parts.G.train()
        self.parts.D.train()
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                handlers[sig] = signal.signal(sig, self.request_stop)
        try:
            for m in members:
                for hook in m.hooks:
                    hook.on_start(m)
            while self.members and not self.members[0].done() and not self.stop_requested:
                epoch_before = self.members[0].epoch
                stats = self.train_step()
                failed = []
                for m, s in zip(self.members, stats, strict=True):
                    try:
                        for hook in m.hooks:
                            hook.on_step_end(m, s)
                        if m.epoch != epoch_before:
                            for hook in m.hooks:
                                hook.on_epoch_end(m)
                    except Exception as err:  # noqa: BLE001 -- this member ends; the others go on
                        errors[id(m)] = err
                        failed.append(m)
                if failed:
                    self._drop(failed)
            for m in self.members:
                status[id(m)] = "stopped" if self.stop_requested and not m.done() else "completed"
        finally:
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
            for m in members:
                m._end_hooks(status[id(m)])
        return [status[id(m)] for m in members]

    def error_of(self, member: Trainer) -> BaseException | None:
        """What ended `member` during `fit` (a divergence stop, a failed hook), or None."""
        return getattr(self, "errors", {}).get(id(member))

    def _drop(self, failed: Sequence[Trainer]) -> None:
        """Go on without the failed members: restack the others (their views point into the old tensors)."""
        self.members = [m for m in self.members if m not in failed]
        if self.members:
            self._build()
