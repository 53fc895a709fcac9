"""advnets.allocator: large blocks come from the heap once freed memory is kept for reuse."""

from __future__ import annotations

import platform
import subprocess
import sys
import textwrap

import pytest

from advnets import cli
from advnets.allocator import MMAP_THRESHOLD, reuse_freed_memory

GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# A fresh interpreter mallocs 16 MiB and reports how many bytes glibc holds in mmapped blocks while it is live
# (mallinfo2's hblkhd) beyond those held before.
PROBE = textwrap.dedent(
    """
    import ctypes, sys
    from advnets.allocator import reuse_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks",
                     "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype = ctypes.c_void_p
    if sys.argv[1] == "reuse":
        assert reuse_freed_memory()
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(16 * 1024 * 1024)
    print(libc.mallinfo2().hblkhd - before)
    libc.free(ctypes.c_void_p(block))
    """
)


def mmapped_bytes(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True).stdout
    return int(out)


@pytest.mark.skipif(
    not GLIBC or tuple(map(int, platform.libc_ver()[1].split("."))) < (2, 33), reason="needs glibc 2.33+ (mallinfo2)"
)
def test_a_16_mib_block_comes_from_the_heap_once_freed_memory_is_kept() -> None:
    # glibc's default: a block this large is a fresh mapping of its own (returned to the kernel when freed).
    assert mmapped_bytes("default") >= 16 * 1024 * 1024
    assert mmapped_bytes("reuse") == 0
    assert MMAP_THRESHOLD > 16 * 1024 * 1024


def test_elsewhere_it_does_nothing_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "system", lambda: "Darwin")
    assert reuse_freed_memory() is False


def test_the_command_line_keeps_freed_memory_for_every_command(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(cli, "reuse_freed_memory", lambda: calls.append(None))
    assert cli.main(["presets"]) == 0
    assert len(calls) == 1
