"""Publishing a staged export into an output folder: the lock, the atomic swap, and user-file safety.

This module owns how an export becomes visible in ``DIR``::

    DIR/routing_candidates.parquet   real file (routing_candidates.csv without pyarrow)
    DIR/routing_plan/                real folder + .foxwarehouse-manifest.json
    DIR/training_plan/               real folder + .foxwarehouse-manifest.json
    DIR/.foxwarehouse/               lock, published.json, staging-<run>-<pid>/, kept-<time>/

The export is written whole into ``DIR/.foxwarehouse/staging-<run>-<pid>/`` (same file system),
each staged folder gets its manifest last, then, holding an exclusive ``flock`` on
``DIR/.foxwarehouse/lock``:

1. every visible entry is checked first (nothing visible changes when one check fails): a file in a
   published folder that its manifest does not describe is a user's file; it is hard-linked into the
   staged folder at the same place, or the export stops naming it when the new export has a file
   there. A foreign top-level candidates file, or a non-folder where a folder goes, stops the export.
2. the candidates file is renamed into place (its digest recorded in ``published.json`` first),
   then ``routing_plan/`` and last ``training_plan/`` are swapped in with one atomic directory
   exchange each (Linux ``renameat2(RENAME_EXCHANGE)``), so a reader never finds the folder missing.
3. the superseded folder, now at the staging path, loses only the files this export superseded;
   anything else left there is kept as ``DIR/.foxwarehouse/kept-<time>/`` with a warning.

Where the exchange is unsupported, the files of the existing folder are replaced one by one with
``atomic.rename_into_place`` (the master last). The environment variable ``FOXWAREHOUSE_NO_EXCHANGE=1`` forces
that fallback; it exists for tests only.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import shutil
import stat
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import rename_into_place, write_json_atomic, write_text_atomic
from ..errors import OutputError
from ..faults import checkpoint
from .export_record import (
    FOLDER_MANIFEST,
    LEGACY_EXPORTS_DIR,
    STATE_DIR,
    file_digest,
    legacy_link,
    owned_top_level_file,
    read_folder_manifest_versions,
    read_record,
    write_record,
)

LOCK_FILE = "lock"
STAGING_PREFIX = "staging-"
KEPT_PREFIX = "kept-"
EXCHANGING_FILE = ".exchanging"      # in a staging folder: names that may hold a superseded folder
NO_EXCHANGE_ENV = "FOXWAREHOUSE_NO_EXCHANGE"
MASTER = "master_training_plan.json"
CANDIDATE_NAMES = ("routing_candidates.parquet", "routing_candidates.csv")
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_POLL_SECONDS = 0.1


# --- the staging folder -------------------------------------------------------------------------

def state_dir(out: Path) -> Path:
    path = Path(out) / STATE_DIR
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_staging(out: Path, run_id: str) -> Path:
    """A fresh staging folder of this process in ``DIR/.foxwarehouse``."""
    staging = state_dir(out) / f"{STAGING_PREFIX}{run_id}-{os.getpid()}"
    if staging.exists():    # left by an earlier process with our pid: it is dead, so it is stale
        _clear_staging(staging)
    staging.mkdir()
    return staging


def write_manifest(folder: Path, run_id: str) -> dict[str, list[int]]:
    """Describe every file of a staged folder in its manifest (written last, atomically)."""
    files = {rel: [st.st_size, st.st_mtime_ns] for rel, st in _walk_files(folder) if rel != FOLDER_MANIFEST}
    write_json_atomic(folder / FOLDER_MANIFEST, {"run_id": run_id, "files": dict(sorted(files.items()))}, indent=1)
    return files


def discard_staging(staging: Path) -> None:
    """Remove a staging folder nothing has been exchanged into (everything in it is ours)."""
    _clear_staging(staging)


# --- the lock ------------------------------------------------------------------------------------

@contextmanager
def output_lock(out: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold the output folder's export lock; wait up to `wait` seconds for another exporter."""
    path = state_dir(out) / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, float(wait or 0.0))
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise OutputError(f"output folder {out} is in use by another export; "
                                      f"retry later or pass --wait SECONDS") from None
                time.sleep(_POLL_SECONDS)
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock


# --- publication -----------------------------------------------------------------------------------

@dataclass
class _Folder:
    name: str
    action: str                               # "rename" | "exchange" | "legacy"
    old: dict[str, set[tuple[int, int]]] = field(default_factory=dict)   # manifest of the visible folder
    carried: list[str] = field(default_factory=list)                      # user files linked into staging


