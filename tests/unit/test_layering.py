"""The layers of foxwarehouse (docs/ARCHITECTURE.md, "Layers"), checked on the imports of every module.

Every import counts: module level, inside functions and under TYPE_CHECKING.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "foxwarehouse"

# Modules by dotted name below foxwarehouse ("engine", "export.publish"); a subpackage's __init__.py is
# named by the subpackage ("export").
CORE = {"errors", "config", "project", "models", "render", "warehouse", "engine", "context", "model_versions"}
WRITE_PACKAGES = ("ingest", "build", "export")
READ_PACKAGES = ("diff", "sqltest", "analyst")
TRAINER = {"consumer", "foxml", "plan_schema"}
# foxwarehouse modules that themselves import only the standard library, so the trainer side may use them
STDLIB_ONLY = {"errors", "vocabulary", "plan_schema", "consumer"}


def is_read(module: str) -> bool:
    return module.split(".")[0] in READ_PACKAGES


def is_write(module: str) -> bool:
    return module.split(".")[0] in WRITE_PACKAGES


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts) or "__init__"


def modules() -> list[str]:
    return sorted(_name(p) for p in PACKAGE.rglob("*.py") if _name(p) != "__init__")


def _path(module: str) -> Path:
    path = PACKAGE.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


WRITE = {m for m in modules() if is_write(m)}
READ = {m for m in modules() if is_read(m)}


def _known(parts: list[str]) -> str:
    """The most specific foxwarehouse module that the dotted `parts` (below foxwarehouse) name or lie in."""
    present = set(modules())
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in present:
            return ".".join(parts[:n])
    return "__init__"


def imports(module: str) -> tuple[set[str], set[str]]:
    """(foxwarehouse modules, other top-level packages) that `module` imports anywhere."""
    path = _path(module)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = [] if module == "__init__" else module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == "foxwarehouse":
                    ours.add(_known(rest.split(".")) if rest else "__init__")
                else:
                    others.add(top)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 0 and not name.startswith("foxwarehouse"):
                others.add(name.split(".")[0])
                continue
            if node.level == 0:
                base, inner = [], name.removeprefix("foxwarehouse").lstrip(".")
            else:
                base, inner = package[:len(package) - (node.level - 1)], name
            target = base + (inner.split(".") if inner else [])
            if inner:
                ours.add(_known(target))
            else:  # from . import a, b
                ours.update(_known(target + [alias.name]) for alias in node.names)
    return ours, others - {"__future__"}


def test_the_layers_name_existing_modules() -> None:
    present = set(modules())
    assert CORE | TRAINER <= present
    for package in WRITE_PACKAGES + READ_PACKAGES:
        assert package in present and any(m.startswith(package + ".") for m in present), package


@pytest.mark.parametrize("module", sorted(WRITE))
def test_the_write_side_imports_nothing_from_the_read_side(module: str) -> None:
    ours, _ = imports(module)
    assert not {m for m in ours if is_read(m)}, f"{module} imports the read side"


@pytest.mark.parametrize("module", sorted(CORE))
def test_the_core_imports_neither_side(module: str) -> None:
    ours, _ = imports(module)
    bad = {m for m in ours if is_write(m) or is_read(m) or m in TRAINER or m in ("pipeline", "cli")}
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(TRAINER))
def test_the_trainer_side_imports_only_the_standard_library(module: str) -> None:
    ours, others = imports(module)
    assert ours <= STDLIB_ONLY, f"{module} imports {sorted(ours - STDLIB_ONLY)}"
    assert others <= set(sys.stdlib_module_names), f"{module} imports {sorted(others - set(sys.stdlib_module_names))}"


@pytest.mark.parametrize("module", sorted(STDLIB_ONLY))
def test_the_modules_the_trainer_side_uses_are_standard_library_only(module: str) -> None:
    ours, others = imports(module)
    assert ours <= STDLIB_ONLY
    assert others <= set(sys.stdlib_module_names)
