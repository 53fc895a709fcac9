"""Populations (advnets.training.population): N runs of one config stepped as one batched computation give each
member what it gets alone, up to float rounding: the batched products (bmm) round in other places than one run's
(mm). With SGD a weight moves by lr × its gradient, so rounding stays at float32 resolution (1e-6 here); Adam divides
each gradient by its own running magnitude, so the rounding of a near-zero gradient can move a weight by a visible
fraction of lr (1e-4 after a few updates at lr 1e-3)."""

import copy

import pytest
import torch

from advnets.randomness import drawing_per_member, normal_like, uniform
from advnets.training.population import Population, population_problem
from advnets.training.trainer import Trainer
from tests.conftest import tiny_config

NO_DROPOUT = ["model.discriminator.input_keep=1", "model.discriminator.hidden_keep=1"]
SGD = ["train.g_optimizer.momentum=0.5", "train.d_optimizer.momentum=0.5"]
ADAM = ["train.g_optimizer.name=adam", "train.d_optimizer.name=adam", "train.g_optimizer.lr=1e-3", "train.d_optimizer.lr=1e-3"]
SEEDS = (0, 1, 2)
NOISE = ["transforms.instance_noise.std=0.3", "transforms.instance_noise.anneal_steps=10"]


def members(*overrides, seeds=SEEDS):
    return [Trainer.from_config(tiny_config(*NO_DROPOUT, *overrides, f"seed={seed}")) for seed in seeds]


def weights(trainer):
    return [p.detach().clone() for p in [*trainer.G.parameters(), *trainer.D.parameters()]]


def gap(a, b):
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("rule", ["alternating", "simultaneous"])
@pytest.mark.parametrize(("optimizer", "tolerance"), [(SGD, 1e-6), (ADAM, 1e-4)])
def test_each_member_equals_its_run_alone_up_to_rounding(rule, optimizer, tolerance):
    overrides = [f"train.update={rule}", *optimizer, "train.d_steps=1"]
    alone = members(*overrides)
    solo_losses = [[{k: float(v) for k, v in t.train_step().items()} for _ in range(6)] for t in alone]
    together = members(*overrides)
    population = Population(together)
    pop_losses: list[list[dict]] = [[] for _ in SEEDS]
    for _ in range(6):
        for i, stats in enumerate(population.train_step()):
            pop_losses[i].append({k: float(v) for k, v in stats.items()})
    for a, b, la, lb in zip(alone, together, solo_losses, pop_losses, strict=True):
        assert gap(weights(a), weights(b)) < tolerance
        assert b.step == a.step == 6 and b.g_updates == a.g_updates and b.d_updates == a.d_updates
        assert la[0].keys() == lb[0].keys()
        for sa, sb in zip(la, lb, strict=True):
            assert sa == pytest.approx(sb, rel=1e-4, abs=1e-5)
    # The members differ from each other (each drew its own data order and noise).
    assert gap(weights(together[0]), weights(together[1])) > 1e-3


def test_k_discriminator_steps_and_the_weight_average():
    overrides = ["train.update=alternating", "train.d_steps=2", *SGD, "train.ema_decay=0.9"]
    alone = members(*overrides)
    for t in alone:
        for _ in range(4):
            t.train_step()
    together = members(*overrides)
    population = Population(together)
    for _ in range(4):
        population.train_step()
    for a, b in zip(alone, together, strict=True):
        assert b.d_updates == a.d_updates == 8
        assert gap(weights(a), weights(b)) < 1e-6
        assert gap(list(a.parts.G_ema.parameters()), list(b.parts.G_ema.parameters())) < 1e-6


# Per member: each player's learning rate (one member's decays, with a floor) and G's weight average.
HYPER = [
    ["train.g_optimizer.lr={g}", "train.d_optimizer.lr={d}", "train.ema_decay=0.9"],
    ["train.g_optimizer.lr={g2}", "train.d_optimizer.lr={d}", "train.ema_decay=0.5", "train.ema_start=2"],
    ["train.g_optimizer.lr={g}", "train.d_optimizer.lr={d2}", "train.d_optimizer.lr_decay=1.5", "train.d_optimizer.lr_decay_start=2", "train.d_optimizer.lr_min=1e-4"],
]