class Publisher:
    """Publish ``staging`` (holding the candidates file and the plan folders) into ``out``."""

    def __init__(self, out: Path, staging: Path, run_id: str, candidates_name: str, folders: list[str],
                 input_path: str | None):
        self.out = Path(out)
        self.staging = staging
        self.run_id = run_id
        self.candidates_name = candidates_name
        self.folder_names = folders            # publication order: the training plan last
        self.inputs = _input_files(input_path)
        self.warnings: list[str] = []
        self.exchanged = False

    def run(self) -> list[str]:
        _remove_dead_staging(self.out)
        candidates = self._check_candidates()
        folders = [self._check_folder(name) for name in self.folder_names]
        checkpoint("publish:checked")
        self._publish_candidates(candidates)
        for folder in folders:
            self._publish_folder(folder)
        self._remove_legacy_store()
        _unlink(self.staging / EXCHANGING_FILE)
        _remove_empty_dir(self.staging)
        checkpoint("publish:after-cleanup")
        return self.warnings

    # --- checks (nothing visible changes until all pass) ---

    def _is_input(self, path: Path) -> bool:
        for source in self.inputs:
            try:
                if path.is_file() and source.is_file() and path.samefile(source):
                    return True
            except OSError:
                continue
        return False

    def _check_candidates(self) -> str:
        visible = self.out / self.candidates_name
        if not os.path.lexists(visible):
            return "write"
        if self._is_input(visible) and not visible.is_symlink():
            return "keep"
        if owned_top_level_file(visible):
            return "replace"
        raise OutputError(f"{visible} was not written by foxwarehouse; refusing to overwrite it; "
                          f"move it away or choose another --out")

    def _check_folder(self, name: str) -> _Folder:
        visible = self.out / name
        staged = self.staging / name
        if not os.path.lexists(visible):
            return _Folder(name, "rename")
        if legacy_link(visible):
            return _Folder(name, "legacy")
        if visible.is_symlink() or not visible.is_dir():
            raise OutputError(f"{visible} is not a folder written by foxwarehouse; move it away and export again")
        old = read_folder_manifest_versions(visible) or {}
        folder = _Folder(name, "exchange", old)
        user_files = [(rel, st) for rel, st in _walk_files(visible)
                      if rel != FOLDER_MANIFEST and not _ours(old, rel, st)]
        for rel, _ in user_files:
            if os.path.lexists(staged / rel) or _blocked_parent(staged, rel):
                raise OutputError(f"{visible / rel} was not written by foxwarehouse (or was changed since); "
                                  f"move it away and export again")
        for rel, _ in user_files:
            _link_or_copy(visible / rel, staged / rel)
            folder.carried.append(rel)
        for rel in _walk_dirs(visible):     # a user's empty folders come along too
            if not _blocked_parent(staged, rel + "/x"):
                (staged / rel).mkdir(parents=True, exist_ok=True)
        return folder

    # --- the swaps ---

    def _publish_candidates(self, action: str) -> None:
        staged = self.staging / self.candidates_name
        visible = self.out / self.candidates_name
        if action == "keep":
            staged.unlink()   # the input file itself is the snapshot; it stays byte-identical
        else:
            digest = file_digest(staged)
            record = read_record(self.out)
            files = record.setdefault("files", {})
            old = [d for d in files.get(self.candidates_name, []) if isinstance(d, str)] if isinstance(files, dict) else []
            # Recorded before the rename: a crash in between leaves a record that still knows the file.
            files[self.candidates_name] = sorted(set(old) | {digest})
            write_record(self.out, record)
            rename_into_place(staged, visible)
            _fsync_dir(self.out)
            files[self.candidates_name] = [digest]
            record["run_id"] = self.run_id
            write_record(self.out, record)
        checkpoint("publish:after-candidates")
        for other in CANDIDATE_NAMES:
            path = self.out / other
            if other == self.candidates_name or not os.path.lexists(path) or self._is_input(path):
                continue
            if owned_top_level_file(path):
                path.unlink()
                record = read_record(self.out)
                if isinstance(record.get("files"), dict):
                    record["files"].pop(other, None)
                    write_record(self.out, record)

    def _publish_folder(self, folder: _Folder) -> None:
        staged = self.staging / folder.name
        visible = self.out / folder.name
        if folder.action == "rename":
            os.rename(staged, visible)
            _fsync_dir(self.out)
            checkpoint(f"publish:after-exchange:{folder.name}")
            return
        _note_exchanging(self.staging, folder.name)
        if _exchange(staged, visible):
            self.exchanged = True
            _fsync_dir(self.out)
            checkpoint(f"publish:after-exchange:{folder.name}")
            if folder.action == "legacy":
                staged.unlink()    # the old symlink, now at the staging path
            else:
                self._clear_superseded(staged, visible, folder)
            return
        if folder.action == "legacy":
            # No exchange on this system: a symlink cannot be replaced by a folder in one step.
            visible.unlink()
            os.rename(staged, visible)
            _fsync_dir(self.out)
            checkpoint(f"publish:after-exchange:{folder.name}")
            return
        _replace_files(staged, visible, folder, self.run_id)
        checkpoint(f"publish:after-exchange:{folder.name}")
        for rel in folder.carried:     # still in place in the visible folder; drop our extra links
            _unlink(staged / rel)
        _unlink(staged / FOLDER_MANIFEST)
        _remove_empty_tree(staged)
        if os.path.lexists(staged):
            self._keep(staged, folder.name)

    def _clear_superseded(self, old_root: Path, new_root: Path, folder: _Folder) -> None:
        """Empty the superseded folder: our files go, user files already carried over go."""
        carried = set(folder.carried)
        for rel, st in _walk_files(old_root):
            path = old_root / rel
            if rel == FOLDER_MANIFEST or _ours(folder.old, rel, st):
                _unlink(path)
            elif rel in carried and _same_inode_or_copy(path, new_root / rel):
                _unlink(path)
            elif not os.path.lexists(new_root / rel) and not _blocked_parent(new_root, rel):
                # Written after the check: move it into the new folder, where the user left it.
                (new_root / rel).parent.mkdir(parents=True, exist_ok=True)
                os.rename(path, new_root / rel)
        _remove_empty_tree(old_root)
        if os.path.lexists(old_root):
            self._keep(old_root, folder.name)

    def _keep(self, path: Path, name: str) -> None:
        kept = self.out / STATE_DIR / f"{KEPT_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{name}"
        os.rename(path, kept)
        self.warnings.append(f"files changed in {self.out / name} while the export published them were kept "
                             f"in {kept}; look at them and move them where they belong")

    def _remove_legacy_store(self) -> None:
        """Drop the export store of the symlink layout; folders it holds for users stay."""
        store = self.out / LEGACY_EXPORTS_DIR
        if not store.is_dir() or store.is_symlink():
            return
        if any(legacy_link(self.out / name) for name in (*CANDIDATE_NAMES, *self.folder_names)):
            return   # something visible still points into it
        for child in store.iterdir():
            if child.name.startswith("replaced-"):
                continue     # a user's folder an older version moved aside
            if child.is_symlink() or child.is_file():
                _unlink(child)
            elif child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
        _remove_empty_dir(store)


