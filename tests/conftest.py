"""Shared fixtures: `fw`, a workspace with its own warehouse file and helpers to plan in it."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping, Sequence

import pytest

# The SQL unit tests: each case of tests/sql/*.yaml is a pytest item (see docs/SQL_TESTS.md).
pytest_plugins = ["foxwarehouse.pytest_plugin"]

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import (  # noqa: E402
    SIMPLE_CONFIG,
    CliResult,
    Plan,
    plan_in,
    run_cli,
    write_candidates,
    write_config,
)


class Workspace:
    """A temp folder with one warehouse; `plan()` runs `foxwarehouse plan` into it."""

    def __init__(self, root: Path, capsys: Any):
        self.root = root
        self.capsys = capsys
        self.db = root / "warehouse.duckdb"
        self._n = 0

    def path(self, name: str) -> Path:
        return self.root / name

    def candidates(self, rows: Sequence[Mapping[str, Any]], name: str = "candidates.parquet",
                   columns: Sequence[str] | None = None) -> Path:
        return write_candidates(self.root / name, rows, columns)

    def config(self, config: Mapping[str, Any] | None = None, name: str | None = None) -> Path:
        self._n += 1
        return write_config(self.root / (name or f"config_{self._n}.yaml"), config if config is not None else SIMPLE_CONFIG)

    def cli(self, *args: Any) -> CliResult:
        return run_cli(args, self.capsys)

    def plan(self, metrics: Sequence[Mapping[str, Any]] | Path, config: Mapping[str, Any] | Path | None = None,
             out: str = "out", extra: Sequence[str] = (), expect: int = 0) -> Plan:
        """Plan `metrics` (rows, written as parquet, or a path) with `config` (SIMPLE_CONFIG by default)."""
        return plan_in(self.root, metrics, config, out=out, extra=extra, expect=expect, db=self.db, capsys=self.capsys)


@pytest.fixture(scope="session", autouse=True)
def test_pass_cache(tmp_path_factory: Any):
    """The test gate's per-machine record of passing SQL tests, private to this session: the first
    plan of the session runs the packaged SQL tests, the others find the pass (see foxwarehouse.gate)."""
    import os

    saved = os.environ.get("FOXWAREHOUSE_CACHE_DIR")
    os.environ["FOXWAREHOUSE_CACHE_DIR"] = str(tmp_path_factory.mktemp("foxwarehouse_cache"))
    yield
    if saved is None:
        os.environ.pop("FOXWAREHOUSE_CACHE_DIR", None)
    else:
        os.environ["FOXWAREHOUSE_CACHE_DIR"] = saved


@pytest.fixture
def fw(tmp_path: Path, capsys: Any) -> Workspace:
    return Workspace(tmp_path, capsys)


@pytest.fixture(scope="module")
def shared_plan(tmp_path_factory: Any):
    """shared_plan(name, rows, config=None, extra=()) plans once per module and name.

    Rule tests put one target or symbol per case into a single plan and assert per case, so a
    table of cases costs one pipeline run."""
    cache: dict[str, Plan] = {}

    def get(name: str, rows: Sequence[Mapping[str, Any]], config: Mapping[str, Any] | None = None,
            extra: Sequence[str] = ()) -> Plan:
        if name not in cache:
            cache[name] = plan_in(tmp_path_factory.mktemp(name), rows, config, extra=extra)
        return cache[name]
    return get
