"""Where models, macros, config and examples live: the packaged copy or a team's own project.

A project is a folder holding ``foxwarehouse.yml`` (the project file), ``sql/``, ``macros/``,
``config/`` and ``tests/sql/``; ``foxwarehouse init DIR`` makes one from the packaged copy.
:func:`load_project` is the one place that decides which project a command or a library call
uses: ``--project-dir`` (``project_dir``), else ``FOXWAREHOUSE_PROJECT_DIR``, else the nearest
folder holding ``foxwarehouse.yml`` from the current folder upwards (like git), else the packaged
models. The project file may set the defaults ``db``, ``out``, ``config``, ``metrics`` and
``engine`` (paths relative to the project file's folder), and ``spark`` (where the Spark engine
runs: ``master``, ``remote``, ``conf``); explicit options win over it.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .atomic import unusable_path, write_text_atomic
from .errors import ProjectError, did_you_mean
from .spark.session import SparkSettings, settings_from_project
from .yaml_loader import safe_load as load_yaml_strict

_PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLE_PARTS = ("sql", "macros", "config", "examples")

PROJECT_FILE = "foxwarehouse.yml"
PROJECT_DIR_ENV = "FOXWAREHOUSE_PROJECT_DIR"
PATH_KEYS = ("db", "out", "config", "metrics")  # paths, relative to the project file's folder
PROJECT_KEYS = (*PATH_KEYS, "engine", "spark")
ENGINES = ("duckdb", "spark")
LATER_ENGINES: tuple[str, ...] = ()  # named by the command line contract, not available in this version

PROJECT_FILE_TEMPLATE = """\
# foxwarehouse project file. Every foxwarehouse command run in this folder (or below it) uses this
# project's sql/, macros/, config/ and tests/sql/. Paths are relative to this file's folder;
# command-line options (and FOXWAREHOUSE_DB for db) win over these defaults.
db: foxwarehouse.duckdb               # the warehouse file
# out: METRICS                        # plan/export folder (default METRICS)
# metrics: METRICS                    # what `plan` reads when --metrics is not given
# config: config/routing_config.yaml  # the routing config (default: this project's config/)
# engine: duckdb                     # or spark: the models run on Spark (pip install 'foxwarehouse[spark]')
# spark:                             # where the spark engine runs (default: master local[*])
#   master: spark://host:7077        # or remote: sc://host:15002 (Spark Connect)
#   conf: {spark.executor.memory: 4g}
"""


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
class ProjectSettings:
    """The defaults a project file sets (None: not set). Paths are absolute."""

    db: Path | None = None
    out: Path | None = None
    config: Path | None = None
    metrics: Path | None = None
    engine: str = "duckdb"
    spark: SparkSettings = field(default_factory=SparkSettings)


@dataclass(frozen=True)
class Project:
    """The set of model, macro and config files one command works with.

    ``root`` is the project folder (None for the packaged models); ``settings`` what its project
    file says (all defaults when it has none).
    """

    sql_dir: Path
    macros_dir: Path
    config_dir: Path
    root: Path | None = None
    settings: ProjectSettings = field(default_factory=ProjectSettings, compare=False)

    @property
    def default_config_path(self) -> Path:
        return self.config_dir / "routing_config.yaml"

    @property
    def tests_dir(self) -> Path | None:
        """The project's tests/sql folder (None for the packaged models)."""
        return self.root / "tests" / "sql" if self.root is not None else None

    @property
    def project_file(self) -> Path | None:
        return self.root / PROJECT_FILE if self.root is not None else None

    def model_paths(self) -> dict[str, Path]:
        """Model name (file stem) -> path, for every ``sql/*.sql`` file."""
        return {p.stem: p for p in sorted(self.sql_dir.glob("*.sql"))}

    def macro_paths(self) -> list[Path]:
        return sorted(self.macros_dir.glob("*.sql"))


def packaged_project() -> Project:
    return Project(bundled_dir("sql"), bundled_dir("macros"), bundled_dir("config"))


