"""A per-machine cache of work on model text that does not depend on the data: parse checks,
normalised SQL and compiled Jinja templates, keyed by the sha256 of the text (and the versions of
the code that produced the answer).

A `plan` of a hundred rows otherwise spends most of its second re-parsing the same nine models with
sqlglot and re-compiling the same macro files with Jinja. An entry is a small file under
``$FOXWAREHOUSE_CACHE_DIR/models`` (else ``$XDG_CACHE_HOME/foxwarehouse/models``, else
``~/.cache/foxwarehouse/models``), written atomically; ``FOXWAREHOUSE_CACHE_DIR=off`` turns it off
(as for the test gate's record of passes). A cache that cannot be read or written is no error: the
work is simply done again. Only successes are stored, so every error message is the one a fresh
parse gives.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from .atomic import atomic_stream

CACHE_ENV = "FOXWAREHOUSE_CACHE_DIR"


def machine_folder(name: str) -> Path | None:
    """The folder `name` of foxwarehouse's per-machine cache ($FOXWAREHOUSE_CACHE_DIR, else the XDG
    cache folder), or None when the cache is turned off (FOXWAREHOUSE_CACHE_DIR=off)."""
    value = os.environ.get(CACHE_ENV)
    if value is not None:
        if value.strip().lower() in ("", "off", "0", "none"):
            return None
        return Path(value) / name
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "foxwarehouse" / name


def cache_dir() -> Path | None:
    """The folder of cached model work, or None when the machine cache is turned off."""
    return machine_folder("models")


def key(kind: str, *parts: str) -> str:
    """The entry name for `kind` (a short word) over `parts` (texts and versions)."""
    digest = hashlib.sha256(kind.encode())
    for part in parts:
        digest.update(b"\0")
        digest.update(part.encode("utf-8", "surrogatepass"))
    return f"{kind}-{digest.hexdigest()}"


def get(name: str) -> bytes | None:
    """The bytes stored under `name`, or None (no entry, no cache, or it cannot be read)."""
    folder = cache_dir()
    if folder is None:
        return None
    try:
        return (folder / name).read_bytes()
    except OSError:
        return None


def put(name: str, data: bytes) -> None:
    """Store `data` under `name` (atomically: a reader sees the whole entry or none)."""
    folder = cache_dir()
    if folder is None:
        return
    with contextlib.suppress(OSError):  # a read-only home only costs the next run the work
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_stream(folder / name, binary=True) as fh:
            fh.write(data)