@pytest.mark.parametrize(
    ("optimizer", "rates", "tolerance"),
    [
        # ClassicalSGD: its velocity holds lr x gradient, so the gradients are scaled (exact velocity per member).
        (SGD, {"g": 0.1, "g2": 0.02, "d": 0.1, "d2": 0.3}, 1e-6),
        (ADAM, {"g": 1e-3, "g2": 2e-4, "d": 1e-3, "d2": 3e-3}, 1e-4),
    ],
)
def test_members_with_their_own_learning_rates_and_weight_averages_equal_their_runs_alone(optimizer, rates, tolerance):
    configs = [[*optimizer, "train.update=alternating", *(o.format(**rates) for o in hyper)] for hyper in HYPER]
    alone = [Trainer.from_config(tiny_config(*NO_DROPOUT, *c, f"seed={i}")) for i, c in enumerate(configs)]
    together = [Trainer.from_config(tiny_config(*NO_DROPOUT, *c, f"seed={i}")) for i, c in enumerate(configs)]
    for t in alone:
        for _ in range(5):
            t.train_step()
    population = Population(together)
    for _ in range(5):
        population.train_step()
    for a, b in zip(alone, together, strict=True):
        assert gap(weights(a), weights(b)) < tolerance
        assert (a.parts.G_ema is None) == (b.parts.G_ema is None)  # the third member averages nothing
        if a.parts.G_ema is not None:
            assert gap(list(a.parts.G_ema.parameters()), list(b.parts.G_ema.parameters())) < tolerance
        assert b.d_opt.param_groups[0]["lr"] == a.d_opt.param_groups[0]["lr"]
        # The member's own optimiser state (a view of its slice) is what it has alone: its checkpoint resumes it.
        for pa, pb in zip(a.d_opt.param_groups[0]["params"], b.d_opt.param_groups[0]["params"], strict=True):
            for key, value in a.d_opt.state[pa].items():
                if torch.is_tensor(value) and value.dim() > 0:
                    assert float((value - b.d_opt.state[pb][key]).abs().max()) < tolerance, key
    # Had the population used one rate for all, the third member's D would be elsewhere.
    assert gap(weights(together[2]), weights(Trainer.from_config(tiny_config(*NO_DROPOUT, *configs[0], "seed=2")))) > 1e-3


def test_a_members_checkpoint_is_its_own_state_and_continues_alone():
    together = members(*ADAM)
    population = Population(together)
    for _ in range(3):
        population.train_step()
    state = copy.deepcopy(together[1].state_dict())
    # The member's optimiser state has its own slice, not the stacked tensors.
    for name, (key, p) in zip(["G"] * 99, enumerate(together[1].G.parameters())):
        moments = state["g_opt"]["state"][key]
        assert moments["exp_avg"].shape == p.shape, name
    assert state["G"]["output_layer.weight"].shape == together[1].G.output_layer.weight.shape
    resumed = Trainer.from_config(tiny_config(*NO_DROPOUT, *ADAM, "seed=1"))
    resumed.load_state_dict(state)
    for _ in range(2):
        population.train_step()
        resumed.train_step()
    assert gap(weights(resumed), weights(together[1])) < 1e-4


def test_a_population_of_resumed_members_continues_exactly_as_one_that_never_stopped():
    overrides = [*ADAM, "train.update=alternating"]
    straight = members(*overrides)
    population = Population(straight)
    for _ in range(3):
        population.train_step()
    states = [copy.deepcopy(t.state_dict()) for t in straight]
    for _ in range(3):
        population.train_step()
    resumed = members(*overrides)
    for t, state in zip(resumed, states, strict=True):
        t.load_state_dict(state)
    again = Population(resumed)
    for _ in range(3):
        again.train_step()
    for a, b in zip(straight, resumed, strict=True):
        assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b), strict=True))


def test_members_gradients_are_their_slices():
    together = members(*SGD)
    population = Population(together)
    population.train_step()
    stacked = dict(population.parts.D.named_parameters())
    first = next(iter(stacked.values()))
    own = next(iter(together[2].D.parameters()))
    assert own.grad is not None and torch.equal(own.grad, first.grad[2])


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        (["seed=1", "train.g_optimizer.momentum=0.7"], "train.g_optimizer.momentum"),
        (["penalties.weight_l2.weight=1"], "penalties (weight_l2)"),
        (["train.update=unrolled"], "train.update=unrolled is not batched"),
        (["health.on_divergence=lower_lr"], "lower_lr"),
        (["speed.autocast=bf16"], "speed switches"),
    ],
)
def test_what_cannot_be_batched_is_refused_with_the_reason(overrides, why):
    first = [*NO_DROPOUT, "seed=0"] if "seed=1" in overrides else [*NO_DROPOUT, *overrides, "seed=3"]
    runs = [Trainer.from_config(tiny_config(*first)), Trainer.from_config(tiny_config(*NO_DROPOUT, *overrides))]
    with pytest.raises(ValueError, match="cannot train these runs as one population") as err:
        Population(runs)
    assert why in str(err.value)
    assert population_problem([r.cfg for r in runs]) is None or why in str(population_problem([r.cfg for r in runs]))


