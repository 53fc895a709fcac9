"""Where the files of a file-based data set are found, how they are downloaded, and what is said when they are not.

A *source* is a data set's name, its published files (each with the SHA-256 of the file as published), the base
URLs it is downloaded from, and the folders an OS package installs it in. For each file the first of these
folders that holds it wins (docs/data.md, "Where advnets looks"):

1. `data.root`, then `data.root/<name>/`;
2. `$ADVNETS_DATA`, then `$ADVNETS_DATA/<name>/`;
3. the source's OS package folders (e.g. Debian's `/usr/share/datasets/fashion-mnist`);
4. advnets' download cache (pooch's per-user cache, e.g. `~/.cache/advnets/<name>`).

A file may be found under several names in a folder (`NAME.gz` before `NAME`; a tarball before the folder
extracted from it: a name ending in "/" is a folder); the first is the published file, which is what a download
fetches. Downloads are pinned to the published SHA-256 and go through pooch, which moves a file into place only
once its hash matches. What a found file holds is checked by the data set's own reader (idx.py, cifar10.py).
When a file is nowhere and cannot be fetched, one UserError names the missing files, the folders searched in
order, why the download failed in a few words, and the fix. Nothing here changes or deletes a user's file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

import pooch  # type: ignore[import-untyped]

from advnets.errors import UserError


class PublishedFile(Protocol):
    """One file of a data set, as published."""

    @property
    def found_as(self) -> tuple[str, ...]:
        """Names it is found under in a folder, preferred first; [0] is the published file (what is downloaded);
        a name ending in "/" is a folder."""
        ...

    @property
    def published_sha256(self) -> str | None:
        """The SHA-256 of the published file: pins downloads (None: a download is not checked)."""
        ...


class Source(Protocol):
    """A data set's files and where they come from."""

    @property
    def name(self) -> str:
        """The registered data set name; also the subfolder under data.root, $ADVNETS_DATA and the cache."""
        ...

    @property
    def files(self) -> tuple[PublishedFile, ...]:
        """Every file of the data set (a missing-files message lists each one absent)."""
        ...

    @property
    def mirrors(self) -> tuple[str, ...]:
        """Base URLs, tried in order; a file's URL is the base + its published name."""
        ...

    @property
    def system_folders(self) -> tuple[Path, ...]:
        """Where an OS package installs the files."""
        ...

    @property
    def forms(self) -> str:
        """The other forms a file is accepted in, for messages: "gzipped or not"."""
        ...


@dataclass(frozen=True)
class DataFile:
    """A published file (PublishedFile) given by its names and checksum."""

    found_as: tuple[str, ...]  # names in a folder, preferred first; [0] is downloaded; "NAME/" is a folder
    published_sha256: str | None  # SHA-256 of the published file (found_as[0])


@dataclass(frozen=True)
class DataSource:
    """A source (Source) given by its fields."""

    name: str  # the registered data set name; the subfolder under data.root, $ADVNETS_DATA and the cache
    files: tuple[DataFile, ...]
    mirrors: tuple[str, ...]  # base URLs, tried in order
    forms: str  # the other forms a file is accepted in, for messages
    system_folders: tuple[Path, ...] = ()  # where an OS package installs the files


# -- where the files are ------------------------------------------------------------------------------------


def cache_folder(name: str) -> Path:
    """The download cache of one data set (pooch's per-user cache, e.g. ~/.cache/advnets/mnist)."""
    return Path(pooch.os_cache("advnets")) / name


def search_folders(source: Source, root: str | None) -> list[Path]:
    """Folders searched in order: data.root, $ADVNETS_DATA (each, then its <name>/), OS package, cache."""
    folders: list[Path] = []
    for base in (root, os.environ.get("ADVNETS_DATA")):
        if base:
            base_path = Path(base).expanduser()
            folders += [base_path, base_path / source.name]
    folders += source.system_folders
    folders.append(cache_folder(source.name))
    return folders


def find_file(file: PublishedFile, folders: Sequence[Path]) -> Path | None:
    """The first folder holding the file wins; within a folder, the file's names are tried in order."""
    for folder in folders:
        for name in file.found_as:
            candidate = folder / name.rstrip("/")
            if candidate.is_dir() if name.endswith("/") else candidate.is_file():
                return candidate
    return None