def find_project_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest folder holding foxwarehouse.yml, from `start` (default: the current folder) upwards."""
    here = Path(start if start is not None else os.getcwd()).absolute()
    for folder in (here, *here.parents):
        if (folder / PROJECT_FILE).is_file():
            return folder
    return None


def load_project(project_dir: str | os.PathLike[str] | None = None) -> Project:
    """The project a command or a library call uses (the one resolution for all of them).

    `project_dir` (``--project-dir``) if given, else ``FOXWAREHOUSE_PROJECT_DIR``, else the nearest
    folder holding foxwarehouse.yml from the current folder upwards, else the packaged models.
    """
    if project_dir is None or str(project_dir) == "":
        project_dir = os.environ.get(PROJECT_DIR_ENV) or None
    if project_dir is None:
        found = find_project_root()
        if found is not None:
            return _project_at(found)
        refuse_older_project(Path.cwd())
        return packaged_project()
    return _project_at(Path(project_dir))


def refuse_older_project(folder: Path) -> None:
    """Stop in a folder that looks like a project made before the project file (sql/ and macros/
    but no foxwarehouse.yml): some commands would use its models and others the packaged ones.
    The package's own folder and a source checkout of foxwarehouse (where the README's commands
    run) hold the packaged models themselves, so they are not older projects."""
    try:
        older = ((folder / "sql").is_dir() and (folder / "macros").is_dir()
                 and not (folder / PROJECT_FILE).exists()
                 and folder.resolve() != bundled_dir("sql").resolve().parent
                 and not (folder / "foxwarehouse" / "__init__.py").is_file())
    except OSError:
        return
    if older:
        raise ProjectError(f"{folder} has sql/ and macros/ but no {PROJECT_FILE}: if it is a foxwarehouse project "
                           f"made by an older 'foxwarehouse init', add an empty {PROJECT_FILE} to use it "
                           f"(or pass --project-dir)", path=folder)


def _project_at(root: Path) -> Project:
    if not root.is_dir():
        raise ProjectError(f"project directory not found: {root}", path=root)
    file = root / PROJECT_FILE
    settings = read_project_file(file) if file.is_file() else ProjectSettings()
    missing = [p for p in ("sql", "macros") if not (root / p).is_dir()]
    if missing:
        raise ProjectError(
            f"{root} is not a foxwarehouse project (missing {', '.join(missing)}/); "
            f"create one with 'foxwarehouse init {root}'",
            path=root,
        )
    return Project(root / "sql", root / "macros", root / "config", root, settings)


def read_project_file(path: Path) -> ProjectSettings:
    """The settings of a project file; anything wrong in it is a ProjectError (exit 2) naming it."""
    try:
        data = load_yaml_strict(path.read_text(encoding="utf-8"))  # YAML 1.2, no duplicate keys, bounded
    except (OSError, UnicodeDecodeError) as exc:
        raise ProjectError(f"{path}: cannot be read: {exc}", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ProjectError(f"{path}: not valid YAML{where}: {problem}", path=path,
                           line=mark.line + 1 if mark is not None else None) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProjectError(f"{path}: expected a mapping of settings ({', '.join(PROJECT_KEYS)}), "
                           f"got a {type(data).__name__}", path=path)
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in PROJECT_KEYS:
            raise ProjectError(f"{path}: unknown key {key!r}{did_you_mean(key, PROJECT_KEYS, 'known keys')}",
                               path=path, key=str(key))
        if value is None:
            continue
        if key == "spark":
            values[key] = settings_from_project(value, str(path))
            continue
        if not isinstance(value, str) or not value.strip():
            raise ProjectError(f"{path}: {key} must be text (a {'name' if key == 'engine' else 'path'}), "
                               f"not {value!r}", path=path, key=key)
        if key == "engine":
            values[key] = check_engine(value, str(path), path)
        else:
            values[key] = (path.parent / value).absolute()
    return ProjectSettings(**values)


def check_engine(value: str, where: str, path: Path | None = None) -> str:
    """The engine `value` names (``where``: the option or file that named it), or exit 2 saying why not."""
    name = value.strip().lower()
    if name in ENGINES:
        return name
    if name in LATER_ENGINES:
        raise ProjectError(f"{where}: engine {value!r} is not available in this version of foxwarehouse; "
                           f"engines: {', '.join(ENGINES)}", path=path, key="engine")
    raise ProjectError(f"{where}: unknown engine {value!r}{did_you_mean(name, ENGINES, 'engines')}",
                       path=path, key="engine")


def resolve_config_path(config: str | os.PathLike[str] | None, project: Project) -> Path:
    """--config if given; else the project file's ``config``; else the project's config/; outside a
    project ./config/routing_config.yaml; else the packaged default."""
    if config is not None:
        return Path(config)
    if project.settings.config is not None:
        return project.settings.config
    if project.root is not None or project != packaged_project():
        if project.default_config_path.is_file():
            return project.default_config_path
        return packaged_project().default_config_path
    local = Path("config") / "routing_config.yaml"
    if local.is_file():
        return local
    return packaged_project().default_config_path


def init_project(target: str | Path, also: Callable[[Path], list[Path]] | None = None) -> list[Path]:
    """Write `target`/foxwarehouse.yml and copy the packaged sql/, macros/ and config/ into `target`,
    then run `also(target)` (the CLI copies the SQL unit tests there) and return every file written.

    Refuses (writing nothing) when any of those files exists already, the project file included.
    A write that fails (disk full, a read-only or special file system) removes what this call wrote
    and raises ProjectError naming the file, so the same init can simply be run again.
    """
    root = Path(target)
    problem = unusable_path(root, "folder")
    if problem is not None:
        raise ProjectError(f"init: cannot make the project folder {root}: {problem}; choose another folder", path=root)
    before = _tree(root)
    try:
        written = _init_files(root)
        if also is not None:
            written += also(root)
    except OSError as exc:
        _remove_new(root, before)
        where = exc.filename or root
        raise ProjectError(f"init: cannot write {where}: {exc.strerror or exc}; nothing was written",
                           path=root) from None
    return written


# The top-level entries init writes into; only these are listed before it writes, so an init into
# a large existing folder does not walk all of it.
_INIT_ENTRIES = (PROJECT_FILE, "sql", "macros", "config", "tests")


def _tree(root: Path) -> set[Path] | None:
    """The paths init may add to under `root` (None when `root` does not exist)."""
    if not os.path.lexists(root):
        return None
    found: set[Path] = set()
    for name in _INIT_ENTRIES:
        entry = root / name
        if os.path.lexists(entry):
            found.add(entry)
            if entry.is_dir() and not entry.is_symlink():
                found.update(entry.rglob("*"))
    return found


def _remove_new(root: Path, before: set[Path] | None) -> None:
    """Remove what init added under `root` (all of `root` when it made it), never an older entry."""
    try:
        if before is None:
            shutil.rmtree(root)
            return
        after = _tree(root) or set()
        for path in sorted(after - before, key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    except OSError:
        pass  # best effort: the error being reported is the one that matters


def _init_files(root: Path) -> list[Path]:
    source = packaged_project()
    pairs = [(source.sql_dir, root / "sql"), (source.macros_dir, root / "macros"), (source.config_dir, root / "config")]
    copied = [(f, dst / f.name) for src, dst in pairs for f in sorted(src.iterdir())
              if f.is_file() and f.suffix in (".sql", ".yaml", ".yml")]
    clashes = [str(dst) for dst in (root / PROJECT_FILE, *(d for _, d in copied)) if dst.exists()]
    if clashes:
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        raise ProjectError(f"init would overwrite existing files: {', '.join(clashes[:5])}{more}; "
                           f"nothing was written", path=root)
    root.mkdir(parents=True, exist_ok=True)
    write_text_atomic(root / PROJECT_FILE, PROJECT_FILE_TEMPLATE)
    written = [root / PROJECT_FILE]
    for src, dst in copied:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
        written.append(dst)
    return written


def describe_written(root: str | Path, written: list[Path]) -> list[str]:
    """What init wrote, one line per folder ("sql/: a.sql, b.sql"), in the order written."""
    groups: dict[str, list[str]] = {}
    for path in written:
        try:
            rel = Path(path).relative_to(Path(root))
        except ValueError:
            rel = Path(path)
        folder = rel.parent.as_posix()
        groups.setdefault("" if folder == "." else folder + "/", []).append(rel.name)
    return [", ".join(names) if not folder else f"{folder}: {', '.join(names)}" for folder, names in groups.items()]
