"""One process at a time owns a run folder: a second `advnets resume` is refused in one line and changes nothing,
a lock left by a process that died is taken over with a note, and the lock goes away however the owner ends."""

import json
import os
import socket
import subprocess

import pytest
import torch

from advnets import cli
from advnets.errors import UserError
from advnets.reproduce import reproduce
from advnets.runs import lock as lock_module
from advnets.runs.lock import run_lock
from advnets.runs.run_dir import is_run_dir
from advnets.runs.session import resume
from tests.conftest import TINY
from tests.test_cli import cli as run_cli
from tests.test_cli import tree_digest

HOST = socket.gethostname()
STARTED = "2024-05-01T09:30:00+00:00"


@pytest.fixture
def run(tmp_path):
    run = tmp_path / "run"
    assert cli.main(["train", "--out", str(run), *TINY, "train.max_steps=3", "--quiet"]) == 0
    return run


@pytest.fixture
def live_pid():
    sleeper = subprocess.Popen(["sleep", "60"])
    yield sleeper.pid
    sleeper.kill()
    sleeper.wait()


@pytest.fixture
def dead_pid():
    exited = subprocess.Popen(["true"])
    exited.wait()  # reaped: os.kill(pid, 0) now raises ProcessLookupError
    return exited.pid


def write_lock(run, pid, host=HOST, command="advnets train --out RUN"):
    (run / ".lock").write_text(json.dumps({"pid": pid, "host": host, "started": STARTED, "command": command}))


def test_the_lock_names_its_owner_and_goes_away(tmp_path):
    with run_lock(tmp_path):
        owner = json.loads((tmp_path / ".lock").read_text())
        assert owner["pid"] == os.getpid() and owner["host"] == HOST
        assert owner["started"] and owner["command"]
    assert not (tmp_path / ".lock").exists()


@pytest.mark.parametrize("err", [RuntimeError("a bug"), UserError("bad input"), KeyboardInterrupt()])
def test_the_lock_goes_away_when_the_block_fails(tmp_path, err):
    with pytest.raises(type(err)):
        with run_lock(tmp_path):
            raise err
    assert not (tmp_path / ".lock").exists()


def test_a_nested_lock_of_the_same_folder_is_a_no_op(tmp_path):
    with run_lock(tmp_path):
        with run_lock(tmp_path / "." / ""):
            pass
        assert (tmp_path / ".lock").exists()  # the inner block must not release the outer one's lock
    assert not (tmp_path / ".lock").exists()


def test_a_live_owner_is_named(tmp_path, live_pid):
    write_lock(tmp_path, live_pid, command="advnets resume RUN train.epochs=9")
    with pytest.raises(UserError) as caught:
        with run_lock(tmp_path):
            pass
    assert str(caught.value) == (
        f"{tmp_path} is in use by pid {live_pid} on {HOST} since {STARTED} (`advnets resume RUN train.epochs=9`); "
        f"wait for it to finish or stop it (Ctrl-C, or kill {live_pid})"
    )


def test_another_hosts_lock_is_refused_with_how_to_remove_it(tmp_path):
    write_lock(tmp_path, 12345, host="gpu-node-7")
    with pytest.raises(
        UserError, match=rf"pid 12345 on gpu-node-7 .*if that process is gone, delete {tmp_path}/\.lock"
    ):
        with run_lock(tmp_path):
            pass
    assert json.loads((tmp_path / ".lock").read_text())["host"] == "gpu-node-7"


@pytest.mark.parametrize("text", ["", "not json", '{"pid": "12"}', '{"pid": 0}', "[1, 2]"])
def test_a_garbled_lock_says_how_to_remove_it(tmp_path, monkeypatch, text):
    monkeypatch.setattr(lock_module, "WRITE_GRACE_S", 0.1)
    (tmp_path / ".lock").write_text(text)
    with pytest.raises(UserError, match=rf"\.lock is unreadable .*delete {tmp_path}/\.lock"):
        with run_lock(tmp_path):
            pass
    assert (tmp_path / ".lock").read_text() == text


