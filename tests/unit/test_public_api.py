"""The library's front door: real signatures, visible names, and a trainer import that stays light."""
from __future__ import annotations

import inspect
import subprocess
import sys

import foxwarehouse


def test_public_names_are_visible_to_dir_and_all() -> None:
    for name in ("plan", "open", "load_plan", "PlanResult", "__version__"):
        assert name in dir(foxwarehouse), name
        assert name in foxwarehouse.__all__, name
    from foxwarehouse.pipeline import PlanResult

    assert foxwarehouse.PlanResult is PlanResult


def test_entry_points_have_real_signatures() -> None:
    plan = inspect.signature(foxwarehouse.plan)
    assert list(plan.parameters)[:4] == ["metrics", "config", "db", "out"]
    assert {"non_blocking", "wait", "include_blocked", "project_dir"} <= set(plan.parameters)
    assert list(inspect.signature(foxwarehouse.load_plan).parameters) == ["path"]
    assert list(inspect.signature(foxwarehouse.open).parameters) == ["db", "wait", "project_dir"]
    assert "pipeline in one call" in (foxwarehouse.plan.__doc__ or "")


def test_front_door_matches_the_pipeline_signature() -> None:
    from foxwarehouse.pipeline import plan

    assert list(inspect.signature(plan).parameters) == list(inspect.signature(foxwarehouse.plan).parameters)


def test_importing_the_consumer_loads_no_heavy_dependency() -> None:
    code = ("import sys, foxwarehouse, foxwarehouse.consumer; "
            "heavy = [m for m in ('duckdb', 'yaml', 'pyarrow', 'jinja2', 'sqlglot') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_an_unknown_attribute_is_an_attribute_error() -> None:
    try:
        foxwarehouse.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
