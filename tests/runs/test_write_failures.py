"""A checkpoint that cannot be written (a full disk) leaves the previous one as `latest`, loadable, with no partial
file beside it, and says so in one line; through the library and through the real CLI."""

import errno
import os
import subprocess
import uuid
from collections import namedtuple

import matplotlib.figure
import PIL.Image
import pytest
import torch

from advnets import cli, io
from advnets.errors import UserError
from advnets.runs.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from tests.conftest import TINY

Usage = namedtuple("Usage", "total used free")
REAL_SAVE = torch.save
# What torch.save says when its zip writer cannot write to a path (seen on a full disk).
TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
ENOSPC = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def state(step: int, size: int = 16) -> dict:
    return {"format": "advnets-checkpoint", "step": step, "w": torch.arange(size, dtype=torch.float32)}


def save_failing_from(call: int, err: BaseException):
    """torch.save that works `call - 1` times, then writes part of the file and raises `err`."""
    calls = []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) < call:
            return REAL_SAVE(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 part of a checkpoint")
        raise err

    return save


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize(
    "err", [ENOSPC, RuntimeError(TORCH_FULL_DISK)], ids=["OSError", "torch RuntimeError"]
)
def test_a_failed_checkpoint_leaves_the_previous_one_latest(tmp_path, monkeypatch, err):
    first = save_checkpoint(tmp_path, "step-0000001.pt", state(1), keep=1)
    monkeypatch.setattr(torch, "save", save_failing_from(1, err))
    monkeypatch.setattr(io.shutil, "disk_usage", lambda folder: Usage(1 << 30, 1 << 30, 0))
    with pytest.raises(UserError) as caught:
        save_checkpoint(tmp_path, "step-0000002.pt", state(2), keep=1)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write {tmp_path / 'step-0000002.pt'}: no space left on device; ")
    assert f"the previous checkpoint {first} is intact" in message and "free disk space" in message
    # keep=1 would have pruned step 1 after a success; after a failure it stays, and nothing else is there.
    assert names(tmp_path) == ["latest", "step-0000001.pt"]
    assert load_checkpoint(latest_checkpoint(tmp_path))["step"] == 1


def test_a_failed_pointer_write_removes_the_new_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(tmp_path, "step-0000001.pt", state(1), keep=2)
    real_replace = os.replace

    def replace(src, dst):
        if os.path.basename(dst) == "latest":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(
        UserError, match=r"cannot write .*latest: no space left on device; the previous checkpoint"
    ):
        save_checkpoint(tmp_path, "step-0000002.pt", state(2), keep=2)
    assert names(tmp_path) == ["latest", "step-0000001.pt"]
    assert load_checkpoint(tmp_path / "latest")["step"] == 1


def test_a_failed_first_checkpoint_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "save", save_failing_from(1, ENOSPC))
    with pytest.raises(UserError, match="no space left on device; no earlier checkpoint was saved"):
        save_checkpoint(tmp_path / "checkpoints", "step-0000001.pt", state(1), keep=2)
    assert names(tmp_path / "checkpoints") == []


@pytest.fixture
def tiny_tmpfs(tmp_path):
    """A 256 KiB tmpfs, where this process may mount one (root with CAP_SYS_ADMIN); skipped elsewhere."""
    mount_point = tmp_path / f"tmpfs-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], capture_output=True
        )
    except OSError:
        pytest.skip("no mount command")
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def fill(folder) -> None:
    with open(folder / "filler", "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError as err:
            assert err.errno == errno.ENOSPC


def test_a_real_full_disk(tiny_tmpfs):
    folder = tiny_tmpfs / "checkpoints"
    first = save_checkpoint(folder, "step-0000001.pt", state(1, size=8192), keep=1)  # 32 KiB of weights
    fill(tiny_tmpfs)
    with pytest.raises(UserError) as caught:
        save_checkpoint(folder, "step-0000002.pt", state(2, size=8192), keep=1)
    assert "no space left on device" in str(caught.value) and str(first) in str(caught.value)
    assert names(folder) == ["latest", "step-0000001.pt"]
    assert load_checkpoint(folder / "latest")["step"] == 1
    # What the message says to do works: free space, save again.
    (tiny_tmpfs / "filler").unlink()
    save_checkpoint(folder, "step-0000002.pt", state(2, size=8192), keep=1)
    assert names(folder) == ["latest", "step-0000002.pt"]


def train_until_the_second_checkpoint_fails(run, monkeypatch) -> int:
    monkeypatch.setattr(torch, "save", save_failing_from(2, ENOSPC))
    args = ["train", "--out", str(run), *TINY, "log.checkpoint_every_epochs=1", "train.epochs=3", "--quiet"]
    return cli.main(args)


def assert_first_checkpoint_intact(run, err: str) -> None:
    checkpoints = run / "checkpoints"
    first = checkpoints / f"step-{1400 // 32:07d}.pt"
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"advnets: error: cannot write {checkpoints}/step-{2 * (1400 // 32):07d}.pt: ")
    assert "no space left on device" in lines[0] and f"the previous checkpoint {first} is intact" in lines[0]
    assert (checkpoints / "latest").read_text() == f"{first.name}\n"
    assert load_checkpoint(checkpoints / "latest")["counters"]["step"] == 1400 // 32
    assert names(checkpoints) == ["latest", first.name]  # no temporary or partial file
    assert not (run / ".lock").exists()


def test_the_cli_reports_a_failed_checkpoint_in_one_line(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    assert train_until_the_second_checkpoint_fails(run, monkeypatch) == 2
    assert_first_checkpoint_intact(run, capsys.readouterr().err)


def test_on_a_full_disk_the_cli_reports_the_checkpoint_not_a_later_figure(tmp_path, monkeypatch, capsys):
    # The second checkpoint fills the disk: every write after it fails too, as on a real full disk.
    full = []
    failing_save = save_failing_from(2, ENOSPC)

    def save(obj, f, *args, **kwargs):
        try:
            return failing_save(obj, f, *args, **kwargs)
        except OSError:
            full.append(True)
            raise

    def write_image(original):
        def write(self, *args, **kwargs):
            if full:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return original(self, *args, **kwargs)

        return write

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", write_image(matplotlib.figure.Figure.savefig))
    monkeypatch.setattr(PIL.Image.Image, "save", write_image(PIL.Image.Image.save))
    run = tmp_path / "run"
    args = ["train", "--out", str(run), *TINY, "log.checkpoint_every_epochs=1", "train.epochs=3", "--quiet"]
    monkeypatch.setattr(torch, "save", save)
    assert cli.main(args) == 2
    assert_first_checkpoint_intact(run, capsys.readouterr().err)
