"""Atomic publication of an export folder.

An export is written whole into ``DIR/.foxwarehouse-exports/<id>/`` and published by swapping one
symlink (``current``) with ``os.replace``; the visible entries ``DIR/training_plan``,
``DIR/routing_plan`` and ``DIR/routing_candidates.*`` are stable symlinks through ``current``. So a
reader, or a process killed at any point, sees either the previous complete export or the new one.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .faults import checkpoint

EXPORTS_DIR = ".foxwarehouse-exports"
CURRENT = "current"


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file through a temp file in the same folder and rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; plan files must be readable by the trainer's user
        os.replace(tmp, path)
    except BaseException:
        _unlink(Path(tmp))
        raise


def new_export_dir(out_dir: Path, export_id: str) -> Path:
    staging = out_dir / EXPORTS_DIR / f"{export_id}.partial"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    return staging


def publish(out_dir: Path, staging: Path, entries: list[str], keep_regular: set[str] = frozenset()) -> Path:
    """Make `staging` the current export; `entries` are its top-level names to expose in out_dir."""
    exports = out_dir / EXPORTS_DIR
    final = staging.with_name(staging.name.removesuffix(".partial"))
    os.replace(staging, final)
    _fsync_dir(exports)
    checkpoint("publish:after-rename")
    tmp_link = exports / f".{CURRENT}.tmp"
    _unlink(tmp_link)
    os.symlink(final.name, tmp_link)
    checkpoint("publish:after-temp-link")
    os.replace(tmp_link, exports / CURRENT)  # the moment of publication
    _fsync_dir(exports)
    checkpoint("publish:after-swap")
    for name in entries:
        _expose(out_dir, name, keep_regular)
        checkpoint(f"publish:after-expose:{name}")
    _remove_stale(exports, keep=final.name)
    checkpoint("publish:after-remove-stale")
    return final


def current_export(out_dir: Path) -> Path | None:
    link = out_dir / EXPORTS_DIR / CURRENT
    return link.resolve() if link.exists() else None


def _expose(out_dir: Path, name: str, keep_regular: set[str]) -> None:
    visible = out_dir / name
    target = Path(EXPORTS_DIR) / CURRENT / name
    if visible.is_symlink():
        if os.readlink(visible) == str(target):
            return
    elif visible.exists():
        if name in keep_regular:
            return
        if visible.is_dir():
            # A real folder from an older tool: move it aside before linking.
            aside = out_dir / EXPORTS_DIR / f"replaced-{name}"
            if aside.exists():
                shutil.rmtree(aside)
            os.replace(visible, aside)
    tmp = out_dir / f".{name}.link-tmp"
    _unlink(tmp)
    os.symlink(target, tmp)
    os.replace(tmp, visible)


def hide(out_dir: Path, name: str) -> None:
    """Remove a visible entry that the current export no longer has (our symlinks only)."""
    visible = out_dir / name
    if visible.is_symlink():
        visible.unlink()


def _remove_stale(exports: Path, keep: str) -> None:
    for child in exports.iterdir():
        if child.name in (keep, CURRENT) or child.name.startswith("replaced-"):
            continue
        if child.is_symlink() or child.is_file():
            _unlink(child)
        elif child.is_dir():
            shutil.rmtree(child, ignore_errors=True)


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