# --- exchange and the fallback -------------------------------------------------------------------------

def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False when the system cannot (then nothing happened)."""
    if os.environ.get(NO_EXCHANGE_ENV) == "1" or not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    renameat2.restype = ctypes.c_int
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _replace_files(staged: Path, visible: Path, folder: _Folder, run_id: str) -> None:
    """Fallback: replace the visible folder's files one by one, the master last."""
    carried = set(folder.carried)
    new = {rel: (st.st_size, st.st_mtime_ns) for rel, st in _walk_files(staged)
           if rel != FOLDER_MANIFEST and rel not in carried}
    # First a manifest naming both versions, so a crash midway leaves every file recognised as ours.
    both: dict[str, set[tuple[int, int]]] = {rel: set(v) for rel, v in folder.old.items()}
    for rel, entry in new.items():
        both.setdefault(rel, set()).add(entry)
    _write_versions_manifest(visible, run_id, both)
    for rel in sorted(new, key=lambda r: (r == MASTER, r)):
        target = visible / rel
        if target.is_dir() and not target.is_symlink():
            _remove_empty_tree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        rename_into_place(staged / rel, target)
    for rel, st in _walk_files(visible):
        if rel != FOLDER_MANIFEST and rel not in new and _ours(folder.old, rel, st):
            _unlink(visible / rel)
    for rel in sorted(_walk_dirs(visible), key=len, reverse=True):
        _remove_empty_dir(visible / rel)
    _write_versions_manifest(visible, run_id, {rel: {entry} for rel, entry in new.items()})


def _write_versions_manifest(folder: Path, run_id: str, versions: dict[str, set[tuple[int, int]]]) -> None:
    files, previous = {}, {}
    for rel in sorted(versions):
        entries = sorted(versions[rel])
        files[rel] = list(entries[-1])
        if len(entries) > 1:
            previous[rel] = [list(e) for e in entries[:-1]]
    doc = {"run_id": run_id, "files": files}
    if previous:
        doc["previous"] = previous
    write_json_atomic(folder / FOLDER_MANIFEST, doc, indent=1)


