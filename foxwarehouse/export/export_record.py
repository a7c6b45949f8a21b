"""What foxwarehouse wrote into an output folder, so that nothing else is ever overwritten or read back.

An output folder ``DIR`` holds the published entries (``routing_candidates.parquet|csv``,
``routing_plan/``, ``training_plan/``) as ordinary files and folders, plus one hidden bookkeeping
folder ``DIR/.foxwarehouse/`` (the export lock, staging folders and ``published.json``).

Two records say what is ours:

* Every published folder carries ``.foxwarehouse-manifest.json``: each file the export wrote into
  it, with its size and modification time. The manifest is written into the staging folder before
  the folder is published, so it is always exactly as new as the folder it describes.
* ``DIR/.foxwarehouse/published.json`` holds the sha256 digests of the top-level files the exports
  wrote (the normalised candidates file). A digest is recorded *before* its file is renamed into
  place, so a crash between the two leaves a record that still recognises whatever file is there.

Ingest uses :func:`owned_top_level_file` to never read an export back as input; commands with an
``--out`` use :func:`inside_published_export` to never write into a published plan.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from ..atomic import write_json_atomic

STATE_DIR = ".foxwarehouse"
RECORD_FILE = "published.json"
FOLDER_MANIFEST = ".foxwarehouse-manifest.json"
LEGACY_EXPORTS_DIR = ".foxwarehouse-exports"   # the store of older versions (visible entries were symlinks)


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_path(out_dir: Path) -> Path:
    return Path(out_dir) / STATE_DIR / RECORD_FILE


def read_record(out_dir: Path) -> dict[str, Any]:
    """The output folder's record (``{}`` when there is none or it cannot be read)."""
    try:
        with open(record_path(out_dir), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_record(out_dir: Path, record: dict[str, Any]) -> None:
    """Replace the record atomically (temp file + fsync + rename)."""
    # fsync: the record must survive a power cut that the file it vouches for survives.
    write_json_atomic(record_path(out_dir), record, indent=2, sort_keys=True, fsync=True)


def recorded_digests(out_dir: Path, name: str) -> set[str]:
    """Digests recorded for top-level file `name` of `out_dir` (ours in any of these versions)."""
    return record_digests(read_record(out_dir)).get(name, set())


def record_digests(record: Any) -> dict[str, set[str]]:
    """{top-level file name: its recorded digests} of a record (also one read by Spark); a record of
    another shape records nothing."""
    files = record.get("files", {}) if isinstance(record, dict) else {}
    if not isinstance(files, dict):
        return {}
    return {str(k): {d for d in v if isinstance(d, str)} for k, v in files.items() if isinstance(v, list)}


def _legacy_link(path: Path) -> bool:
    """A visible entry of the older layout: a symlink into ``.foxwarehouse-exports/``."""
    try:
        return path.is_symlink() and os.readlink(path).startswith(LEGACY_EXPORTS_DIR + os.sep)
    except OSError:
        return False


def owned_top_level_file(path: Path) -> bool:
    """True when `path` (a file directly inside an output folder) was written by a foxwarehouse export."""
    path = Path(path)
    if _legacy_link(path):
        return True
    if path.is_symlink() or not path.is_file():
        return False
    digests = recorded_digests(path.parent, path.name)
    if not digests:
        return False
    try:
        return file_digest(path) in digests
    except OSError:
        return False


def read_folder_manifest(folder: Path) -> dict[str, tuple[int, int]] | None:
    """``{relative path: (size, mtime_ns)}`` of a published folder, or None when it has no manifest."""
    try:
        with open(Path(folder) / FOLDER_MANIFEST, encoding="utf-8") as fh:
            data = json.load(fh)
        files = data["files"]
        return {str(k): (int(v[0]), int(v[1])) for k, v in files.items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


def read_folder_manifest_run(folder: Path) -> str | None:
    """The run id a published folder's manifest names (the run whose plan it holds), or None."""
    try:
        with open(Path(folder) / FOLDER_MANIFEST, encoding="utf-8") as fh:
            run_id = json.load(fh).get("run_id")
    except (OSError, ValueError, AttributeError):
        return None
    return run_id if isinstance(run_id, str) else None


def read_folder_manifest_versions(folder: Path) -> dict[str, set[tuple[int, int]]] | None:
    """Like :func:`read_folder_manifest`, with every version a manifest names for a file.

    A folder whose files are being replaced one by one (where the file system cannot exchange two
    folders) carries, under ``previous``, the entries of the files not yet replaced, so that a crash
    midway leaves every file of either export recognised as ours.
    """
    current = read_folder_manifest(folder)
    if current is None:
        return None
    versions = {rel: {entry} for rel, entry in current.items()}
    try:
        with open(Path(folder) / FOLDER_MANIFEST, encoding="utf-8") as fh:
            previous = json.load(fh).get("previous", {})
        for rel, entries in previous.items():
            versions.setdefault(str(rel), set()).update((int(e[0]), int(e[1])) for e in entries)
    except (OSError, ValueError, AttributeError, TypeError, IndexError):
        pass
    return versions


def legacy_link(path: Path) -> bool:
    """A visible entry of the older layout: a symlink into ``.foxwarehouse-exports/``."""
    return _legacy_link(Path(path))


def inside_published_export(path: Path) -> bool:
    """True when writing `path` would write into something an export published or keeps.

    That is: a file inside a folder that carries a foxwarehouse manifest (at any depth), anything
    inside the hidden ``.foxwarehouse`` / ``.foxwarehouse-exports`` folders, or a top-level file an
    export wrote.
    """
    candidate = Path(os.path.abspath(path))
    for parent in [candidate, *candidate.parents]:
        if parent.name in (STATE_DIR, LEGACY_EXPORTS_DIR) and parent != candidate:
            return True
        if parent != candidate and (parent / FOLDER_MANIFEST).is_file():
            return True
    try:
        resolved = Path(os.path.realpath(path))
    except OSError:
        resolved = candidate
    if resolved != candidate and inside_published_export_resolved(resolved):
        return True
    return candidate.exists() and owned_top_level_file(candidate)


def inside_published_export_resolved(resolved: Path) -> bool:
    for parent in resolved.parents:
        if parent.name in (STATE_DIR, LEGACY_EXPORTS_DIR) or (parent / FOLDER_MANIFEST).is_file():
            return True
    return False