def alone_and_together(overrides, steps=4):
    """Each seed's run alone and the same runs as one population, `steps` updates each (dropout kept); asserts that
    every member equals its run alone (weights 1e-6 with SGD, logged stats 1e-4) and returns (population, stats of
    the population: [step][member])."""
    alone = [Trainer.from_config(tiny_config(*overrides, f"seed={seed}")) for seed in SEEDS]
    solo = [[{k: float(v) for k, v in t.train_step().items()} for _ in range(steps)] for t in alone]
    together = [Trainer.from_config(tiny_config(*overrides, f"seed={seed}")) for seed in SEEDS]
    population = Population(together)
    batched = [[{k: float(v) for k, v in s.items()} for s in population.train_step()] for _ in range(steps)]
    for i, (a, b) in enumerate(zip(alone, together, strict=True)):
        assert gap(weights(a), weights(b)) < 1e-6
        assert torch.equal(a.generator.get_state(), b.generator.get_state())  # the same draws, no more, no fewer
        for step in range(steps):
            assert solo[i][step] == pytest.approx(batched[step][i], rel=1e-4, abs=1e-5)
    return population, batched


@pytest.mark.parametrize("rule", ["alternating", "simultaneous"])
def test_members_with_dropout_draw_their_own_masks_as_their_runs_alone(rule):
    # tiny's maxout D keeps 0.8 of its input and 0.5 of each hidden layer (the paper's D). Each member's masks are
    # drawn from its own generator before the batched pass, in its run's order; a mask drawn from another
    # generator, or in another order, changes D's output at once (checked: the members' generators swapped fail).
    population, _ = alone_and_together([f"train.update={rule}", *SGD])
    together = population.members
    # Dropout acted: the members' D outputs in training mode differ from eval mode's.
    D = population.parts.D
    x = torch.stack([t.next_batch().real for t in together])
    with torch.no_grad():
        train_out = D(x)
        D.eval()
        eval_out = D(x)
        D.train()
    assert not torch.allclose(train_out, eval_out)


@pytest.mark.parametrize(("rule", "every"), [("alternating", 1), ("simultaneous", 1), ("alternating", 2)])
def test_members_with_the_r1_penalty_equal_their_runs_alone(rule, every):
    # R1 differentiates D's input: on the stacked D the input gradients are [members, examples, pixels], each
    # member's own, and the term is [members]. With dropout in D too (its masks per member, R1's pass included).
    _, batched = alone_and_together([f"train.update={rule}", *SGD, "penalties.r1.weight=10", f"penalties.r1.every={every}"])
    assert all((stats["penalty_r1"] > 0) == (step % every == 0) for step, s in enumerate(batched) for stats in s)
    # Each member's penalty is its own (they differ), not one value shared by all.
    assert len({round(batched[0][i]["penalty_r1"], 6) for i in range(len(SEEDS))}) == len(SEEDS)


def test_members_with_instance_noise_draw_their_own_noise_as_their_runs_alone():
    # Instance noise on every input D sees, annealed: each member's noise from its own generator (normal_like per
    # member), interleaved with its dropout masks in its run's order.
    _, batched = alone_and_together(["train.update=alternating", *SGD, *NOISE])
    assert batched[0][0] != batched[0][1]


def test_members_with_the_gradient_penalty_draw_their_own_interpolations_as_their_runs_alone():
    # The gradient penalty draws one ε per example from each member's generator, and its input gradients are each
    # member's own: [members] terms.
    _, batched = alone_and_together(["train.update=alternating", *SGD, "penalties.gradient_penalty.weight=10"])
    assert len({round(stats["penalty_gradient_penalty"], 6) for stats in batched[0]}) == len(SEEDS)


def test_draws_inside_a_populations_update_come_from_each_members_generator():
    x = torch.zeros(2, 5, 3)
    with drawing_per_member([torch.Generator().manual_seed(1), torch.Generator().manual_seed(2)]):
        u, n = uniform((4, 1), x), normal_like(x)
    assert torch.equal(u[1], torch.rand((4, 1), generator=torch.Generator().manual_seed(2)))
    first = torch.Generator().manual_seed(1)
    torch.rand((4, 1), generator=first)  # member 0 drew its ε first
    assert torch.equal(n[0], torch.randn((5, 3), generator=first))


def test_a_net_with_torchs_own_dropout_is_refused():
    runs = members(*SGD, seeds=(0, 1))
    for run in runs:
        run.D.extra = torch.nn.Dropout(0.5)
    with pytest.raises(ValueError, match="torch.nn.Dropout"):
        Population(runs)


def test_members_at_different_steps_are_refused():
    runs = members(*SGD, seeds=(0, 1))
    runs[0].train_step()
    with pytest.raises(ValueError, match="same step"):
        Population(runs)
