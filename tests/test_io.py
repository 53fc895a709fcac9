"""advnets.io: atomic writes that leave the old file or the new one and nothing else, write failures as one
actionable line, JSON lines appended whole."""

import errno
import json
import os
from collections import namedtuple
from pathlib import Path

import pytest

from advnets import io
from advnets.errors import UserError
from advnets.io import WriteError, append_jsonl, atomic_write, read_jsonl, write_text
from advnets.reporting.figures import read_metrics

Usage = namedtuple("Usage", "total used free")
# What torch.save says when its zip writer cannot write to a path (seen on a full disk).
TORCH_FULL_DISK = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598\nframe #0: ..."


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def failing_after(data: bytes, err: BaseException):
    def write(f):
        f.write(data)  # part of the file reaches the disk before the failure
        raise err

    return write


def test_atomic_write_makes_parents_and_replaces(tmp_path):
    path = tmp_path / "a" / "b" / "file.bin"
    atomic_write(path, lambda f: f.write(b"one"))
    atomic_write(path, lambda f: f.write(b"two"), durable=True)
    assert path.read_bytes() == b"two"
    assert leftovers(path.parent) == []


def test_durable_fsyncs_the_file_and_its_folder(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    atomic_write(tmp_path / "x", lambda f: f.write(b"x"))
    assert synced == []
    atomic_write(tmp_path / "x", lambda f: f.write(b"y"), durable=True)
    assert len(synced) == 2


@pytest.mark.parametrize("err", [ValueError("a bug in the writer"), KeyboardInterrupt()])
def test_any_failure_keeps_the_old_file_and_removes_the_temporary_one(tmp_path, err):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(type(err)):  # not a write failure: raised unchanged, with its traceback
        atomic_write(path, failing_after(b"partial", err))
    assert path.read_bytes() == b"old"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "code,cause,fix",
    [
        (errno.ENOSPC, "no space left on device", "free disk space, then resume"),
        (errno.EDQUOT, "disk quota exceeded", "free disk space, then resume"),
        (errno.EACCES, "permission denied", "check the permissions of"),
        (errno.EPERM, "permission denied", "check the permissions of"),
        (errno.EROFS, "read-only file system", "writable disk"),
        (errno.EIO, os.strerror(errno.EIO), "check the disk"),
    ],
)
def test_a_failed_write_is_one_line_naming_the_file_the_cause_and_the_fix(tmp_path, code, cause, fix):
    path = tmp_path / "file.bin"
    path.write_bytes(b"old")
    with pytest.raises(WriteError) as caught:
        atomic_write(path, failing_after(b"partial", OSError(code, os.strerror(code))))
    message = str(caught.value)
    assert isinstance(caught.value, UserError) and "\n" not in message
    assert message.startswith(f"cannot write {path}: {cause}; ") and fix in message
    assert path.read_bytes() == b"old" and leftovers(tmp_path) == []


def test_torch_full_disk_runtime_error_is_a_write_failure(tmp_path, monkeypatch):
    path = tmp_path / "step-0000002.pt"
    monkeypatch.setattr(io.shutil, "disk_usage", lambda folder: Usage(10 << 20, 10 << 20, 4096))
    with pytest.raises(WriteError, match=r"step-0000002\.pt: no space left on device; free disk space"):
        atomic_write(path, failing_after(b"PK", RuntimeError(TORCH_FULL_DISK)))
    # With room left, the cause is unknown: quote torch's first line rather than guess.
    monkeypatch.setattr(io.shutil, "disk_usage", lambda folder: Usage(10 << 30, 1 << 30, 9 << 30))
    with pytest.raises(WriteError) as caught:
        atomic_write(path, failing_after(b"PK", RuntimeError(TORCH_FULL_DISK)))
    assert "unexpected pos 704 vs 598" in str(caught.value) and "frame #0" not in str(caught.value)
    assert not path.exists() and leftovers(tmp_path) == []


def test_other_runtime_errors_and_errno_less_os_errors_are_not_write_failures(tmp_path):
    for err in (RuntimeError("shape mismatch"), OSError("cannot write mode RGBA as JPEG")):
        with pytest.raises(type(err)) as caught:
            atomic_write(tmp_path / "x", failing_after(b"", err))
        assert not isinstance(caught.value, UserError)
    assert leftovers(tmp_path) == []


def test_write_text(tmp_path):
    write_text(tmp_path / "dir" / "config.yaml", "seed: 1\n", durable=True)
    assert (tmp_path / "dir" / "config.yaml").read_text() == "seed: 1\n"


def test_append_jsonl_appends_whole_lines_after_a_torn_one(tmp_path):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"step": 1})
    with open(path, "a") as f:
        f.write('{"step": 2, "d_lo')  # a crash mid-record
    append_jsonl(path, {"step": 3})
    assert path.read_text() == '{"step": 1}\n{"step": 2, "d_lo\n{"step": 3}\n'
    with pytest.warns(UserWarning, match="line 2"):
        assert read_jsonl(path) == [{"step": 1}, {"step": 3}]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_append_jsonl_on_a_full_device_is_a_write_error():
    with pytest.raises(WriteError, match="cannot write /dev/full: no space left on device"):
        append_jsonl(Path("/dev/full"), {"step": 1})


def test_append_jsonl_into_a_missing_folder_names_the_file(tmp_path):
    path = tmp_path / "gone" / "eval.jsonl"
    with pytest.raises(WriteError, match=f"cannot write {path}: No such file or directory"):
        append_jsonl(path, {"step": 1})


def test_read_jsonl_is_the_metrics_reader(tmp_path):
    assert read_metrics is read_jsonl
    path = tmp_path / "eval.jsonl"
    path.write_text(json.dumps({"a": 1}) + "\n\n" + json.dumps({"b": 2}))
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    with pytest.raises(UserError, match="no metrics file"):
        read_jsonl(tmp_path / "missing.jsonl")
