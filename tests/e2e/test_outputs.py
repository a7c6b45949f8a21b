"""The files an export writes, their shapes, the YAML/Markdown mirrors, strict JSON,
derived views with hostile names, the CSV fallback without pyarrow, and determinism."""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from typing import Any

import duckdb
import pytest
import yaml

from foxwarehouse.config import config_hash, load_config
from helpers import ROOT, config_with, plan_in, run_cli, strict_json_load, visible_files, write_candidates, write_config


def row(target: str, symbol: str | None, score: Any, sample_size: int = 10_000, **extra: Any) -> dict[str, Any]:
    return {"target": target, "symbol": symbol, "score": score, "sample_size": sample_size,
            "stability": "STABLE", "leakage_status": "SAFE", **extra}


# A small plan with every route (SIMPLE_CONFIG), plus NaN/inf metrics that must never reach JSON.
ROWS = [
    row("fwd_ret_15m", None, 0.8, mean_overlap=math.nan, std_tau=math.nan),
    row("fwd_ret_15m", "AAPL", 0.8, score_ci_low=-math.inf, score_ci_high=math.nan),
    row("fwd_ret_15m", "MSFT", 0.1),
    row("will_peak_4h", "AAPL", 0.6, task_type="BINARY_CLASSIFICATION"),
    row("will_peak_4h", "NVDA", 0.4, stability="DRIFTING", failed_model_families=["xgboost"]),
    row("will_peak_4h", "TSLA", math.nan),
]


@pytest.fixture
def plan(shared_plan):
    return shared_plan("outputs", ROWS)


def test_every_file_of_spec_6_is_written(plan):
    files = set(visible_files(plan.out))
    assert {
        "routing_candidates.parquet",
        "routing_plan/routing_plan.json", "routing_plan/routing_plan.yaml", "routing_plan/routing_plan.md",
        "training_plan/master_training_plan.json",
        "training_plan/training_plan.json", "training_plan/training_plan.yaml", "training_plan/training_plan.md",
    } <= files
    for view in ("by_target", "by_symbol", "by_route", "by_type"):
        assert f"training_plan/{view}/index.json" in files
    assert not any(name.endswith(".tmp") or "/.tmp-" in name or name.startswith(".tmp") for name in files)
    assert "routing_candidates.csv" not in files


@pytest.mark.parametrize("formats, views", [(["JSON"], False), (["MARKDOWN"], True), (["yaml"], False)])
def test_dump_plan_as_and_derived_views_choose_the_optional_files(shared_plan, formats, views):
    config = config_with(**{"routing.dump_plan_as": formats, "training_plan.derived_views": views})
    files = set(visible_files(shared_plan(f"formats_{'_'.join(formats)}", ROWS, config).out))
    wants = {fmt.upper() for fmt in formats}
    for folder, stem in (("routing_plan", "routing_plan"), ("training_plan", "training_plan")):
        assert f"{folder}/{stem}.json" in files  # JSON files are always written
        assert (f"{folder}/{stem}.yaml" in files) == ("YAML" in wants)
        assert (f"{folder}/{stem}.md" in files) == ("MARKDOWN" in wants)
    assert "training_plan/master_training_plan.json" in files
    assert any(f.startswith("training_plan/by_target/") for f in files) == views


def test_routing_plan_json_shape(plan):
    doc = plan.routing
    assert set(doc) == {"metadata", "targets"}
    assert set(doc["targets"]) == {"fwd_ret_15m", "will_peak_4h"}
    for target, entry in doc["targets"].items():
        assert set(entry) == {"cross_sectional", "symbols"}
        cs = entry["cross_sectional"]
        assert {"state", "route", "reason"} <= set(cs)
        assert cs["state"] in ("STRONG", "WEAK_BUT_OK", "EXPERIMENTAL", "DISALLOWED")
        assert cs["route"] in ("ENABLED", "DISABLED") and isinstance(cs["reason"], str)
        for symbol, decision in entry["symbols"].items():
            assert {"route", "cs_state", "local_state", "reason"} <= set(decision)
            assert isinstance(decision["reason"], list) and all(isinstance(r, str) for r in decision["reason"])
    assert doc["targets"]["fwd_ret_15m"]["cross_sectional"]["route"] == "ENABLED"
    assert doc["targets"]["will_peak_4h"]["cross_sectional"]["route"] == "DISABLED"
    assert set(doc["targets"]["will_peak_4h"]["symbols"]) == {"AAPL", "NVDA", "TSLA"}
    assert doc["metadata"]["run_id"] == plan.master["metadata"]["run_id"]


