"""Planning the same inputs on both engines and comparing every exported file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from helpers import CliResult, run_cli

ENGINES = ("duckdb", "spark")


def plan_on(engine: str, root: Path, metrics: Path, config: Path | None = None,
            extra: tuple[str, ...] = ()) -> tuple[CliResult, Path]:
    """`foxwarehouse plan --engine ENGINE` into its own warehouse and folder under `root`."""
    out = root / f"out_{engine}"
    args: list[Any] = ["plan", "--metrics", metrics, "--db", root / f"{engine}.duckdb", "--out", out,
                       "--engine", engine, "--skip-tests", *extra]
    if config is not None:
        args += ["--config", config]
    return run_cli(args), out


# The publishing record of a plan folder: it lists each file's modification time, which differs
# between any two exports; it is not a plan file.
MANIFEST = ".foxwarehouse-manifest.json"


def exported_files(out: Path) -> dict[str, bytes]:
    """Every plan file of an export folder, with its run_id and generated_at masked."""
    meta = json.loads((out / "training_plan" / "master_training_plan.json").read_text(encoding="utf-8"))["metadata"]
    run_id, generated_at = meta["run_id"].encode(), meta["generated_at"].encode()
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p.name != MANIFEST):
        data = path.read_bytes().replace(run_id, b"<run_id>").replace(generated_at, b"<generated_at>")
        files[path.relative_to(out).as_posix()] = data
    return files


def assert_same_files(duckdb_out: Path, spark_out: Path) -> None:
    a, b = exported_files(duckdb_out), exported_files(spark_out)
    assert sorted(a) == sorted(b), f"files of one engine only: {sorted(set(a) ^ set(b))[:10]}"
    differing = [name for name in a if a[name] != b[name]]
    if differing:
        first = differing[0]
        at = next(i for i, (x, y) in enumerate(zip(a[first], b[first])) if x != y) if \
            any(x != y for x, y in zip(a[first], b[first])) else min(len(a[first]), len(b[first]))
        context = {engine: files[first][max(0, at - 300):at + 200].decode("utf-8", "replace")
                   for engine, files in (("duckdb", a), ("spark", b))}
        raise AssertionError(f"files that differ between the engines: {differing[:10]}; {first} from byte {at}: "
                             f"{context}")


def error_line(result: CliResult) -> str:
    """The one `error:` line of a failed command (Spark's JVM may print its own start-up lines)."""
    lines = [line for line in result.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result
    return lines[0]
