"""Debian packages: fetched with ``apt-get download`` into a cache, unpacked with ``dpkg -x``."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile
import urllib.parse
from collections.abc import Callable

from attention_colorization.data.corpus.settings import CorpusError

Runner = Callable[..., subprocess.CompletedProcess]


def fetch_deb(
    package: str, cache_dir: os.PathLike | str, run: Runner = subprocess.run
) -> pathlib.Path:
    """Downloads and unpacks a Debian package into ``cache_dir``; returns its root.

    ``cache_dir/<package>/`` is the unpacked tree (``dpkg -x``). A package already
    unpacked there is not fetched again; a ``.deb`` already downloaded is not
    downloaded again. Both steps work in temporary folders that are renamed when
    complete, so an interrupted run leaves nothing half-done behind. When
    ``apt-get download`` fails, ``apt-get update`` is run once and the download
    tried again.

    Raises:
        CorpusError: the package cannot be downloaded or unpacked.
    """
    cache_dir = pathlib.Path(cache_dir).expanduser()
    root = cache_dir / package
    if root.is_dir():
        return root
    cache_dir.mkdir(parents=True, exist_ok=True)
    deb = _find_deb(cache_dir, package)
    if deb is None:
        deb = _download_deb(package, cache_dir, run)
    tmp = pathlib.Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{package}.unpack."))
    try:
        _run(run, ["dpkg", "-x", str(deb), str(tmp)], f"unpack {deb.name}")
        (tmp / ".deb").write_text(deb.name + "\n")
        os.replace(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _find_deb(cache_dir: pathlib.Path, package: str) -> pathlib.Path | None:
    debs = sorted(cache_dir.glob(f"{package}_*.deb"))
    return debs[-1] if debs else None


def _download_deb(package: str, cache_dir: pathlib.Path, run: Runner) -> pathlib.Path:
    tmp = pathlib.Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{package}.download."))
    try:
        try:
            _run(run, ["apt-get", "download", package], f"download {package}", tmp)
        except CorpusError:
            _run(run, ["apt-get", "update"], "apt-get update")
            _run(run, ["apt-get", "download", package], f"download {package}", tmp)
        deb = _find_deb(tmp, package)
        if deb is None:
            raise CorpusError(f"apt-get download {package} produced no .deb")
        target = cache_dir / deb.name
        os.replace(deb, target)
        return target
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _run(run: Runner, cmd: list[str], what: str, cwd=None) -> None:
    try:
        result = run(cmd, cwd=cwd, capture_output=True, text=True)
    except OSError as e:
        raise CorpusError(f"cannot {what}: {e}") from e
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise CorpusError(
            f"cannot {what}: {' '.join(cmd)} exited with {result.returncode}"
            + (f": {detail[-1]}" if detail else "")
        )


def deb_version(root: pathlib.Path) -> str:
    """The package version, from the name of the ``.deb`` it was unpacked from."""
    marker = root / ".deb"
    if not marker.is_file():
        return ""
    parts = marker.read_text().strip().split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) >= 3 else ""