def test_master_training_plan_shape(plan, shared_plan):
    master = plan.master
    assert set(master) == {"metadata", "jobs", "summary"}
    meta = master["metadata"]
    assert {"schema_version", "run_id", "generated_at", "git_commit", "config_hash", "input_fingerprint",
            "plan_fingerprint", "metrics_snapshot", "routing_plan_path", "total_jobs", "model_families"} <= set(meta)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", meta["generated_at"])
    for key in ("config_hash", "input_fingerprint", "plan_fingerprint"):
        assert re.fullmatch(r"[0-9a-f]{64}", meta[key]), key
    config_file = next(plan.out.parent.glob("config_*.yaml"))
    assert meta["config_hash"] == config_hash(load_config(config_file))
    assert meta["metrics_snapshot"] == "routing_candidates.parquet"
    assert (plan.out / meta["metrics_snapshot"]).is_file()
    assert (plan.out / meta["routing_plan_path"]).is_file()
    assert meta["total_jobs"] == len(master["jobs"]) > 0
    assert meta["model_families"] == ["lightgbm", "xgboost"]
    for job in master["jobs"]:
        assert {"job_id", "target", "symbol", "route", "training_type", "model_families", "priority",
                "estimated_samples", "reason", "metadata"} <= set(job)
    assert {"by_route", "by_type", "by_priority", "total_cs_jobs", "total_symbol_jobs", "total_blocked",
            "skipped_no_families"} <= set(master["summary"])


def test_metrics_snapshot_holds_the_routing_candidates(plan):
    con = duckdb.connect()
    rows = con.execute("SELECT target, symbol, score FROM read_parquet(?) ORDER BY target, symbol NULLS FIRST",
                       [str(plan.out / "routing_candidates.parquet")]).fetchall()
    assert sorted((t, s or "") for t, s, _ in rows) == sorted((r["target"], r["symbol"] or "") for r in ROWS)
    scores = {(t, s): score for t, s, score in rows}
    assert scores[("will_peak_4h", "TSLA")] is None  # NaN is a missing score
    assert scores[("fwd_ret_15m", "AAPL")] == 0.8


def test_training_plan_json_is_the_master_byte_for_byte(plan):
    folder = plan.out / "training_plan"
    assert (folder / "training_plan.json").read_bytes() == (folder / "master_training_plan.json").read_bytes()
    # not a second copy of the bytes: a hard link where the file system allows one
    assert (folder / "training_plan.json").samefile(folder / "master_training_plan.json")


def test_training_plan_json_is_a_copy_where_hard_links_fail(tmp_path, monkeypatch):
    import foxwarehouse.export.writer as writer

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(writer.os, "link", refuse)
    folder = plan_in(tmp_path, ROWS).out / "training_plan"
    assert (folder / "training_plan.json").read_bytes() == (folder / "master_training_plan.json").read_bytes()
    assert not (folder / "training_plan.json").samefile(folder / "master_training_plan.json")


def test_routing_plan_symbols_name_the_cs_reason_instead_of_repeating_it(plan):
    from foxwarehouse.export.writer import CS_REASON_REF

    text = (plan.out / "routing_plan" / "routing_plan.json").read_text(encoding="utf-8")
    for target, entry in plan.routing["targets"].items():
        cs_reason = entry["cross_sectional"]["reason"]
        assert text.count(json.dumps(cs_reason)) == 1, target     # written once, in the CS entry
        for symbol, decision in entry["symbols"].items():
            assert decision["reason"][0] == CS_REASON_REF, (target, symbol)
            full = [cs_reason if r == CS_REASON_REF else r for r in decision["reason"]]
            assert full[0].startswith("cs: ") and full[1].startswith("symbol: ") and full[2].startswith("route: ")