def test_a_lock_left_by_an_earlier_process_with_our_pid_is_stale(tmp_path, capsys):
    write_lock(tmp_path, os.getpid())  # pids are reused, in containers soon
    with run_lock(tmp_path):
        assert json.loads((tmp_path / ".lock").read_text())["started"] != STARTED
    assert "took over the stale lock" in capsys.readouterr().err


def test_we_release_only_our_own_lock(tmp_path, live_pid):
    with run_lock(tmp_path):
        write_lock(tmp_path, live_pid)  # ours deleted by hand, and another process locked the folder since
    assert json.loads((tmp_path / ".lock").read_text())["pid"] == live_pid


def test_train_holds_the_lock_for_the_whole_fit(tmp_path, monkeypatch):
    run = tmp_path / "run"
    owners = []
    real_save = torch.save

    def save(obj, f, *args, **kwargs):  # a checkpoint is written at the end of the fit
        owners.append(json.loads((run / ".lock").read_text())["pid"])
        real_save(obj, f, *args, **kwargs)

    monkeypatch.setattr(torch, "save", save)
    assert cli.main(["train", "--out", str(run), *TINY, "train.max_steps=3", "--quiet"]) == 0
    assert owners == [os.getpid()] and not (run / ".lock").exists()
    assert is_run_dir(run)


def test_resume_inside_a_lock_of_its_own_folder(run):
    with run_lock(run):  # e.g. a script that locks a run and then continues it
        assert resume(run, ["train.max_steps=6", "log.progress=false"]) == "completed"
        assert (run / ".lock").exists()
    assert not (run / ".lock").exists()


def test_cli_resume_of_a_run_in_use_is_refused_and_changes_nothing(run, live_pid):
    write_lock(run, live_pid)
    before = tree_digest(run)
    result = run_cli("resume", run, "train.epochs=3", "--quiet")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("advnets: error: "), result.stderr
    assert f"in use by pid {live_pid} on {HOST}" in lines[0] and f"kill {live_pid}" in lines[0]
    assert tree_digest(run) == before


def test_cli_resume_takes_over_a_stale_lock(run, dead_pid):
    write_lock(run, dead_pid)
    result = run_cli("resume", run, "train.epochs=3", "train.max_steps=6", "--quiet")
    assert result.returncode == 0, result.stderr
    assert (
        f"advnets: note: took over the stale lock of pid {dead_pid} on {HOST} (started {STARTED}), which is no "
        "longer running"
    ) in result.stderr.splitlines()
    assert not (run / ".lock").exists()
    assert (run / "checkpoints" / "latest").read_text() == "step-0000006.pt\n"  # it trained on


def test_cli_train_into_an_existing_run_keeps_its_refusal(run, live_pid, capsys):
    for locked in (False, True):
        if locked:
            write_lock(run, live_pid)
        before = tree_digest(run)
        assert cli.main(["train", "--out", str(run), *TINY, "--quiet"]) == 2
        assert "already holds a run; continue it with `advnets resume" in capsys.readouterr().err
        assert tree_digest(run) == before


def test_reproduce_locks_its_folder(tmp_path, live_pid):
    out = tmp_path / "repro"
    out.mkdir()
    write_lock(out, live_pid, command="advnets reproduce paper-mnist")
    with pytest.raises(UserError, match=f"in use by pid {live_pid}"):
        reproduce("paper-mnist", out, seeds=1, epochs=1, extra=TINY)
    assert sorted(p.name for p in out.iterdir()) == [".lock"]


def test_sample_reads_a_run_in_use(run, live_pid, tmp_path):
    write_lock(run, live_pid)  # sample and eval only read a run: they take no lock and mind no one's
    assert is_run_dir(run)
    assert cli.main(["sample", str(run), "-n", "4", "-o", str(tmp_path / "grid.png")]) == 0
    assert json.loads((run / ".lock").read_text())["pid"] == live_pid
