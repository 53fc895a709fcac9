"""Each axis is open: a loss, a penalty with a constraint, an input transform, a G objective, an update rule, a vector
data set, a metric and a conditional G and D family are registered from outside advnets (here), chosen by config
and trained for two steps through the ordinary Trainer and run-folder hooks, without editing the package."""

from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F

from advnets.config import build_config
from advnets.data import DATASETS, VectorSet
from advnets.errors import UserError
from advnets.losses import LOSSES, MonitorPanel
from advnets.metrics import METRICS, Metric
from advnets.models import DISCRIMINATORS, GENERATORS, ModelFamily
from advnets.objectives import G_OBJECTIVES, GObjective
from advnets.penalties import PENALTIES, Penalty
from advnets.runs.session import sample, train
from advnets.training.steps import d_step
from advnets.training.trainer import Trainer
from advnets.training.updates import UPDATES, UpdateRule
from advnets.transforms import TRANSFORMS


# --- a vector data set with its own option -----------------------------------------------------------------
@dataclass
class BlobOptions:
    name: str = "blob"
    split: str = "train"
    centre: float = 3.0  # where the blob sits


def load_blob(options: BlobOptions, split: str):
    gen = torch.Generator().manual_seed({"train": 0, "valid": 1, "test": 2}[split])
    return VectorSet(options.centre + 0.1 * torch.randn(256, 2, generator=gen), "blob", split)


# --- a critic loss that reports its own monitoring values --------------------------------------------------
CRITIC_PANEL = MonitorPanel(keys=("critic_real", "critic_fake"), ylabel="critic score")


@dataclass(frozen=True)
class CriticLoss:
    panel: MonitorPanel = CRITIC_PANEL

    def d_terms(self, real_logits, fake_logits):
        return {
            "d_loss": fake_logits.mean() - real_logits.mean(),
            "critic_real": real_logits.detach().mean(),
            "critic_fake": fake_logits.detach().mean(),
        }

    def g_terms(self, fake_logits):
        return {"g_loss": -fake_logits.mean()}


# --- a penalty with a weight (a term on D's loss) and a clipping constraint --------------------------------
@dataclass
class ClipOptions:
    weight: float = 0.5
    c: float = 0.05


def build_clip_penalty(options: ClipOptions) -> Penalty:
    def term(inputs):
        return options.weight * inputs.real_logits.square().mean()

    def constrain(D):
        with torch.no_grad():
            for p in D.parameters():
                p.clamp_(-options.c, options.c)

    return Penalty(term=term, constrain=constrain)


# --- an annealed input transform, a G objective, an update rule, a metric -----------------------------------
@dataclass
class ShiftOptions:
    amount: float = 1.0


SEEN_STEPS: list[int] = []


def build_shift(options: ShiftOptions):
    def shift(x, step):
        SEEN_STEPS.append(step)
        return x + options.amount / (1 + step)

    return shift


def build_mean_matching(options) -> GObjective:
    return GObjective(term=lambda inputs: F.mse_loss(inputs.fake.mean(0), inputs.real.mean(0)))


@dataclass
class DOnlyOptions:
    repeats: int = 1  # D updates per iteration (an update rule's own key: train.rule.repeats)


def d_only(parts, loop, cfg):
    stats = {}
    for _ in range(cfg.rule.repeats):
        loop.begin_d_update()
        stats = d_step(parts, loop.next_batch(), loop.step)
    return stats


def distance_to_centre(options, inputs):
    samples = inputs.sample(64)
    return {"value": float((samples.mean(0) - inputs.references["test"].examples.mean(0)).norm())}


@pytest.fixture
def outside_entries():
    DATASETS.register("blob", options=BlobOptions)(load_blob)
    LOSSES.register("critic")(lambda options: CriticLoss())
    PENALTIES.register("logit_l2_clip", options=ClipOptions)(build_clip_penalty)
    TRANSFORMS.register("shift", options=ShiftOptions)(build_shift)
    G_OBJECTIVES.register("mean_matching")(build_mean_matching)
    UPDATES.register("d_only", options=DOnlyOptions)(UpdateRule(d_only, lambda cfg: cfg.rule.repeats))
    METRICS.register("centre_distance")(
        Metric(
            compute=distance_to_centre,
            protocol=lambda options, refs: "centre_distance64",
            needs=("test",),
            higher_is_better=False,
        )
    )
    yield
    for registry, name in (
        (DATASETS, "blob"),
        (LOSSES, "critic"),
        (PENALTIES, "logit_l2_clip"),
        (TRANSFORMS, "shift"),
        (G_OBJECTIVES, "mean_matching"),
        (UPDATES, "d_only"),
        (METRICS, "centre_distance"),
    ):
        registry.unregister(name)