def test_files_written_in_parts_or_by_duckdb_are_the_same_files(shared_plan, tmp_path, monkeypatch):
    import foxwarehouse.export.export_views as export_views
    import foxwarehouse.export.writer as writer

    plan = shared_plan("large", [row(f"target_{t:02d}", f"SYM{s:04d}", 0.6) for t in range(12) for s in range(500)])
    monkeypatch.setattr(writer, "ROUTING_PART_ROWS", 700)     # 12 targets of 500 pairs: 12 parts
    monkeypatch.setattr(export_views, "CHUNK_ROWS", 600)      # views by route and type: large groups
    db = plan.out.parent / "warehouse.duckdb"
    assert run_cli(["export", "--db", db, "--out", tmp_path / "out"]).code == 0
    for name in ("routing_plan.json", "routing_plan.yaml"):
        whole, parts = ((root / "routing_plan" / name).read_text(encoding="utf-8").split("\n")
                        for root in (plan.out, tmp_path / "out"))
        assert [line for line in whole if "generated_at" not in line] == \
            [line for line in parts if "generated_at" not in line], name
    assert yaml.safe_load((tmp_path / "out" / "routing_plan" / "routing_plan.yaml").read_text(encoding="utf-8")) == \
        strict_json_load(tmp_path / "out" / "routing_plan" / "routing_plan.json")
    views = [p.relative_to(plan.out) for p in sorted((plan.out / "training_plan").rglob("by_*/*.json"))]
    assert len(views) > 6000 // 500
    for rel in views:
        assert (tmp_path / "out" / rel).read_bytes() == (plan.out / rel).read_bytes(), rel


def test_every_json_file_is_strict_rfc_8259(plan):
    paths = sorted(plan.out.rglob("*.json"))
    assert len(paths) > 8
    for path in paths:
        strict_json_load(path)  # raises on NaN / Infinity
        assert "NaN" not in path.read_text(encoding="utf-8")


# Names and numbers that trip naive JSON-as-YAML: exponents without a dot, huge and tiny doubles,
# quotes, backslashes, non-ASCII, a DEL character.
TRICKY_CONFIG = config_with(**{"routing.symbol.min_score": 0.0, "routing.symbol.strong_score": 1.0,
                               "routing.min_sample_size.symbol": 0})
TRICKY_ROWS = [
    row("t_1e-7", "s1", 1e-7), row("t_1e-7", "s2", 1e21), row("t_1e-7", "s3", 5e-324), row("t_1e-7", "s4", 0.1),
    row("t_1e-7", "s5", 1.5e-12), row('q"uo\\te', "é😀", 0.5), row("naïve", "del\x7f", 0.5), row("yes", "no", 0.5),
    row("null", "~", 0.5), row("1e3", "0x1F", 0.5),
]


def test_yaml_mirrors_parse_to_the_same_data_as_the_json(shared_plan):
    plan = shared_plan("tricky", TRICKY_ROWS, TRICKY_CONFIG)
    folder = plan.out / "training_plan"
    master = strict_json_load(folder / "master_training_plan.json")
    assert yaml.safe_load((folder / "training_plan.yaml").read_text(encoding="utf-8")) == master
    routing = strict_json_load(plan.out / "routing_plan" / "routing_plan.json")
    assert yaml.safe_load((plan.out / "routing_plan" / "routing_plan.yaml").read_text(encoding="utf-8")) == routing
    scores = {j["symbol"]: j["metadata"]["score"] for j in master["jobs"] if j["target"] == "t_1e-7"}
    assert scores == {"s1": 1e-7, "s2": 1e21, "s3": 5e-324, "s4": 0.1, "s5": 1.5e-12}


