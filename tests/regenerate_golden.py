"""Rewrite examples/expected/: the golden plan of the bundled example metrics.

    python tests/regenerate_golden.py

Plans examples/routing_candidates/ with the packaged default config (what `foxwarehouse demo`
does) in a throw-away folder and stores master_training_plan.json and routing_plan.json with
`metadata.run_id`, `metadata.generated_at` and `metadata.models_fingerprint` replaced by the
placeholders "<run_id>", "<generated_at>" and "<models_fingerprint>". tests/e2e/test_golden.py compares fresh plans of both input shapes against these
files byte for byte, so run this after an intended change to the models, the config or the
examples, and review the diff of examples/expected/ like any other change.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from helpers import EXAMPLES, run_cli  # noqa: E402

EXPECTED = EXAMPLES / "expected"
REGENERATE = "python tests/regenerate_golden.py"
# The plan files kept as golden copies, by their path under an export folder.
GOLDEN_FILES: dict[str, str] = {
    "master_training_plan.json": "training_plan/master_training_plan.json",
    "routing_plan.json": "routing_plan/routing_plan.json",
}
# The bundled examples hold the same metrics in both input shapes.
SHAPES: dict[str, Path] = {
    "routing_candidates": EXAMPLES / "routing_candidates" / "routing_candidates.parquet",
    "raw_metrics": EXAMPLES / "raw_metrics",
}
# models_fingerprint names the version of the packaged models: a change to a model that leaves the
# plan as it was is not a change of the golden plan (tests/e2e/test_model_versions.py covers it).
PLACEHOLDERS: dict[str, str] = {"run_id": "<run_id>", "generated_at": "<generated_at>",
                                "models_fingerprint": "<models_fingerprint>"}


def normalize(text: str) -> str:
    """The file text with this run's id and time replaced by the fixed placeholders.

    Replaces the JSON-quoted values as text (not by re-dumping) so everything else stays byte
    for byte what the exporter wrote."""
    metadata = json.loads(text)["metadata"]
    for key, placeholder in PLACEHOLDERS.items():
        if key in metadata:
            text = text.replace(json.dumps(metadata[key]), json.dumps(placeholder))
    return text


def plan_examples(shape: str, workdir: Path) -> dict[str, str]:
    """Plan one shape of the examples in `workdir` (its own warehouse and output folder) and return
    the golden files' normalized texts by golden name."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    out = workdir / "METRICS"
    previous = Path.cwd()
    saved_git_dir = os.environ.get("GIT_DIR")
    # The packaged default config is used when ./config/routing_config.yaml is absent, as in
    # `foxwarehouse demo` on a fresh machine; and metadata.git_commit records the HEAD of the
    # current folder when it is a git checkout, so point git at nothing to keep it null.
    os.chdir(workdir)
    os.environ["GIT_DIR"] = str(workdir / "no-git")
    try:
        result = run_cli(["plan", "--metrics", SHAPES[shape], "--db", workdir / "foxwarehouse.duckdb", "--out", out])
    finally:
        os.chdir(previous)
        if saved_git_dir is None:
            os.environ.pop("GIT_DIR", None)
        else:
            os.environ["GIT_DIR"] = saved_git_dir
    if result.code != 0:
        raise RuntimeError(f"planning {SHAPES[shape]} failed: {result!r}")
    return {name: normalize((out / rel).read_bytes().decode("utf-8")) for name, rel in GOLDEN_FILES.items()}


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="foxwarehouse-golden-") as tmp:
        files = plan_examples("routing_candidates", Path(tmp))
    EXPECTED.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        # newline="" keeps the exporter's line endings exactly.
        with open(EXPECTED / name, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        print(f"wrote {(EXPECTED / name).relative_to(EXAMPLES.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
