"""Where models, macros, config and examples live: the packaged copy or a team's own project dir.

A project directory holds ``sql/``, ``macros/`` and ``config/``; ``foxwarehouse init DIR`` makes one
from the packaged copy. Without ``--project-dir`` the packaged models are used.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from .errors import ProjectError

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLE_PARTS = ("sql", "macros", "config", "examples")


def bundled_dir(part: str) -> Path:
    """The packaged copy of sql/, macros/, config/ or examples/.

    An installed wheel carries them under ``foxwarehouse/_bundle``; a source checkout (or an
    editable install) reads them from the repository root.
    """
    if part not in _BUNDLE_PARTS:
        raise ValueError(part)
    installed = _PACKAGE_DIR / "_bundle" / part
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / part


@dataclass(frozen=True)
class Project:
    """The set of model, macro and config files one command works with."""

    sql_dir: Path
    macros_dir: Path
    config_dir: Path

    @property
    def default_config_path(self) -> Path:
        return self.config_dir / "routing_config.yaml"

    def model_paths(self) -> dict[str, Path]:
        """Model name (file stem) -> path, for every ``sql/*.sql`` file."""
        return {p.stem: p for p in sorted(self.sql_dir.glob("*.sql"))}

    def macro_paths(self) -> list[Path]:
        return sorted(self.macros_dir.glob("*.sql"))


def packaged_project() -> Project:
    return Project(bundled_dir("sql"), bundled_dir("macros"), bundled_dir("config"))


def load_project(project_dir: str | os.PathLike[str] | None) -> Project:
    if project_dir is None:
        return packaged_project()
    root = Path(project_dir)
    if not root.is_dir():
        raise ProjectError(f"project directory not found: {root}", path=root)
    missing = [p for p in ("sql", "macros") if not (root / p).is_dir()]
    if missing:
        raise ProjectError(
            f"{root} is not a foxwarehouse project (missing {', '.join(missing)}/); "
            f"create one with 'foxwarehouse init {root}'",
            path=root,
        )
    return Project(root / "sql", root / "macros", root / "config")


def resolve_config_path(config: str | os.PathLike[str] | None, project: Project) -> Path:
    """--config if given; else the project's config; else ./config/routing_config.yaml; else packaged."""
    if config is not None:
        return Path(config)
    if project != packaged_project() and project.default_config_path.is_file():
        return project.default_config_path
    local = Path("config") / "routing_config.yaml"
    if local.is_file():
        return local
    return packaged_project().default_config_path


def init_project(target: str | Path) -> list[Path]:
    """Copy the packaged sql/, macros/ and config/ into `target`; refuses to overwrite files."""
    root = Path(target)
    source = packaged_project()
    pairs = [(source.sql_dir, root / "sql"), (source.macros_dir, root / "macros"), (source.config_dir, root / "config")]
    clashes = [str(dst / f.name) for src, dst in pairs for f in src.iterdir() if f.is_file() and (dst / f.name).exists()]
    if clashes:
        raise ProjectError(f"init would overwrite existing files: {', '.join(clashes[:5])}")
    written: list[Path] = []
    for src, dst in pairs:
        dst.mkdir(parents=True, exist_ok=True)
        for f in sorted(src.iterdir()):
            if f.is_file() and f.suffix in (".sql", ".yaml", ".yml"):
                shutil.copy2(f, dst / f.name)
                written.append(dst / f.name)
    return written