def test_markdown_reports_stay_small_for_large_plans(shared_plan):
    rows = [row(f"target_{t:02d}", f"SYM{s:04d}", 0.6) for t in range(12) for s in range(500)]
    plan = shared_plan("large", rows)
    assert plan.master["metadata"]["total_jobs"] == 6000
    for path in (plan.out / "training_plan" / "training_plan.md", plan.out / "routing_plan" / "routing_plan.md"):
        text = path.read_text(encoding="utf-8")
        assert len(text.splitlines()) < 200 and len(text) < 40_000, path
        assert text.startswith("#")
    assert "6000" in (plan.out / "training_plan" / "training_plan.md").read_text(encoding="utf-8")


# --- derived views ------------------------------------------------------------------------------

HOSTILE_TARGETS = ["../x", "a/b", "index", "INDEX", "ünï", ".hidden", "..", "~t", "a\\b", "%41", "A", "t" * 300,
                   "index.json", "CON"]
HOSTILE_SYMBOLS = ["../../etc/passwd", "a b", "/", "x/..", "💥", "."]


def test_derived_view_names_never_leave_their_folder(shared_plan):
    rows = [row(t, s, 0.6) for t in HOSTILE_TARGETS for s in HOSTILE_SYMBOLS]
    plan = shared_plan("hostile", rows)
    master = plan.master
    assert len(master["jobs"]) == len(rows)
    tp = plan.out / "training_plan"
    for view, key in (("by_target", "target"), ("by_symbol", "symbol"), ("by_route", "route"), ("by_type", "training_type")):
        folder = (tp / view).resolve()
        index = strict_json_load(folder / "index.json")
        entries = index["entries"]
        expected_names = {j[key] for j in master["jobs"] if j[key] is not None}
        assert set(entries) == expected_names, view
        files = {p.name for p in folder.iterdir()}
        assert files == {"index.json"} | {e["file"] for e in entries.values()}, view  # one file per name, no strays
        seen_jobs = []
        for name, entry in entries.items():
            file_name = entry["file"]
            assert "/" not in file_name and "\\" not in file_name and file_name not in (".", "..", "index.json")
            assert not file_name.startswith(".")
            path = folder / file_name
            assert path.resolve().parent == folder
            doc = strict_json_load(path)
            assert doc["name"] == name and doc["total_jobs"] == entry["jobs"] == len(doc["jobs"])
            assert all(j[key] == name for j in doc["jobs"])
            seen_jobs += doc["jobs"]
        assert sorted(j["job_id"] for j in seen_jobs) == sorted(j["job_id"] for j in master["jobs"]), view
    # nothing was written outside the export folder
    assert not (plan.out.parent / "x.json").exists() and not (plan.out / "x.json").exists()


def test_derived_view_files_hold_the_jobs_in_plan_order(plan):
    folder = plan.out / "training_plan" / "by_target"
    doc = strict_json_load(folder / strict_json_load(folder / "index.json")["entries"]["fwd_ret_15m"]["file"])
    assert doc["jobs"] == [j for j in plan.jobs if j["target"] == "fwd_ret_15m"]


# --- CSV fallback -------------------------------------------------------------------------------

