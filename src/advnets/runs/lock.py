"""One process at a time owns a run folder: `with run_lock(run_dir): ...` around anything that writes it.

Two processes training into one folder would interleave metrics, overwrite each other's checkpoints and leave a
`latest` that matches neither run. The lock is the file `run_dir/.lock`, created atomically (O_CREAT | O_EXCL)
and holding who owns it: {"pid", "host", "started", "command"}. It is removed when the block ends, however it
ends (an exception, Ctrl-C). A process killed outright (SIGKILL, a power cut) leaves its lock behind; on the same
host a lock whose pid no longer runs is stale and taken over with a note. A lock from another host (a shared
network folder) cannot be checked, so the message says how to remove it by hand.

Taken by `advnets train` (from the moment the folder exists), `advnets resume` (before anything is rewritten)
and `advnets reproduce` (the reproduction folder as a whole; every seed's train or resume also locks its own
run folder, in whichever process trains it). `advnets eval` and `advnets sample` only read a run (eval appends
one line to eval.jsonl, which appenders share safely) and take no lock, so they work beside a training run.

Re-entrant within one process: a nested `run_lock` of a folder this process already holds is a no-op.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from advnets.errors import UserError
from advnets.io import write_failure

LOCK = ".lock"
# The owner writes its lock just after creating it; a reader that finds it empty waits this long for the content.
WRITE_GRACE_S = 1.0

_held: dict[Path, int] = {}  # folders this process holds -> nesting depth
_held_guard = threading.Lock()


@contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Own `run_dir` for the duration of the block, or raise a UserError naming the process that owns it."""
    key = run_dir.resolve()
    with _held_guard:
        owner = None if key in _held else _acquire(run_dir)
        _held[key] = _held.get(key, 0) + 1
    try:
        yield
    finally:
        with _held_guard:
            _held[key] -= 1
            if not _held[key]:
                del _held[key]
        if owner is not None:
            _release(run_dir / LOCK, owner)


def _acquire(run_dir: Path) -> dict[str, Any]:
    lock = run_dir / LOCK
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join(sys.argv),
    }
    # A few rounds: a stale lock taken over, or one that vanished between our look and our create, means retry.
    for _ in range(5):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            text, holder = _read(lock)
            if holder is not None:
                _refuse_or_take_over(run_dir, lock, text, holder)
            continue
        except OSError as err:  # a read-only or full disk, a folder we may not write
            raise write_failure(lock, err) or err from None
        try:
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(me) + "\n")
        except BaseException as err:
            lock.unlink(missing_ok=True)  # an empty lock would block the folder until deleted by hand
            failure = write_failure(lock, err)
            if failure is None:
                raise
            raise failure from None
        return me
    raise UserError(f"could not lock {run_dir}: other processes keep taking it; try again")


def _read(lock: Path) -> tuple[str, dict[str, Any] | None]:
    """The lock's text and owner; (_, None) if it vanished meanwhile. A garbled lock is a UserError."""
    deadline = time.monotonic() + WRITE_GRACE_S
    while True:
        try:
            text = lock.read_text(errors="replace")
        except FileNotFoundError:
            return "", None
        try:
            holder = json.loads(text)
        except json.JSONDecodeError:
            holder = None
        if isinstance(holder, dict) and isinstance(holder.get("pid"), int) and holder["pid"] > 0:
            return text, holder
        if time.monotonic() > deadline:  # before that, its owner may still be writing it
            raise UserError(
                f"{lock} is unreadable (not a lock written by advnets); if no advnets process is using "
                f"{lock.parent}, delete {lock}"
            )
        time.sleep(0.05)


def _refuse_or_take_over(run_dir: Path, lock: Path, text: str, holder: dict[str, Any]) -> None:
    pid, host = holder["pid"], holder.get("host", "?")
    since, command = holder.get("started", "?"), holder.get("command", "?")
    if host != socket.gethostname():
        raise UserError(
            f"{run_dir} is locked by pid {pid} on {host} since {since} (`{command}`); if that process is gone, "
            f"delete {lock}"
        )
    # Our own pid here, though we do not hold the folder, is a lock left by an earlier process that had our pid.
    if pid != os.getpid() and _alive(pid):
        raise UserError(
            f"{run_dir} is in use by pid {pid} on {host} since {since} (`{command}`); wait for it to finish or "
            f"stop it (Ctrl-C, or kill {pid})"
        )
    # Move the stale lock aside rather than delete it: two processes taking over at once must not delete the
    # fresh lock the faster one has just made. Whoever moved the stale text removes it; anything else goes back.
    aside = lock.with_name(f"{LOCK}.{os.getpid()}.stale")
    try:
        os.rename(lock, aside)
    except FileNotFoundError:
        return  # another process took it over first
    if aside.read_text(errors="replace") != text:
        try:
            os.link(aside, lock)  # put it back, unless yet another process has locked the folder meanwhile
        except OSError:
            pass
        aside.unlink()
        return
    aside.unlink()
    print(
        f"advnets: note: took over the stale lock of pid {pid} on {host} (started {since}), which is no longer "
        "running",
        file=sys.stderr,
    )


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there; the user decides instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it runs, under another user
        return True
    return True


def _release(lock: Path, owner: dict[str, Any]) -> None:
    # Remove only our own lock: if someone deleted ours by hand and another process locked the folder since,
    # that lock is theirs.
    try:
        current = json.loads(lock.read_text())
    except (OSError, ValueError):
        return
    if current == owner:
        lock.unlink(missing_ok=True)
