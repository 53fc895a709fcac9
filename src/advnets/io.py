"""Safe writes for run folders, in one place: files replaced atomically, lines appended whole, and the JSON-lines
reader.

`atomic_write` writes into a temporary sibling and renames it over the target (`os.replace` is atomic within one
file system), so a crash, a full disk or a reader polling a run folder sees the old file or the new one, never a
partial one; the temporary file is removed on any failure. `durable=True` also fsyncs the file and its folder,
for files whose loss after a power cut costs work (checkpoints); figures, which are redrawn from the metrics,
skip that flush.

A failed write (full disk, permissions, read-only file system) is the user's problem to fix, not a bug in
advnets, so it becomes one `WriteError` line naming the file, the cause and the fix. `torch.save` reports a full
disk as a `RuntimeError` from its zip writer when it writes to a path, so those count as write failures too.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from advnets.errors import UserError

# Less free space than this after a failed write means the disk filled up (a full disk leaves a few blocks at most).
NEARLY_FULL_BYTES = 1 << 20
# What torch's zip writer (caffe2 inline_container.cc) says when a write to a file path fails.
TORCH_WRITE_FAILURES = ("PytorchStreamWriter failed", "unexpected pos", "file write failed")
NO_SPACE = "no space left on device"
NO_SPACE_FIX = "free disk space, then resume (or rerun the command)"


class WriteError(UserError):
    """A file could not be written; `cause` and `fix` are kept apart so that callers can add what is intact."""

    def __init__(self, path: Path, cause: str, fix: str) -> None:
        super().__init__(f"cannot write {path}: {cause}; {fix}")
        self.path = path
        self.cause = cause
        self.fix = fix


def write_failure(path: Path, err: BaseException) -> WriteError | None:
    """The WriteError that `err`, raised while writing `path`, means; None when `err` is no write failure."""
    if isinstance(err, OSError) and err.errno is not None:  # errno None: a library's own error (Pillow's)
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return WriteError(
                path, NO_SPACE if err.errno == errno.ENOSPC else "disk quota exceeded", NO_SPACE_FIX
            )
        if err.errno in (errno.EACCES, errno.EPERM):
            return WriteError(path, "permission denied", f"check the permissions of {path.parent}")
        if err.errno == errno.EROFS:
            return WriteError(path, "read-only file system", "write to a folder on a writable disk")
        return WriteError(path, err.strerror or str(err), "check the disk and the path, then try again")
    if isinstance(err, RuntimeError) and any(text in str(err) for text in TORCH_WRITE_FAILURES):
        if _free_bytes(path.parent) < NEARLY_FULL_BYTES:
            return WriteError(path, NO_SPACE, NO_SPACE_FIX)
        first_line = (str(err).splitlines() or [""])[0][:200]
        return WriteError(
            path, f"the write failed ({first_line})", "check the disk and the path, then try again"
        )
    return None


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return NEARLY_FULL_BYTES  # unknown: quote torch's message rather than guess "disk full"


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some file systems do not open folders; the rename is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:  # nor fsync them (some network file systems)
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[BinaryIO], None], *, durable: bool = False) -> None:
    """Call `write(file)` into a temporary sibling of `path`, then rename it over `path`; makes parent folders.

    On any failure (an exception in `write`, a full disk, Ctrl-C) the temporary file is removed and `path` is
    left as it was; a write failure is raised as a WriteError, anything else unchanged."""
    # Same folder, so the rename stays on one file system. Not tempfile.mkstemp: its files are mode 0600, and the
    # result should get the usual umask-based mode.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "xb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        # Judge the free space before the partial file is removed: removing it frees what the write filled.
        failure = write_failure(path, err)
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # e.g. the folder became read-only; the error below is the one to report
        if failure is None:
            raise
        raise failure from None
    if durable:
        _fsync_dir(path.parent)


def write_text(path: Path, text: str, *, durable: bool = False) -> None:
    """`text` (UTF-8) written to `path` atomically."""
    data = text.encode()

    def write(f: BinaryIO) -> None:
        f.write(data)

    atomic_write(path, write, durable=durable)


def append_jsonl(path: Path, record: dict) -> None:
    """Append `record` as one JSON line to `path`."""
    append_text(path, json.dumps(record) + "\n")


def append_text(path: Path, text: str) -> None:
    """Append `text` (whole lines, ending in a newline) to `path`.

    A crash mid-line leaves a torn last line; a newline is added first then, so that the new text does not glue
    onto it (read_jsonl skips the torn line)."""
    data = text.encode()
    try:
        with open(path, "a+b") as f:
            if f.seek(0, os.SEEK_END):
                f.seek(-1, os.SEEK_END)
                if f.read(1) != b"\n":
                    data = b"\n" + data
            f.write(data)  # one write, so that a reader sees the line whole or torn, never interleaved
    except OSError as err:
        failure = write_failure(path, err)
        if failure is None:
            raise
        raise failure from None


def read_jsonl(path: Path | str) -> list[dict]:
    """Read a JSON-lines file (metrics.jsonl, eval.jsonl) into a list of dicts, in file order.

    A last line without its newline that does not parse is a record cut off by a crash (or still being
    written) and is skipped silently. A bad line elsewhere (typically a cut-off record that a resumed run
    appended to) is skipped with one warning naming the line numbers: losing one record is better than a
    figure, or the training run drawing it, failing. Blank lines are ignored.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise UserError(
            f"no metrics file at {path}; pass the metrics.jsonl or eval.jsonl of a run folder"
        ) from None
    lines = data.split(b"\n")
    # After a final newline split() yields an empty last item; otherwise the last item is unterminated.
    unterminated = len(lines) - 1 if lines[-1].strip() else None
    records: list[dict] = []
    bad: list[int] = []
    for index, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            record = None
        if isinstance(record, dict):
            records.append(record)
        elif index != unterminated:
            bad.append(index + 1)
    if bad:
        shown = ", ".join(map(str, bad[:10])) + (", ..." if len(bad) > 10 else "")
        warnings.warn(
            f"{path}: skipped {len(bad)} line(s) that are not JSON objects (line {shown}); "
            "they are usually records cut off by a crash",
            stacklevel=2,
        )
    return records