NO_PYARROW = (
    "import sys; sys.modules['pyarrow'] = None; sys.modules['pyarrow.parquet'] = None\n"
    "from foxwarehouse.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_without_pyarrow_the_metrics_snapshot_is_csv(tmp_path, fw):
    metrics = write_candidates(tmp_path / "m.csv", ROWS)
    config = write_config(tmp_path / "c.yaml")
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-c", NO_PYARROW, "plan", "--metrics", str(metrics), "--config", str(config),
         "--db", str(tmp_path / "w.duckdb"), "--out", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (out / "routing_candidates.csv").is_file()
    assert not (out / "routing_candidates.parquet").exists()
    master = strict_json_load(out / "training_plan" / "master_training_plan.json")
    assert master["metadata"]["metrics_snapshot"] == "routing_candidates.csv"
    con = duckdb.connect()
    n = con.execute("SELECT count(*) FROM read_csv(?, header = true)", [str(out / "routing_candidates.csv")]).fetchone()[0]
    assert n == len(ROWS)
    # With pyarrow back, the next export is parquet again and the CSV is no longer shown.
    again = fw.plan(metrics, config, out="out")
    assert again.master["metadata"]["metrics_snapshot"] == "routing_candidates.parquet"
    assert (out / "routing_candidates.parquet").is_file() and not (out / "routing_candidates.csv").exists()


# --- determinism --------------------------------------------------------------------------------

def normalised(files: dict[str, bytes], run_id: str, generated_at: str) -> dict[str, bytes]:
    out = {}
    for name, data in files.items():
        if name.endswith((".json", ".yaml")):
            data = data.replace(run_id.encode(), b"<run_id>").replace(generated_at.encode(), b"<generated_at>")
        elif name.endswith(".md"):
            data = b"\n".join(line for line in data.split(b"\n") if b"run_id" not in line and b"generated_at" not in line)
        out[name] = data
    return out


def test_same_inputs_and_config_give_byte_identical_files_apart_from_run_id_and_generated_at(fw):
    # Besides the small sets above, 2000 symbol rows with many tied scores (every route, the
    # experimental cap breaking ties by symbol), enough rows for DuckDB to work in parallel.
    many = [row(f"bulk_{t}_{h}", f"S{i:04d}", [0.8, 0.6, 0.4, 0.35, None][i % 5],
                stability=["STABLE", "UNKNOWN", "DRIFTING"][i % 3], sample_size=500 + 37 * i)
            for t, h in enumerate(["15m", "2h", "1d", "x"]) for i in range(500)]
    many += [row(f"bulk_{t}_{h}", None, [0.8, 0.4, 0.1, 0.6][t]) for t, h in enumerate(["15m", "2h", "1d", "x"])]
    metrics = fw.candidates(ROWS + TRICKY_ROWS + many)
    config = config_with(**{"routing.experimental.max_fraction_symbols_per_target": 0.1,
                            "training_plan.include_blocked": True})
    first = fw.plan(metrics, config, out="first")
    second = fw.plan(metrics, config, out="second")
    m1, m2 = first.master["metadata"], second.master["metadata"]
    assert m1["run_id"] != m2["run_id"]
    files1, files2 = visible_files(first.out), visible_files(second.out)
    assert sorted(files1) == sorted(files2)
    assert len(files1) > 20
    n1 = normalised(files1, m1["run_id"], m1["generated_at"])
    n2 = normalised(files2, m2["run_id"], m2["generated_at"])
    for name in files1:
        assert n1[name] == n2[name], name
    # parsed: only metadata.run_id and metadata.generated_at differ
    for name in ("training_plan/master_training_plan.json", "routing_plan/routing_plan.json"):
        d1, d2 = json.loads(files1[name]), json.loads(files2[name])
        for d in (d1, d2):
            del d["metadata"]["run_id"], d["metadata"]["generated_at"]
        assert d1 == d2
    for name in ("training_plan/training_plan.yaml", "routing_plan/routing_plan.yaml"):
        d1, d2 = yaml.safe_load(files1[name]), yaml.safe_load(files2[name])
        for d in (d1, d2):
            del d["metadata"]["run_id"], d["metadata"]["generated_at"]
        assert d1 == d2


def test_an_export_is_published_as_real_folders_with_manifests(plan):
    # Real files and folders (a copy of them is a whole plan); staging lives in .foxwarehouse and is gone.
    for name in ("training_plan", "routing_plan", "routing_candidates.parquet"):
        assert not (plan.out / name).is_symlink() and (plan.out / name).exists(), name
    for name in ("training_plan", "routing_plan"):
        manifest = json.loads((plan.out / name / ".foxwarehouse-manifest.json").read_text())
        assert manifest["run_id"] == plan.master["metadata"]["run_id"]
        listed = {p.relative_to(plan.out / name).as_posix() for p in (plan.out / name).rglob("*")
                  if p.is_file() and p.name != ".foxwarehouse-manifest.json"}
        assert set(manifest["files"]) == listed
    state = plan.out / ".foxwarehouse"
    assert not [p for p in state.iterdir() if p.name.startswith("staging-")]
    assert not (plan.out / ".foxwarehouse-exports").exists()
