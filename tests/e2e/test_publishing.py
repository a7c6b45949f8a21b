"""Publishing an export folder: a plan a trainer can trust.

A published ``DIR/training_plan`` is a real folder, so the ordinary ways of copying it give a plan
that loads; a damaged or dangling plan raises PlanError instead of allowing everything; exports
into one folder take turns (a lock); the input file and files a user put into the output folder
are never overwritten or lost; a reader polling the plan while exports publish always sees one
complete plan.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from foxwarehouse.consumer import load_plan
from foxwarehouse.errors import PlanError
from foxwarehouse.export.export_record import FOLDER_MANIFEST, STATE_DIR
from helpers import (
    CANDIDATE_TYPES,
    SIMPLE_CONFIG,
    run_cli,
    tree_bytes,
    visible_files,
    write_candidates,
    write_config,
)
from reliability_helpers import check_complete_export, cli_subprocess

ROWS_A = [
    {"target": "ret_5m", "symbol": None, "score": 0.80, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "AAA", "score": 0.75, "sample_size": 2000, "stability": "STABLE"},
    {"target": "ret_1d", "symbol": None, "score": 0.55, "sample_size": 8000},
    {"target": "ret_1d", "symbol": "AAA", "score": 0.90, "sample_size": 3000, "stability": "STABLE"},
]
ROWS_B = [
    {"target": "ret_5m", "symbol": None, "score": 0.60, "sample_size": 10000},
    {"target": "ret_5m", "symbol": "CCC", "score": 0.95, "sample_size": 2000, "stability": "STABLE"},
    {"target": "vol_2h", "symbol": None, "score": 0.72, "sample_size": 6000},
    {"target": "vol_2h", "symbol": "DDD", "score": 0.71, "sample_size": 1500, "stability": "STABLE"},
    {"target": "vol_2h", "symbol": "EEE", "score": 0.91, "sample_size": 1500, "stability": "STABLE"},
]
IN_USE = "is in use by another export"


def job_ids(plan: Any) -> list[str]:
    return [job["job_id"] for job in plan.jobs()]


class Ws:
    """A temp folder with inputs A and B, a config and one warehouse."""

    def __init__(self, root: Path):
        self.root = root
        self.a = write_candidates(root / "a.parquet", ROWS_A)
        self.b = write_candidates(root / "b.parquet", ROWS_B)
        self.config = write_config(root / "config.yaml", SIMPLE_CONFIG)
        self.db = root / "w.duckdb"
        self.out = root / "out"

    def plan(self, metrics: Path, out: Path | None = None, db: Path | None = None, expect: int = 0,
             extra: tuple[str, ...] = ()) -> Any:
        result = run_cli(["plan", "--metrics", metrics, "--config", self.config, "--db", db or self.db,
                          "--out", out or self.out, *extra])
        assert result.code == expect, result
        assert "Traceback" not in result.err, result
        return result


@pytest.fixture
def ws(tmp_path: Path) -> Ws:
    return Ws(tmp_path)


def plan_files(out: Path) -> dict[str, bytes]:
    """The visible plan files (bookkeeping manifests left out)."""
    return {k: v for k, v in visible_files(out).items() if not k.endswith(FOLDER_MANIFEST)}


# --- copies of a published plan load -----------------------------------------------------------

def test_ordinary_copies_of_a_plan_load_the_same_jobs(ws: Ws, tmp_path: Path) -> None:
    ws.plan(ws.a)
    ws.plan(ws.b)   # a second export, so the folder has been replaced once
    original = job_ids(load_plan(ws.out / "training_plan"))
    assert original
    copies = tmp_path / "copies"
    copies.mkdir()
    subprocess.run(["cp", "-r", str(ws.out / "training_plan"), str(copies / "cp_folder")], check=True)
    (copies / "cp_glob").mkdir()
    subprocess.run(["sh", "-c", f'cp -r "{ws.out}"/* "{copies / "cp_glob"}"'], check=True)
    loaded = {
        "cp -r folder": copies / "cp_folder",
        "cp -r DIR/*": copies / "cp_glob" / "training_plan",
        "cp -r DIR/* (export folder)": copies / "cp_glob",
    }
    if shutil.which("rsync"):
        subprocess.run(["rsync", "-a", f"{ws.out}/", str(copies / "rsync_dir")], check=True)
        subprocess.run(["rsync", "-a", str(ws.out / "training_plan"), str(copies / "rsync_folder")], check=True)
        loaded["rsync -a DIR/"] = copies / "rsync_dir" / "training_plan"
        loaded["rsync -a folder"] = copies / "rsync_folder" / "training_plan"
    with tarfile.open(tmp_path / "plan.tar", "w") as tar:
        tar.add(ws.out / "training_plan", arcname="training_plan")
    with tarfile.open(tmp_path / "plan.tar") as tar:
        tar.extractall(copies / "tar", filter="tar") if hasattr(tarfile, "tar_filter") else tar.extractall(copies / "tar")
    loaded["tar"] = copies / "tar" / "training_plan"
    subprocess.run(["tar", "-cf", str(tmp_path / "dir.tar"), "-C", str(ws.out), "."], check=True)
    (copies / "tar_bin").mkdir()
    subprocess.run(["tar", "-xf", str(tmp_path / "dir.tar"), "-C", str(copies / "tar_bin")], check=True)
    loaded["tar DIR"] = copies / "tar_bin" / "training_plan"
    for how, path in loaded.items():
        plan = load_plan(path)
        assert not plan.is_allow_all, how
        assert job_ids(plan) == original, how


def test_published_entries_are_real_files_and_folders(ws: Ws) -> None:
    ws.plan(ws.a)
    ws.plan(ws.b)
    for name in ("training_plan", "routing_plan"):
        assert (ws.out / name).is_dir() and not (ws.out / name).is_symlink(), name
        assert (ws.out / name / FOLDER_MANIFEST).is_file()
    assert (ws.out / "routing_candidates.parquet").is_file()
    assert not (ws.out / "routing_candidates.parquet").is_symlink()
    assert {p.name for p in ws.out.iterdir()} == {STATE_DIR, "routing_candidates.parquet", "routing_plan",
                                                  "training_plan"}
    # No staging folder is left behind; deleting the bookkeeping does not damage the plan.
    assert not [p for p in (ws.out / STATE_DIR).iterdir() if p.name.startswith("staging-")]
    jobs = job_ids(load_plan(ws.out / "training_plan"))
    shutil.rmtree(ws.out / STATE_DIR)
    assert job_ids(load_plan(ws.out / "training_plan")) == jobs
    check_complete_export(ws.out)
    # Without its record the candidates file can no longer be told from a user's: the next export
    # names it instead of overwriting it; the plan folders carry their own manifests.
    result = ws.plan(ws.a, expect=2)
    assert "routing_candidates.parquet" in result.err
    (ws.out / "routing_candidates.parquet").unlink()
    ws.plan(ws.a)
    check_complete_export(ws.out)


# --- damaged plans never allow everything -----------------------------------------------------------

def _master(out: Path) -> Path:
    return out / "training_plan" / "master_training_plan.json"


def test_nothing_at_the_path_allows_everything_with_a_warning(tmp_path: Path, caplog: Any) -> None:
    with caplog.at_level(logging.WARNING, logger="foxwarehouse.consumer"):
        plan = load_plan(tmp_path / "no_such_plan")
    assert plan.is_allow_all
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_a_dangling_link_raises_and_says_how_to_copy(tmp_path: Path) -> None:
    link = tmp_path / "training_plan"
    link.symlink_to(tmp_path / ".foxwarehouse-exports" / "current" / "training_plan")
    with pytest.raises(PlanError) as caught:
        load_plan(link)
    assert "cp -rL" in str(caught.value) and str(link) in str(caught.value)
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    with pytest.raises(PlanError):
        load_plan(loop)
    # a link to a master file that is gone
    gone = tmp_path / "master_link.json"
    gone.symlink_to(tmp_path / "gone.json")
    with pytest.raises(PlanError):
        load_plan(gone)


def test_a_copy_of_a_legacy_layout_plan_raises(ws: Ws, tmp_path: Path) -> None:
    # What an older version left: DIR/training_plan -> .foxwarehouse-exports/current/training_plan.
    legacy = tmp_path / "legacy"
    store = legacy / ".foxwarehouse-exports" / "run1"
    ws.plan(ws.a)
    shutil.copytree(ws.out / "training_plan", store / "training_plan")
    (legacy / ".foxwarehouse-exports" / "current").symlink_to("run1")
    (legacy / "training_plan").symlink_to(os.path.join(".foxwarehouse-exports", "current", "training_plan"))
    assert not load_plan(legacy / "training_plan").is_allow_all
    dest = tmp_path / "dest"
    dest.mkdir()
    subprocess.run(["cp", "-r", str(legacy / "training_plan"), str(dest / "training_plan")], check=True)
    (dest / "glob").mkdir()
    subprocess.run(["sh", "-c", f'cp -r "{legacy}"/* "{dest / "glob"}"'], check=True)
    for path in (dest / "training_plan", dest / "glob" / "training_plan", dest / "glob"):
        with pytest.raises(PlanError) as caught:
            load_plan(path)
        assert "cp -rL" in str(caught.value), str(caught.value)
    shutil.rmtree(legacy / ".foxwarehouse-exports")   # the store deleted in place
    with pytest.raises(PlanError):
        load_plan(legacy / "training_plan")
    with pytest.raises(PlanError):
        load_plan(legacy)


def test_an_empty_folder_raises(tmp_path: Path) -> None:
    (tmp_path / "training_plan").mkdir()
    with pytest.raises(PlanError):
        load_plan(tmp_path / "training_plan")
    (tmp_path / "training_plan" / "notes.txt").write_text("x")
    with pytest.raises(PlanError):
        load_plan(tmp_path / "training_plan")


def test_a_folder_with_only_the_mirror_loads_it_with_a_warning(ws: Ws, tmp_path: Path, caplog: Any) -> None:
    ws.plan(ws.a)
    only = tmp_path / "only_mirror"
    only.mkdir()
    shutil.copyfile(ws.out / "training_plan" / "training_plan.json", only / "training_plan.json")
    with caplog.at_level(logging.WARNING, logger="foxwarehouse.consumer"):
        plan = load_plan(only)
    assert job_ids(plan) == job_ids(load_plan(ws.out / "training_plan"))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


@pytest.mark.parametrize("damage", ["truncated", "duplicate_jobs_key", "wrong_total_jobs", "empty_file"])
def test_a_damaged_master_raises(ws: Ws, damage: str) -> None:
    ws.plan(ws.a)
    master = _master(ws.out)
    text = master.read_text(encoding="utf-8")
    if damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "duplicate_jobs_key":
        # a second "jobs" key: json.loads would silently keep the last one (an empty job list)
        text = text.rstrip().removesuffix("}") + ',\n  "jobs": []\n}\n'
    elif damage == "wrong_total_jobs":
        doc = json.loads(text)
        doc["metadata"]["total_jobs"] += 1
        text = json.dumps(doc)
    else:
        text = ""
    master.write_text(text, encoding="utf-8")
    with pytest.raises(PlanError):
        load_plan(ws.out / "training_plan")
    with pytest.raises(PlanError):
        load_plan(master)


# --- the input file and user files are never lost -----------------------------------------------------

def _input_with_extra_column(path: Path) -> Path:
    rows = [dict(r, extra_note=f"note {i}") for i, r in enumerate(ROWS_A)]
    return write_candidates(path, rows, columns=[*CANDIDATE_TYPES, "extra_note"])


@pytest.mark.parametrize("given", ["folder", "file"])
def test_the_input_file_in_the_output_folder_stays_byte_identical(ws: Ws, given: str) -> None:
    metrics_dir = ws.root / "METRICS"
    source = _input_with_extra_column(metrics_dir / "routing_candidates.parquet")
    before = source.read_bytes()
    metrics = metrics_dir if given == "folder" else source
    for _ in range(2):
        ws.plan(metrics, out=metrics_dir)
        assert source.is_file() and not source.is_symlink()
        assert source.read_bytes() == before
        assert "extra_note" in pq.read_schema(source).names
        check_complete_export(metrics_dir)
    assert load_plan(metrics_dir / "training_plan").metadata["metrics_snapshot"] == "routing_candidates.parquet"


def test_a_foreign_candidates_file_in_the_output_folder_is_not_overwritten(ws: Ws) -> None:
    ws.out.mkdir()
    foreign = _input_with_extra_column(ws.out / "routing_candidates.parquet")
    before = foreign.read_bytes()
    result = ws.plan(ws.b, expect=2)
    assert "routing_candidates.parquet" in result.err and "not written by foxwarehouse" in result.err
    assert foreign.read_bytes() == before
    assert not (ws.out / "training_plan").exists()


def test_user_files_inside_a_published_folder_survive_the_next_export(ws: Ws) -> None:
    ws.plan(ws.a)
    (ws.out / "training_plan" / "notes.txt").write_text("mine\n")
    (ws.out / "training_plan" / "by_target" / "mine.txt").write_text("also mine\n")
    (ws.out / "routing_plan" / "review.md").write_text("reviewed\n")
    ws.plan(ws.b)
    ws.plan(ws.a)
    assert (ws.out / "training_plan" / "notes.txt").read_text() == "mine\n"
    assert (ws.out / "training_plan" / "by_target" / "mine.txt").read_text() == "also mine\n"
    assert (ws.out / "routing_plan" / "review.md").read_text() == "reviewed\n"
    assert not load_plan(ws.out / "training_plan").is_allow_all


def test_a_changed_plan_file_stops_the_export_and_is_named(ws: Ws) -> None:
    ws.plan(ws.a)
    view = ws.out / "training_plan" / "by_target" / "ret_5m.json"
    view.write_text('{"edited": true}\n')
    before = tree_bytes(ws.out)
    result = ws.plan(ws.b, expect=2)
    assert "training_plan/by_target/ret_5m.json" in result.err and "not written by foxwarehouse" in result.err
    after = tree_bytes(ws.out)
    assert {k: v for k, v in after.items() if not k.startswith(STATE_DIR)} == \
           {k: v for k, v in before.items() if not k.startswith(STATE_DIR)}


def test_a_foreign_training_plan_folder_stops_the_export(ws: Ws) -> None:
    # FoxML's own generator wrote DIR/training_plan/ (no foxwarehouse manifest).
    foxml = ws.out / "training_plan"
    foxml.mkdir(parents=True)
    (foxml / "master_training_plan.json").write_text('{"metadata": {}, "jobs": []}\n')
    (foxml / "notes.txt").write_text("keep me\n")
    before = tree_bytes(ws.out)
    result = ws.plan(ws.a, expect=2)
    assert "training_plan/master_training_plan.json" in result.err, result
    assert "not written by foxwarehouse" in result.err
    after = tree_bytes(ws.out)
    assert {k: v for k, v in after.items() if not k.startswith(STATE_DIR)} == before
    assert not (ws.out / "routing_plan").exists() and not (ws.out / "routing_candidates.parquet").exists()


def test_a_users_folder_without_a_clash_is_kept_inside_the_new_plan(ws: Ws) -> None:
    folder = ws.out / "training_plan"
    (folder / "extra").mkdir(parents=True)
    (folder / "README.txt").write_text("my notes\n")
    (folder / "extra" / "data.csv").write_text("a,b\n")
    ws.plan(ws.a)
    ws.plan(ws.b)
    assert (folder / "README.txt").read_text() == "my notes\n"
    assert (folder / "extra" / "data.csv").read_text() == "a,b\n"
    assert not load_plan(folder).is_allow_all
    assert not [p for p in (ws.out / STATE_DIR).iterdir() if p.name.startswith(("staging-", "kept-"))]


def test_a_regular_file_where_a_plan_folder_goes_stops_the_export(ws: Ws) -> None:
    ws.out.mkdir()
    (ws.out / "routing_plan").write_text("not a folder\n")
    result = ws.plan(ws.a, expect=2)
    assert "routing_plan" in result.err
    assert (ws.out / "routing_plan").read_text() == "not a folder\n"


def test_an_export_of_the_old_symlink_layout_is_migrated(ws: Ws, tmp_path: Path) -> None:
    # Build the layout an older version left, with a folder it had moved aside.
    ws.plan(ws.a, out=tmp_path / "donor")
    out = ws.out
    store = out / ".foxwarehouse-exports"
    export_dir = store / "run1-123"
    export_dir.mkdir(parents=True)
    for name in ("routing_candidates.parquet", "routing_plan", "training_plan"):
        source = tmp_path / "donor" / name
        if source.is_dir():
            shutil.copytree(source, export_dir / name, ignore=shutil.ignore_patterns(FOLDER_MANIFEST))
        else:
            shutil.copy2(source, export_dir / name)
        (out / name).symlink_to(os.path.join(".foxwarehouse-exports", "current", name))
    (store / "current").symlink_to("run1-123")
    (store / "replaced-training_plan").mkdir()
    (store / "replaced-training_plan" / "old.json").write_text("{}\n")
    ws.plan(ws.b)
    for name in ("routing_candidates.parquet", "routing_plan", "training_plan"):
        assert not (out / name).is_symlink(), name
    check_complete_export(out)
    assert sorted(p.name for p in store.iterdir()) == ["replaced-training_plan"]
    assert (store / "replaced-training_plan" / "old.json").read_text() == "{}\n"


# --- the exchange fallback --------------------------------------------------------------------------

def test_the_fallback_without_directory_exchange_gives_the_same_files(ws: Ws, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    ws.plan(ws.a, out=tmp_path / "normal_a")
    ws.plan(ws.b, out=tmp_path / "normal")
    monkeypatch.setenv("FOXWAREHOUSE_NO_EXCHANGE", "1")
    ws.plan(ws.a)
    (ws.out / "training_plan" / "notes.txt").write_text("mine\n")
    ws.plan(ws.b)
    check_complete_export(ws.out)

    def normalised(out: Path) -> dict[str, bytes]:
        files = plan_files(out)
        meta = json.loads(files["training_plan/master_training_plan.json"])["metadata"]
        result = {}
        for name, data in files.items():
            for old, new in ((meta["run_id"], "RUN"), (meta["generated_at"], "AT")):
                data = data.replace(old.encode(), new.encode()) if name.endswith((".json", ".yaml", ".md")) else data
            result[name] = data
        return result

    got = normalised(ws.out)
    assert got.pop("training_plan/notes.txt") == b"mine\n"
    assert got == normalised(tmp_path / "normal")   # files of A that B does not have are gone
    assert not [p for p in (ws.out / STATE_DIR).iterdir() if p.name.startswith(("staging-", "kept-"))]


# --- one export at a time ---------------------------------------------------------------------------------

def test_a_held_lock_gives_exit_2_in_use_or_waits(ws: Ws) -> None:
    ws.plan(ws.a)
    lock_path = ws.out / STATE_DIR / "lock"
    before = tree_bytes(ws.out / "training_plan")
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        result = ws.plan(ws.b, expect=2)
        assert IN_USE in result.err and str(ws.out) in result.err and "--wait" in result.err, result
        assert tree_bytes(ws.out / "training_plan") == before
        timer = threading.Timer(1.0, lambda: fcntl.flock(fh, fcntl.LOCK_UN))
        timer.start()
        ws.plan(ws.b, extra=("--wait", "30"))
        timer.join()
    assert {j["target"] for j in load_plan(ws.out / "training_plan").jobs()} == {"ret_5m", "vol_2h"}


def _concurrent_plans(root: Path, ws: Ws, wait: str | None, env_a: dict[str, str] | None = None) -> list[Any]:
    procs = []
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + full_env.get("PYTHONPATH", "")
    for key in ("FOXWAREHOUSE_FAULT", "FOXWAREHOUSE_FAULT_LIST", "FOXWAREHOUSE_FAULT_ACTION"):
        full_env.pop(key, None)
    for name, metrics in (("a", ws.a), ("b", ws.b)):
        args = ["plan", "--metrics", metrics, "--config", ws.config, "--db", root / f"{name}.duckdb", "--out", ws.out]
        if wait:
            args += ["--wait", wait]
        env = dict(full_env, **(env_a or {})) if name == "a" else full_env
        procs.append(subprocess.Popen([sys.executable, "-m", "foxwarehouse.cli", *map(str, args)], cwd=root, env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        results.append((proc.returncode, err))
    return results


def _expected_jobs(ws: Ws, tmp_path: Path) -> dict[str, list[str]]:
    expected = {}
    for name, metrics in (("a", ws.a), ("b", ws.b)):
        ws.plan(metrics, out=tmp_path / f"gold_{name}", db=tmp_path / f"gold_{name}.duckdb")
        expected[name] = job_ids(load_plan(tmp_path / f"gold_{name}" / "training_plan"))
    assert expected["a"] != expected["b"]
    return expected


def _check_concurrent_outcome(ws: Ws, results: list[Any], expected: dict[str, list[str]], must_succeed: bool) -> None:
    for code, err in results:
        assert "Traceback" not in err, err
        if must_succeed:
            assert code == 0, err
        else:
            assert code == 0 or (code == 2 and IN_USE in err), (code, err)
    assert any(code == 0 for code, _ in results)
    check_complete_export(ws.out)
    jobs = job_ids(load_plan(ws.out / "training_plan"))
    assert jobs in (expected["a"], expected["b"])
    assert (ws.out / "notes.txt").read_text() == "top\n"
    assert (ws.out / "training_plan" / "notes.txt").read_text() == "inside\n"
    assert set(p.name for p in ws.out.iterdir()) == {STATE_DIR, "notes.txt", "routing_candidates.parquet",
                                                      "routing_plan", "training_plan"}


def _concurrency_rounds(ws: Ws, tmp_path: Path, rounds: int) -> None:
    expected = _expected_jobs(ws, tmp_path)
    ws.plan(ws.a)
    (ws.out / "notes.txt").write_text("top\n")
    (ws.out / "training_plan" / "notes.txt").write_text("inside\n")
    for i in range(rounds):
        root = tmp_path / f"round{i}"
        root.mkdir()
        _check_concurrent_outcome(ws, _concurrent_plans(root, ws, None), expected, must_succeed=False)
    root = tmp_path / "waiting"
    root.mkdir()
    _check_concurrent_outcome(ws, _concurrent_plans(root, ws, "60"), expected, must_succeed=True)


@pytest.mark.slow  # two real processes, ~5 s: with the slow sweep
def test_two_exports_into_one_folder_take_turns(ws: Ws, tmp_path: Path) -> None:
    _concurrency_rounds(ws, tmp_path, rounds=3)


@pytest.mark.slow  # a paused real process, ~5 s: with the slow sweep
def test_an_export_paused_before_publishing_is_not_undone_by_another(ws: Ws, tmp_path: Path) -> None:
    # A pauses right before it publishes while B runs a whole plan into the same folder.
    expected = _expected_jobs(ws, tmp_path)
    ws.plan(ws.a)
    (ws.out / "notes.txt").write_text("top\n")
    (ws.out / "training_plan" / "notes.txt").write_text("inside\n")
    results = _concurrent_plans(tmp_path, ws, None, env_a={"FOXWAREHOUSE_FAULT": "export:before-publish",
                                                           "FOXWAREHOUSE_FAULT_ACTION": "sleep:6"})
    _check_concurrent_outcome(ws, results, expected, must_succeed=False)


@pytest.mark.slow
def test_two_exports_into_one_folder_take_turns_many_times(ws: Ws, tmp_path: Path) -> None:
    _concurrency_rounds(ws, tmp_path, rounds=20)


# --- a reader polling while exports publish ---------------------------------------------------------

def _two_built_runs(ws: Ws) -> dict[str, list[str]]:
    """Plan A then B into ws.out; {run_id: job ids} of both."""
    runs = {}
    for metrics in (ws.a, ws.b):
        ws.plan(metrics)
        plan = load_plan(ws.out / "training_plan")
        runs[plan.metadata["run_id"]] = job_ids(plan)
    return runs


def _poll_while(ws: Ws, runs: dict[str, list[str]], publish: Any) -> int:
    problems: list[str] = []
    stop = threading.Event()
    seen = [0]

    def reader() -> None:
        while not stop.is_set():
            try:
                plan = load_plan(ws.out / "training_plan")
            except PlanError as exc:
                problems.append(f"PlanError: {exc}")
                continue
            if plan.is_allow_all:
                problems.append("allow-all")
                continue
            run_id = plan.metadata.get("run_id")
            if runs.get(run_id) != job_ids(plan):
                problems.append(f"mixed plan: run {run_id}")
            seen[0] += 1

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        publish()
    finally:
        stop.set()
        thread.join()
    assert not problems, problems[:5]
    return seen[0]


def test_a_reader_polling_while_exports_publish_always_sees_one_complete_plan(ws: Ws) -> None:
    runs = _two_built_runs(ws)
    (ws.out / "training_plan" / "notes.txt").write_text("mine\n")

    def publish() -> None:
        for i in range(6):
            run_id = list(runs)[i % 2]
            result = run_cli(["export", "--run", run_id, "--db", ws.db, "--out", ws.out])
            assert result.code == 0, result

    assert _poll_while(ws, runs, publish) > 0
    assert (ws.out / "training_plan" / "notes.txt").read_text() == "mine\n"


@pytest.mark.slow
def test_a_reader_polling_while_20_exports_publish_in_other_processes(ws: Ws) -> None:
    runs = _two_built_runs(ws)

    def publish() -> None:
        for i in range(20):
            run_id = list(runs)[i % 2]
            proc = cli_subprocess(["export", "--run", run_id, "--db", ws.db, "--out", ws.out], cwd=ws.root)
            assert proc.returncode == 0, proc.stderr

    assert _poll_while(ws, runs, publish) > 0


def test_a_reader_in_another_process_during_fallback_publishing(ws: Ws, monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _two_built_runs(ws)
    monkeypatch.setenv("FOXWAREHOUSE_NO_EXCHANGE", "1")

    def publish() -> None:
        for i in range(4):
            run_id = list(runs)[i % 2]
            result = run_cli(["export", "--run", run_id, "--db", ws.db, "--out", ws.out])
            assert result.code == 0, result

    assert _poll_while(ws, runs, publish) > 0
