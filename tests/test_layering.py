"""The layers of foxwarehouse (docs/ARCHITECTURE.md, "Layers"), checked on the imports of every module.

Every import counts: module level, inside functions and under TYPE_CHECKING.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "foxwarehouse"

CORE = {"errors", "config", "project", "models", "render", "warehouse", "engine", "context"}
WRITE = {"ingest", "build", "audits", "export", "publish"}
READ_PREFIXES = ("diff", "sqltest")
READ = {"analyst", "explain", "lineage", "catalog", "report", "feed"}
TRAINER = {"consumer", "plan_schema"}
# foxwarehouse modules that themselves import only the standard library, so the trainer side may use them
STDLIB_ONLY = {"errors", "vocabulary", "plan_schema"}


def is_read(module: str) -> bool:
    return module in READ or module.startswith(READ_PREFIXES)


def modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__")


def imports(module: str) -> tuple[set[str], set[str]]:
    """(foxwarehouse modules, other top-level packages) that `module` imports anywhere."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    ours: set[str] = set()
    others: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top, _, rest = alias.name.partition(".")
                if top == "foxwarehouse":
                    ours.add(rest.split(".")[0] if rest else "__init__")
                else:
                    others.add(top)
        elif isinstance(node, ast.ImportFrom):
            name = node.module or ""
            if node.level == 0 and not name.startswith("foxwarehouse"):
                others.add(name.split(".")[0])
                continue
            inner = name.removeprefix("foxwarehouse").lstrip(".") if node.level == 0 else name
            if inner:
                ours.add(inner.split(".")[0])
            else:  # from . import a, b
                ours.update(alias.name for alias in node.names)
    return ours, others - {"__future__"}


def test_the_layers_name_existing_modules() -> None:
    present = set(modules())
    assert CORE | WRITE | READ | TRAINER <= present
    assert any(m.startswith("diff") for m in present) and any(m.startswith("sqltest") for m in present)


@pytest.mark.parametrize("module", sorted(WRITE))
def test_the_write_side_imports_nothing_from_the_read_side(module: str) -> None:
    ours, _ = imports(module)
    assert not {m for m in ours if is_read(m)}, f"{module} imports the read side"


@pytest.mark.parametrize("module", sorted(CORE))
def test_the_core_imports_neither_side(module: str) -> None:
    ours, _ = imports(module)
    bad = {m for m in ours if m in WRITE or is_read(m) or m in TRAINER or m in ("pipeline", "cli")}
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