OUTSIDE = [
    "data.name=blob",
    "data.centre=5.0",
    "model.z_dim=4",
    "model.generator.hidden=[8]",
    "model.generator.output=linear",
    "model.discriminator.arch=mlp",
    "model.discriminator.hidden=[8]",
    "loss.name=critic",
    "penalties.logit_l2_clip.c=0.02",
    "transforms.shift.amount=2.0",
    "g_objectives.mean_matching={}",
    "eval.metrics=[centre_distance]",
    "eval.every_epochs=1",
    "train.update=alternating",
    "train.batch_size=128",
    "train.epochs=1",
    "train.g_optimizer.name=adam",
    "train.d_optimizer.name=rmsprop",
    "log.every_steps=1",
    "log.tensorboard=false",
    "log.progress=false",
    "name=outside",
]


def test_every_axis_takes_a_member_registered_outside_the_package(outside_entries, tmp_path):
    SEEN_STEPS.clear()
    cfg = build_config(overrides=OUTSIDE)
    assert cfg.data.centre == 5.0 and cfg.penalties["logit_l2_clip"].c == 0.02
    run_dir, status = train(cfg, tmp_path / "run")  # 256 examples / 128 = two steps
    assert status == "completed"
    records = [__import__("json").loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2]
    for key in ("d_loss", "g_loss", "critic_real", "critic_fake", "penalty_logit_l2_clip", "g_mean_matching"):
        assert all(key in r for r in records), key
    assert "d_real" not in records[0]  # a critic reports scores, not sigmoid probabilities
    assert {0, 1} <= set(SEEN_STEPS)  # the transform saw the step count, for annealing
    state = Trainer.from_config(cfg)  # the constraint ran after D's step: weights within ±c after one step
    state.train_step()
    assert max(p.abs().max().item() for p in state.D.parameters()) <= 0.02 + 1e-7
    evals = [__import__("json").loads(line) for line in (run_dir / "eval.jsonl").read_text().splitlines()]
    assert evals[0]["name"] == "centre_distance64" and evals[0]["metric"] == "centre_distance"
    assert (run_dir / "centre_distance.png").is_file()
    assert (run_dir / "samples" / "latest.png").is_file()  # a scatter over the data, not an image grid
    assert (run_dir / "losses.png").is_file()


def test_an_outside_update_rule_is_chosen_by_name(outside_entries):
    cfg = build_config(overrides=[*OUTSIDE, "train.update=d_only", "train.rule.repeats=3", "g_objectives={}"])
    assert cfg.train.rule.repeats == 3
    trainer = Trainer.from_config(cfg)
    G0 = [p.detach().clone() for p in trainer.G.parameters()]
    trainer.train_step()
    trainer.train_step()
    assert (trainer.d_updates, trainer.g_updates) == (6, 0)
    assert all(torch.equal(a, b) for a, b in zip(G0, trainer.G.parameters()))


def test_outside_options_are_checked_like_the_packages_own(outside_entries):
    with pytest.raises(UserError, match=r"unknown config key 'data.center'.*did you mean data.centre"):
        build_config(overrides=[*OUTSIDE, "data.center=1"])
    with pytest.raises(UserError, match="penalties.logit_l2_clip.c"):
        build_config(overrides=[*OUTSIDE, "penalties.logit_l2_clip.c=abc"])
    with pytest.raises(UserError, match=r"train.rule.repeat.*did you mean train.rule.repeats"):
        build_config(overrides=[*OUTSIDE, "train.update=d_only", "train.rule.repeat=2"])


# --- a conditional G and D family, on a labelled data set --------------------------------------------------
SEEN_LABELS: list[tuple[str, torch.Tensor]] = []


def load_two_blobs(options: BlobOptions, split: str):
    """Two blobs, at -centre and +centre, labelled 0 and 1."""
    gen = torch.Generator().manual_seed({"train": 0, "valid": 1, "test": 2}[split])
    labels = torch.arange(256) % 2
    examples = (2.0 * labels[:, None] - 1.0) * options.centre + 0.1 * torch.randn(256, 2, generator=gen)
    return VectorSet(examples, "two_blobs", split, labels=labels)


@dataclass
class CondOptions:
    hidden: int = 8


class CondG(torch.nn.Module):
    def __init__(self, options, spec):
        super().__init__()
        self.embed = torch.nn.Embedding(spec.num_classes, options.hidden)
        self.body = torch.nn.Sequential(torch.nn.Linear(spec.z_dim, options.hidden), torch.nn.ReLU())
        self.out = torch.nn.Linear(options.hidden, spec.shape[0])

    def forward(self, z, labels):
        SEEN_LABELS.append(("G", labels.clone()))
        return self.out(self.body(z) * self.embed(labels))


