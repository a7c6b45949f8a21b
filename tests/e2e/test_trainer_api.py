"""The trainer-side API covers both training types: a loop written from the README trains exactly
the plan's jobs, never only the targets that happen to have a cross-sectional job."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from foxwarehouse.cli import main
from foxwarehouse.consumer import TrainingPlan, load_plan
from foxwarehouse.project import bundled_dir

README = Path(__file__).resolve().parents[2] / "README.md"
EXAMPLE_CANDIDATES = bundled_dir("examples") / "routing_candidates" / "routing_candidates.parquet"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: Any) -> tuple[Path, dict[str, Any], list[str], list[str]]:
    """The bundled examples planned into ROOT/METRICS: (root, master plan, all targets, all symbols)."""
    root = tmp_path_factory.mktemp("trainer_api")
    code = main(["plan", "--metrics", str(EXAMPLE_CANDIDATES), "--db", str(root / "w.duckdb"),
                 "--out", str(root / "METRICS")])
    assert code == 0
    master = json.loads((root / "METRICS" / "training_plan" / "master_training_plan.json").read_text())
    rows = pq.read_table(EXAMPLE_CANDIDATES, columns=["target", "symbol"]).to_pylist()
    targets = list(dict.fromkeys(r["target"] for r in rows))
    symbols = sorted({r["symbol"] for r in rows if r["symbol"]})
    return root, master, targets, symbols


def planned(master: dict[str, Any]) -> dict[tuple[str, str | None], list[str]]:
    return {(j["target"], j["symbol"]): j["model_families"] for j in master["jobs"] if j["training_type"] != "blocked"}


def readme_trainer_snippet() -> str:
    """The first python code block of the README's "Trainer side" section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Trainer side", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks, "no python code block in the README's Trainer side section"
    return blocks[0]


def test_the_demo_plan_has_symbol_jobs_for_targets_without_a_cs_job(demo):
    _, master, _, _ = demo
    jobs = planned(master)
    cs_targets = {t for t, s in jobs if s is None}
    assert (len(jobs), len(cs_targets)) == (52, 3)
    assert any(s is not None and t not in cs_targets for t, s in jobs)   # what the old snippet skipped


def test_the_readme_trainer_snippet_trains_exactly_the_planned_jobs(demo, monkeypatch):
    root, master, targets, symbols = demo
    monkeypatch.chdir(root)
    trained: list[tuple[str, str | None, list[str]]] = []
    namespace = {
        "all_targets": targets, "symbols": symbols, "default_families": ["lightgbm"],
        "train": lambda target, symbol, families: trained.append((target, symbol, list(families))),
    }
    # A job is visited when the snippet asks for its model families.
    visited: list[tuple[str, str | None]] = []
    families_of = TrainingPlan.model_families

    def recording(self: TrainingPlan, target: str, symbol: str | None = None) -> list[str]:
        visited.append((target, symbol))
        return families_of(self, target, symbol)

    monkeypatch.setattr(TrainingPlan, "model_families", recording)
    exec(compile(readme_trainer_snippet(), "README.md (Trainer side)", "exec"), namespace)
    assert len(visited) == len(set(visited)) == 52
    assert set(visited) == set(planned(master))
    assert {(t, s): f for t, s, f in trained} == planned(master)


def test_targets_to_train_keeps_targets_with_any_job_in_the_given_order(demo):
    root, master, targets, _ = demo
    plan = load_plan(root / "METRICS" / "training_plan")
    wanted = {t for t, _ in planned(master)}
    given = list(reversed(targets)) + ["not_in_plan", targets[0]]
    assert plan.targets_to_train(given) == [t for t in reversed(targets) if t in wanted]
    assert len(plan.targets_to_train(targets)) > len(plan.filter_targets(targets))   # CS-only filter is narrower


def test_targets_to_train_without_targets_lists_the_plan_s_own(demo):
    root, master, _, _ = demo
    plan = load_plan(root / "METRICS" / "training_plan")
    assert plan.targets_to_train() == list(dict.fromkeys(t for t, _ in planned(master)))


def test_pairs_to_train_lists_every_job_once_cs_first_in_the_given_order(demo):
    root, master, targets, symbols = demo
    plan = load_plan(root / "METRICS" / "training_plan")
    pairs = plan.pairs_to_train(targets, symbols)
    assert set(pairs) == set(planned(master)) and len(pairs) == len(set(pairs)) == 52
    expected = []
    for target in targets:
        if (target, None) in planned(master):
            expected.append((target, None))
        expected += [(target, s) for s in symbols if (target, s) in planned(master)]
    assert pairs == expected
    assert plan.pairs_to_train(targets, symbols) == pairs   # deterministic


def test_pairs_to_train_takes_symbols_per_target(demo):
    root, master, targets, symbols = demo
    plan = load_plan(root / "METRICS" / "training_plan")
    first = targets[0]
    per_target = {first: list(reversed(symbols))}
    pairs = plan.pairs_to_train([first], per_target)
    assert pairs == [(t, s) for t, s in [(first, None)] + [(first, s) for s in reversed(symbols)]
                     if (t, s) in planned(master)]
    assert plan.pairs_to_train(targets, {}) == [(t, None) for t in targets if (t, None) in planned(master)]


def test_blocked_jobs_are_not_pairs_to_train():
    doc = {"jobs": [
        {"target": "t", "symbol": None, "training_type": "cross_sectional"},
        {"target": "t", "symbol": "A", "training_type": "blocked"},
        {"target": "u", "symbol": "B", "training_type": "blocked"},
    ]}
    plan = TrainingPlan(doc, validate=False)
    assert plan.pairs_to_train(["t", "u"], ["A", "B"]) == [("t", None)]
    assert plan.targets_to_train(["u", "t"]) == ["t"]


def test_an_allow_all_plan_trains_everything_it_is_given(tmp_path):
    plan = load_plan(tmp_path / "missing")
    assert plan.is_allow_all
    assert plan.targets_to_train(["b", "a", "b"]) == ["b", "a"]
    assert plan.pairs_to_train(["b", "a"], ["X", "Y"]) == [
        ("b", None), ("b", "X"), ("b", "Y"), ("a", None), ("a", "X"), ("a", "Y")]
    with pytest.raises(ValueError, match="allow-all"):
        plan.targets_to_train()


def test_a_single_string_is_not_taken_for_a_list_of_names(demo):
    root, _, targets, _ = demo
    plan = load_plan(root / "METRICS" / "training_plan")
    with pytest.raises(TypeError):
        plan.targets_to_train(targets[0])
    with pytest.raises(TypeError):
        plan.pairs_to_train(targets, "AAPL")