# --- stale staging folders ---------------------------------------------------------------------------

def _remove_dead_staging(out: Path) -> None:
    """Clear staging folders of exporters that died; a live exporter's folder is never touched."""
    state = Path(out) / STATE_DIR
    for child in state.iterdir():
        if not child.name.startswith(STAGING_PREFIX) or not child.is_dir() or child.is_symlink():
            continue
        pid = child.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid() or _alive(int(pid)):
            continue
        _clear_staging(child)


def _clear_staging(staging: Path) -> None:
    """Remove a staging folder; a folder that may be a superseded one is emptied carefully."""
    exchanging = set()
    try:
        exchanging = set((staging / EXCHANGING_FILE).read_text(encoding="utf-8").split("\n")) - {""}
    except OSError:
        pass
    leftovers = False
    for child in list(staging.iterdir()):
        if child.name == EXCHANGING_FILE:
            continue
        if child.name not in exchanging or child.is_symlink() or not child.is_dir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)     # staged by us and never exchanged: all ours
            else:
                _unlink(child)
            continue
        old = read_folder_manifest_versions(child) or {}
        for rel, st in _walk_files(child):
            # ours, or a hard link of a user file that lives on in the published folder
            if rel == FOLDER_MANIFEST or _ours(old, rel, st) or st.st_nlink > 1:
                _unlink(child / rel)
        _remove_empty_tree(child)
        if os.path.lexists(child):
            kept = staging.parent / f"{KEPT_PREFIX}{time.strftime('%Y%m%dT%H%M%S')}-{child.name}"
            os.rename(child, kept)
            leftovers = True
    _unlink(staging / EXCHANGING_FILE)
    if not leftovers:
        _remove_empty_dir(staging)


def _note_exchanging(staging: Path, name: str) -> None:
    path = staging / EXCHANGING_FILE
    try:
        names = path.read_text(encoding="utf-8").split("\n")
    except OSError:
        names = []
    write_text_atomic(path, "\n".join(n for n in [*names, name] if n) + "\n")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- small helpers ------------------------------------------------------------------------------------

def _input_files(input_path: str | None) -> list[Path]:
    if not input_path:
        return []
    path = Path(os.path.abspath(input_path))
    # A folder input is raw metrics (a candidates file read from a folder is recorded as that file).
    return [] if path.is_dir() else [path]


def _walk_files(root: Path) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path with '/', lstat) of every non-folder under root, symlinks not followed."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = Path(dirpath)
        names = list(filenames) + [d for d in dirnames if (base / d).is_symlink()]
        for name in sorted(names):
            path = base / name
            yield path.relative_to(root).as_posix(), path.lstat()


def _walk_dirs(root: Path) -> list[str]:
    return [(Path(d) / n).relative_to(root).as_posix()
            for d, dirnames, _ in os.walk(root) for n in dirnames if not (Path(d) / n).is_symlink()]


def _ours(manifest: dict[str, set[tuple[int, int]]], rel: str, st: os.stat_result) -> bool:
    """A regular file exactly as the export that wrote the manifest left it (size and mtime)."""
    return stat.S_ISREG(st.st_mode) and (st.st_size, st.st_mtime_ns) in manifest.get(rel, ())


def _blocked_parent(root: Path, rel: str) -> bool:
    """True when a parent of root/rel exists in root as something other than a folder."""
    parts = rel.split("/")[:-1]
    path = root
    for part in parts:
        path = path / part
        if os.path.lexists(path) and (path.is_symlink() or not path.is_dir()):
            return True
    return False


def _link_or_copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, dest, follow_symlinks=False)
    except OSError:
        if source.is_symlink():
            os.symlink(os.readlink(source), dest)
        else:
            shutil.copy2(source, dest)


def _same_inode_or_copy(old: Path, new: Path) -> bool:
    try:
        a, b = old.lstat(), new.lstat()
    except OSError:
        return False
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
        return True
    if old.is_symlink() or new.is_symlink():
        return old.is_symlink() and new.is_symlink() and os.readlink(old) == os.readlink(new)
    return a.st_size == b.st_size and a.st_mtime_ns == b.st_mtime_ns and file_digest(old) == file_digest(new)


def _remove_empty_tree(root: Path) -> None:
    """rmdir every empty folder under root, bottom-up, then root itself when empty."""
    if not root.is_dir() or root.is_symlink():
        return
    for rel in sorted(_walk_dirs(root), key=lambda r: r.count("/"), reverse=True):
        _remove_empty_dir(root / rel)
    _remove_empty_dir(root)


def _remove_empty_dir(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