def download(source: Source, file: PublishedFile) -> tuple[Path | None, list[tuple[str, str]]]:
    """Fetch the published file into the cache, trying each mirror: (path or None, (host, cause) per failed mirror)."""
    failures = []
    published = file.found_as[0]
    known_hash = f"sha256:{file.published_sha256}" if file.published_sha256 else None
    logger = pooch.get_logger()
    level = logger.level
    for mirror in source.mirrors:
        url = f"{mirror}{published}"
        logger.setLevel("WARNING")  # no "Downloading data from ..." line: a failure is one message, below
        try:
            # pooch downloads to a temporary file and moves it into place only once the hash matches, so a
            # failed or interrupted download leaves nothing behind.
            path = pooch.retrieve(
                url,
                known_hash=known_hash,
                fname=published,
                path=cache_folder(source.name),
                progressbar=False,
            )
        except (OSError, ValueError) as err:  # requests' errors are OSErrors; a hash mismatch is a ValueError
            failures.append((urlsplit(url).hostname or mirror, download_cause(err)))
            continue
        finally:
            logger.setLevel(level)
        return Path(path), failures
    return None, failures


# A failed download's error text (with everything it wraps) -> the cause in a few words, first match wins.
_CAUSES = (
    (r"hash|checksum", "the file's checksum did not match the official one"),
    (r"\b([45]\d\d) (?:Client|Server) Error|HTTP Error ([45]\d\d)", "the server answered HTTP {code}"),
    (
        r"Name or service not known|Temporary failure in name resolution|nodename nor servname|getaddrinfo "
        r"failed|NameResolutionError|No address associated",
        "no network (the server's name could not be looked up)",
    ),
    (r"Connection refused", "no network (connection refused)"),
    (r"Network is unreachable|No route to host", "no network (network unreachable)"),
    (r"timed out|Timeout", "no answer (the connection timed out)"),
    (r"CERTIFICATE_VERIFY_FAILED|SSLError|certificate", "a TLS error (the server's certificate was not trusted)"),
    (r"[Pp]roxy", "the proxy refused the connection"),
)


def download_cause(err: BaseException) -> str:
    """Why a download failed, in a few words ("no network (connection refused)"), from an error that may wrap
    others (requests wraps urllib3's, which wraps the socket's)."""
    texts, seen, todo = [], set(), [err]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        texts.append(f"{type(e).__name__}: {e}")
        wrapped = (e.__cause__, e.__context__, getattr(e, "reason", None), *e.args)
        todo += [x for x in wrapped if isinstance(x, BaseException)]
    text = " | ".join(texts)
    for pattern, cause in _CAUSES:
        found = re.search(pattern, text)
        if found:
            return cause.format(code=next((g for g in found.groups() if g), ""))
    innermost = texts[-1].splitlines()[0] if texts[-1] else type(err).__name__
    return innermost if len(innermost) <= 100 else innermost[:97] + "..."


def _failed_downloads(failures: list[tuple[str, str]]) -> str:
    causes = dict.fromkeys(cause for _, cause in failures)
    if len(causes) == 1:
        return f"downloading from {' and '.join(host for host, _ in failures)} failed: {next(iter(causes))}"
    return "downloading failed: " + "; ".join(f"{host}: {cause}" for host, cause in failures)


def locate_all(
    source: Source, files: Sequence[PublishedFile], *, root: str | None, download_missing: bool
) -> list[Path]:
    """The paths of a data set's files: found locally (`search_folders`), else downloaded (if
    `download_missing`, i.e. data.download), else one UserError that names every file of the data set not
    found, the folders searched in order, why a download failed, and the fix."""
    folders = search_folders(source, root)
    found = [find_file(file, folders) for file in files]
    failed = ""
    if download_missing:
        for i, file in enumerate(files):
            if found[i] is None:
                found[i], failures = download(source, file)
                if found[i] is None:
                    failed = _failed_downloads(failures)
                    break  # the next file would fail the same way, after as many tries
    if all(path is not None for path in found):
        return [path for path in found if path is not None]
    missing = [f.found_as[0] for f in dict.fromkeys([*files, *source.files]) if find_file(f, folders) is None]
    looked_in = ", ".join(str(f) for f in folders)
    where = "set data.root=FOLDER (or $ADVNETS_DATA) to the folder that holds them"
    if download_missing:
        fix = f"{failed}; put the files (docs/data.md lists them) in one of those folders, or {where}"
    else:
        fix = f"put them in one of those folders, or {where}, or set data.download=true to fetch them"
    raise UserError(
        f"{source.name} files not found: {', '.join(missing)} ({source.forms}); looked in, in order: "
        f"{looked_in}; {fix}"
    )


def locate(source: Source, file: PublishedFile, *, root: str | None, download_missing: bool) -> Path:
    """The path of one file: found locally, else downloaded (if `download_missing`), else a UserError."""
    return locate_all(source, [file], root=root, download_missing=download_missing)[0]
