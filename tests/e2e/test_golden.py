"""The plan of the bundled examples is pinned: examples/expected/ holds the golden
master_training_plan.json and routing_plan.json (run id and time replaced by placeholders).

Any change to a model, a macro, the default config, the exporter or the examples that moves a
single byte of the plan shows up here as a diff, so it is a decision someone reviews, not an
accident. Both input shapes of the examples hold the same metrics and must give the same plan.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path

import pytest

from regenerate_golden import EXPECTED, GOLDEN_FILES, REGENERATE, SHAPES, plan_examples

DIFF_LINES = 40


def short_diff(expected: str, actual: str, name: str) -> str:
    lines = list(difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                      fromfile=f"examples/expected/{name}", tofile=f"fresh plan/{name}"))
    shown = "".join(lines[:DIFF_LINES])
    if len(lines) > DIFF_LINES:
        shown += f"... ({len(lines) - DIFF_LINES} more diff lines)\n"
    return shown


@pytest.fixture(scope="module")
def golden() -> dict[str, str]:
    missing = [name for name in GOLDEN_FILES if not (EXPECTED / name).is_file()]
    assert not missing, f"golden files missing in examples/expected/: {missing}; create them with `{REGENERATE}`"
    return {name: (EXPECTED / name).read_bytes().decode("utf-8") for name in GOLDEN_FILES}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_examples_plan_matches_golden(shape: str, golden: dict[str, str], tmp_path: Path) -> None:
    fresh = plan_examples(shape, tmp_path)
    if shape == "raw_metrics":
        # metadata.input_fingerprint hashes the input files themselves, so it differs between the
        # two shapes by design; every other byte (plan_fingerprint included) must agree.
        ours = json.loads(fresh["master_training_plan.json"])["metadata"]["input_fingerprint"]
        theirs = json.loads(golden["master_training_plan.json"])["metadata"]["input_fingerprint"]
        fresh = {name: text.replace(json.dumps(ours), json.dumps(theirs)) for name, text in fresh.items()}
    for name in GOLDEN_FILES:
        assert fresh[name] == golden[name], (
            f"the plan of examples/{shape}/ differs from examples/expected/{name}.\n"
            f"If the change is intended, regenerate with `{REGENERATE}` and review the diff of "
            f"examples/expected/.\n" + short_diff(golden[name], fresh[name], name)
        )


def test_golden_files_hold_placeholders_only(golden: dict[str, str]) -> None:
    """The golden copies carry no run id or time of the run that wrote them."""
    for name, text in golden.items():
        metadata = json.loads(text)["metadata"]
        assert (metadata["run_id"], metadata["generated_at"]) == ("<run_id>", "<generated_at>"), name
