"""Shared checks of the adversarial suite: "nothing was lost" in the warehouse and the export folder.

- `warehouse_snapshot(db)`: every run's row of `runs` and a digest of its rows in every table that
  carries a run_id, read through foxwarehouse's own Warehouse (so a WAL left by a kill is replayed
  exactly as the next command would).
- `export_manifest(out)`: sha256 of every file a reader sees under the export folder, with the
  export's own run_id and generated_at normalised away, so two exports of the same inputs compare
  equal and a mix of two exports never does.
- `check_complete_export(out)`: the export a reader sees parses (strict JSON, YAML) and is whole.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from helpers import visible_files

from foxwarehouse.plan_schema import validate_plan_file
from foxwarehouse.render import quote_identifier
from foxwarehouse.warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ".foxwarehouse"   # an output folder's bookkeeping (lock, record, staging)
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def one_line_error(result: Any, *words: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr starting with 'error: ' and holding every
    word; that line."""
    assert result.code == 2, result
    assert "Traceback" not in result.err + result.out, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    return lines[0]


def one_exported_run(ws: Path) -> Path:
    """Make `ws` a workspace holding good.parquet, config.yaml, one good run in w.duckdb and its
    export in out/: the earlier run and export that no later command may touch."""
    from helpers import SIMPLE_CONFIG, THREE_ROWS, run_cli, write_candidates, write_config

    ws.mkdir(parents=True, exist_ok=True)
    metrics = write_candidates(ws / "good.parquet", THREE_ROWS)
    config = write_config(ws / "config.yaml", SIMPLE_CONFIG)
    result = run_cli(["plan", "--metrics", metrics, "--config", config, "--db", ws / "w.duckdb", "--out", ws / "out"])
    assert result.code == 0, result
    return ws


def copy_workspace(src: Path, dst: Path) -> Path:
    """Copy a folder holding a warehouse file and an export folder (symlinks kept as links)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _digest(rows: Sequence[Any]) -> str:
    return hashlib.sha256(repr(rows).encode("utf-8", "surrogatepass")).hexdigest()


def warehouse_snapshot(db: Path, read_only: bool = False) -> dict[str, Any]:
    """{run_id: {"row": runs row, "tables": {table: digest of its rows}}} plus the run order."""
    with Warehouse(db, read_only=read_only) as wh:
        con = wh.con
        cur = con.execute("SELECT * FROM runs ORDER BY seq")
        names = [d[0] for d in cur.description]
        runs = [dict(zip(names, row)) for row in cur.fetchall()]
        tables = [t for (t,) in con.execute(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema = 'main' "
            "AND column_name = 'run_id' AND table_name <> 'runs' AND table_name IN "
            "(SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE') "
            "ORDER BY table_name").fetchall()]
        out: dict[str, Any] = {"order": [r["run_id"] for r in runs], "runs": {}}
        for run in runs:
            digests = {}
            for table in tables:
                rows = con.execute(
                    f"SELECT * EXCLUDE (run_id) FROM {quote_identifier(table)} WHERE run_id = ? ORDER BY ALL",
                    [run["run_id"]]).fetchall()
                digests[table] = (len(rows), _digest(rows))
            out["runs"][run["run_id"]] = {"row": run, "tables": digests}
        return out


def assert_runs_intact(before: dict[str, Any], after: dict[str, Any], allow_new: bool = True) -> list[str]:
    """Every run of `before` is in `after` with the same row and rows; returns the new run ids."""
    for run_id, state in before["runs"].items():
        assert run_id in after["runs"], f"run {run_id} disappeared"
        assert after["runs"][run_id]["row"] == state["row"], f"run {run_id} changed in runs"
        for table, digest in state["tables"].items():
            assert after["runs"][run_id]["tables"].get(table) == digest, f"run {run_id}: rows of {table} changed"
    new = [r for r in after["order"] if r not in before["runs"]]
    if not allow_new:
        assert not new, f"a failed command left runs behind: {new}"
    return new


def visible_tree(out: Path) -> dict[str, bytes]:
    """Every plan file a reader sees under `out` (bookkeeping and manifests excluded)."""
    return {Path(name).as_posix(): data for name, data in visible_files(out).items()}


def export_manifest(out: Path) -> dict[str, str]:
    """{relative path: sha256} of the visible export with its run_id and generated_at normalised."""
    files = visible_tree(out)
    master = files.get("training_plan/master_training_plan.json")
    replacements: list[tuple[bytes, bytes]] = []
    if master is not None:
        try:
            meta = json.loads(master)["metadata"]
            replacements = [(str(meta["run_id"]).encode(), b"<RUN_ID>"),
                            (str(meta["generated_at"]).encode(), b"<GENERATED_AT>")]
        except (ValueError, KeyError, TypeError):
            pass
    manifest = {}
    for name, data in files.items():
        if name.endswith((".json", ".yaml", ".md")):
            for old, new in replacements:
                data = data.replace(old, new)
        manifest[name] = hashlib.sha256(data).hexdigest()
    return manifest


def strict_json(data: bytes | str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"non-finite number {token} in JSON")
    return json.loads(data, parse_constant=refuse)


def check_complete_export(out: Path) -> dict[str, Any]:
    """The visible export parses and is whole: master valid, mirrors equal, views inside their folders."""
    plan_dir = out / "training_plan"
    master_path = plan_dir / "master_training_plan.json"
    problems = validate_plan_file(master_path)
    assert not problems, problems
    master = strict_json(master_path.read_bytes())
    assert strict_json((plan_dir / "training_plan.json").read_bytes()) == master
    routing = strict_json((out / "routing_plan" / "routing_plan.json").read_bytes())
    assert routing["metadata"]["run_id"] == master["metadata"]["run_id"]
    yaml_path = plan_dir / "training_plan.yaml"
    if yaml_path.exists():
        doc = yaml.load(yaml_path.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        assert doc["jobs"] == master["jobs"], "training_plan.yaml jobs differ from the master"
    routing_yaml = out / "routing_plan" / "routing_plan.yaml"
    if routing_yaml.exists():
        doc = yaml.load(routing_yaml.read_text(encoding="utf-8"), Loader=YAML_LOADER)
        assert doc["targets"] == routing["targets"], "routing_plan.yaml differs from routing_plan.json"
    for view in ("by_target", "by_symbol", "by_route", "by_type"):
        folder = plan_dir / view
        if not folder.exists():
            continue
        index = strict_json((folder / "index.json").read_bytes())
        real = folder.resolve()
        for name, entry in index["entries"].items():
            path = (folder / entry["file"]).resolve()
            assert path.parent == real, f"{view}: {name!r} -> {entry['file']!r} leaves its folder"
            doc = strict_json(path.read_bytes())
            assert doc["name"] == name and len(doc["jobs"]) == entry["jobs"]
        listed = {entry["file"] for entry in index["entries"].values()} | {"index.json"}
        assert {p.name for p in folder.iterdir()} == listed, f"{view}: files not in index.json"
    return master


def cli_subprocess(args: Sequence[Any], cwd: Path, env: dict[str, str] | None = None,
                   timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m foxwarehouse.cli ARGS` in a fresh process (this checkout on PYTHONPATH)."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    for key in ("FOXWAREHOUSE_FAULT", "FOXWAREHOUSE_FAULT_LIST", "FOXWAREHOUSE_FAULT_ACTION"):
        full_env.pop(key, None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "foxwarehouse.cli", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
