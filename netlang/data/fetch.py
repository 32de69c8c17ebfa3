"""Finding a downloadable data set's files on disk, and downloading them with checksums when allowed.

Search order for data set NAME: $NETLANG_DATA/NAME/, then the user cache ($XDG_CACHE_HOME or ~/.cache)
/netlang/NAME/, then SYSTEM_DATA_ROOT/NAME/ (where Debian's dataset-* packages install). Downloads go to the
user cache, written atomically (a temporary file, checked, then renamed) so a broken download never
looks like a good file.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from netlang import limits
from netlang.atomic import write_atomically
from netlang.errors import DataError

SYSTEM_DATA_ROOT = Path("/usr/share/datasets")
DOWNLOAD_TIMEOUT_SECONDS = 60
CHUNK_BYTES = 1 << 20

Opener = Callable[[str], BinaryIO]


@dataclass(frozen=True)
class RemoteFile:
    """One file of a data set: its canonical name, the names it may also have on disk, its SHA-256."""

    name: str
    sha256: str
    aliases: tuple[str, ...] = ()

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every file name under which this file is accepted in a data directory."""
        return (self.name, *self.aliases)


@dataclass(frozen=True)
class RemoteDataset:
    """A data set made of files found locally or downloaded from one of its mirrors (base URLs)."""

    name: str
    files: tuple[RemoteFile, ...]
    mirrors: tuple[str, ...]
    install_hint: str = ""


def search_dirs(name: str, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The directories searched for data set `name`, in order (NETLANG_DATA, user cache, system)."""
    environ = os.environ if environ is None else environ
    dirs = []
    if environ.get("NETLANG_DATA"):
        dirs.append(Path(environ["NETLANG_DATA"]) / name)
    dirs.append(cache_dir(name, environ))
    dirs.append(SYSTEM_DATA_ROOT / name)
    return dirs


def cache_dir(name: str, environ: Mapping[str, str] | None = None) -> Path:
    """The user cache directory for data set `name`: ($XDG_CACHE_HOME or ~/.cache)/netlang/name."""
    environ = os.environ if environ is None else environ
    root = Path(environ["XDG_CACHE_HOME"]) if environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return root / "netlang" / name


def find_local(dataset: RemoteDataset, dirs: list[Path]) -> dict[str, Path] | None:
    """The paths of all of the data set's files from the first directory holding every one, else None."""
    for directory in dirs:
        found = {}
        for remote in dataset.files:
            path = next((directory / c for c in remote.candidates if (directory / c).is_file()), None)
            if path is not None:
                found[remote.name] = path
        if len(found) == len(dataset.files):
            return found
    return None


def locate(
    dataset: RemoteDataset,
    *,
    download: bool,
    environ: Mapping[str, str] | None = None,
    opener: Opener | None = None,
) -> dict[str, Path]:
    """Canonical file name -> path of every file of `dataset`, downloading into the cache if allowed.

    Raises one DataError listing every directory searched and how to fix it when the files cannot be had.
    """
    dirs = search_dirs(dataset.name, environ)
    found = find_local(dataset, dirs)
    if found is not None:
        return found
    problem = "download disabled"
    if download:
        target = cache_dir(dataset.name, environ)
        try:
            for remote in dataset.files:
                if not any((target / c).is_file() for c in remote.candidates):
                    download_file(remote, dataset.mirrors, target, opener=opener)
            found = find_local(dataset, [target])
            if found is not None:
                return found
            problem = f"files still missing from {target} after downloading"
        except DataError as error:
            problem = error.message
    raise DataError(_not_found_message(dataset, dirs, problem))


def download_file(
    remote: RemoteFile, mirrors: tuple[str, ...], target: Path, *, opener: Opener | None = None
) -> Path:
    """Fetch `remote` into `target` from the first mirror serving the right SHA-256; else DataError."""
    failures = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + remote.name
        print(f"netlang: downloading {url}", file=sys.stderr)
        try:
            return _download_verified(url, remote.sha256, target / remote.name, opener)
        except DataError as error:
            failures.append(error.message)
    raise DataError("; ".join(failures) or f"no mirror known for {remote.name}")


def _download_verified(url: str, sha256: str, destination: Path, opener: Opener | None) -> Path:
    """Stream `url` into a temporary file beside `destination`, check its SHA-256, rename it into place."""
    # Looked up at call time (not bound as a default) so tests can replace it.
    opener = opener or _open_url

    most = limits.max_data_bytes()

    def stream(output: IO[bytes]) -> None:
        digest = hashlib.sha256()
        written = 0
        with opener(url) as response:
            while chunk := response.read(CHUNK_BYTES):
                written += len(chunk)
                if written > most:  # a server sending without end would otherwise fill the disk
                    raise DataError(
                        f"{url} sent more than {most:,} bytes, netlang's limit per data file; the download was "
                        f"discarded ({limits.data_limit_hint()})"
                    )
                digest.update(chunk)
                output.write(chunk)
        if digest.hexdigest() != sha256:
            raise DataError(f"{url} has SHA-256 {digest.hexdigest()}, expected {sha256}; the download was discarded")

    try:
        write_atomically(destination, stream)
    except (OSError, ValueError, http.client.HTTPException) as error:
        # URLError and HTTPError are OSErrors; ValueError covers a malformed URL.
        raise DataError(f"downloading {url} failed ({getattr(error, 'reason', None) or error})") from None
    return destination


def _open_url(url: str) -> BinaryIO:
    return urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS)


def _not_found_message(dataset: RemoteDataset, dirs: list[Path], problem: str) -> str:
    files = ", ".join(remote.name for remote in dataset.files)
    looked = "\n".join(f"  {directory}" for directory in dirs)
    fixes = [
        f"  - put the files in a directory D/{dataset.name}/ and set NETLANG_DATA=D",
        *([f"  - {dataset.install_hint}"] if dataset.install_hint else []),
        "  - or go online and run again, so netlang can download them into the cache",
    ]
    return (
        f"data set '{dataset.name}' not found; {problem}.\n"
        f"Looked for {files} in:\n{looked}\n"
        "To fix it:\n" + "\n".join(fixes)
    )