class CondD(torch.nn.Module):
    """A projection discriminator (Miyato & Koyama 2018): ψ(φ(x)) + <embed(y), φ(x)>."""

    def __init__(self, options, spec):
        super().__init__()
        self.phi = torch.nn.Sequential(torch.nn.Linear(spec.shape[0], options.hidden), torch.nn.LeakyReLU(0.2))
        self.psi = torch.nn.Linear(options.hidden, 1)
        self.embed = torch.nn.Embedding(spec.num_classes, options.hidden)

    def features(self, x, labels):
        return self.phi(x)

    def forward(self, x, labels):
        SEEN_LABELS.append(("D", labels.clone()))
        h = self.phi(x)
        return self.psi(h).squeeze(-1) + (self.embed(labels) * h).sum(-1)


@pytest.fixture
def conditional_entries():
    DATASETS.register("two_blobs", options=BlobOptions)(load_two_blobs)
    GENERATORS.register("cond_g", options=CondOptions)(ModelFamily(CondG, conditional=True))
    DISCRIMINATORS.register("cond_d", options=CondOptions)(ModelFamily(CondD, conditional=True))
    yield
    DATASETS.unregister("two_blobs")
    GENERATORS.unregister("cond_g")
    DISCRIMINATORS.unregister("cond_d")


CONDITIONAL = [
    "data.name=two_blobs",
    "model.z_dim=4",
    "model.generator.arch=cond_g",
    "model.discriminator.arch=cond_d",
    "train.batch_size=64",
    "train.max_steps=2",
    "train.g_optimizer.name=adam",
    "train.d_optimizer.name=adam",
    "g_objectives.feature_matching.keep_adversarial=true",
    "penalties.r1.weight=1",
    "log.every_steps=1",
    "log.sample_every_steps=1",
    "log.grid_size=8",
    "log.tensorboard=false",
    "log.progress=false",
    "name=conditional",
]


@pytest.mark.parametrize("rule", ["simultaneous", "alternating", "unrolled"])
def test_a_conditional_family_registered_outside_gets_labels_under_every_rule(conditional_entries, rule, tmp_path):
    cfg = build_config(overrides=[*CONDITIONAL, f"train.update={rule}"])
    trainer = Trainer.from_config(cfg)
    real_labels = []
    original = trainer.next_batch

    def recording(*args, **kwargs):
        batch = original(*args, **kwargs)
        real_labels.append(batch.real_labels)
        return batch

    trainer.next_batch = recording
    SEEN_LABELS.clear()
    trainer.train_step()
    trainer.train_step()
    assert trainer.step == 2
    # The real batches' labels are the labels of the examples drawn; G is asked for classes of the data.
    index = trainer.batches.order(0)[: 2 * 64]
    drawn = [labels for labels in real_labels if labels is not None]
    assert len(drawn) == 2 and torch.equal(torch.cat(drawn), trainer.train_set.labels[index])
    g_labels = [labels for who, labels in SEEN_LABELS if who == "G"]
    d_labels = [labels for who, labels in SEEN_LABELS if who == "D"]
    assert g_labels and d_labels
    assert set(torch.cat(g_labels).tolist()) == {0, 1}
    assert any(torch.equal(labels, drawn[0]) for labels in d_labels)  # D judged the reals with their own labels
    assert any(torch.equal(labels, g_labels[0]) for labels in d_labels)  # ... and the fakes with G's classes
    # Through a run folder too: the fixed grid has one row per class and the hooks pass its labels to G.
    run_dir, status = train(cfg, tmp_path / "run")
    assert status == "completed"
    assert trainer.fixed_labels is not None and trainer.fixed_labels.tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert (run_dir / "samples" / "latest.png").is_file()
    # Loaded back from its checkpoint (num_classes travels in it), the G samples classes drawn for it.
    SEEN_LABELS.clear()
    assert sample(run_dir, 10, tmp_path / "s.png").is_file()
    (who, labels), *_ = SEEN_LABELS
    assert who == "G" and len(labels) == 10 and set(labels.tolist()) <= {0, 1}
    SEEN_LABELS.clear()
    out = sample(run_dir, 6, label=1)
    assert out.is_file() and "-class1" in out.name and SEEN_LABELS[0][1].tolist() == [1] * 6
    with pytest.raises(UserError, match="--class 2 is not a class of this run; its classes are 0 .. 1"):
        sample(run_dir, 6, label=2)


def test_sample_by_class_needs_a_conditional_run(outside_entries, tmp_path):
    run_dir, _ = train(build_config(overrides=OUTSIDE), tmp_path / "run")
    with pytest.raises(UserError, match="not conditional"):
        sample(run_dir, 4, label=0)


def test_a_conditional_family_on_unlabelled_data_is_one_config_error(conditional_entries, outside_entries):
    cfg = build_config(overrides=[*CONDITIONAL, "data.name=blob"])
    with pytest.raises(UserError, match="model.generator.arch=cond_g is a conditional family: it needs a data set"):
        Trainer.from_config(cfg)
