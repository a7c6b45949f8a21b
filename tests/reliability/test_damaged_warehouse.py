"""Damaged warehouses and unusable paths: exit 2, one line naming the file, nothing lost.

Every case runs on a copy of a workspace holding two good runs, the second one published. A damaged
warehouse file (truncated, zeroed blocks, empty, a folder, garbage, a foreign DuckDB file, an edited
schema_version, a `runs` table missing a column) makes every command stop with one line that names
the file and says it is damaged; the file and the export folder stay byte for byte as they were. A
`--db`, `--out` or `init` folder that cannot be made (under a file, a dangling link, a link loop, a
device, /proc) is refused naming what is in the way, and nothing is deleted. Markdown plans written
from names holding control characters stay text and keep the names apart.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import SIMPLE_CONFIG, THREE_ROWS, run_cli, tree_bytes, write_candidates, write_config
from reliability_helpers import assert_runs_intact, one_line_error, warehouse_snapshot
from reliability_log import record

SUITE = "damaged_warehouse"
TARGET, SYMBOL = "fwd_ret_15m", "AAPL"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two good runs (the second with other scores), the second exported to ws/out."""
    ws = tmp_path_factory.mktemp("damaged") / "ws"
    ws.mkdir()
    write_config(ws / "config.yaml", SIMPLE_CONFIG)
    write_candidates(ws / "first.parquet", THREE_ROWS)
    write_candidates(ws / "good.parquet", [dict(r, score=r["score"] - 0.05) for r in THREE_ROWS])
    for metrics in ("first.parquet", "good.parquet"):
        result = run_cli(["plan", "--metrics", ws / metrics, "--config", ws / "config.yaml",
                          "--db", ws / "w.duckdb", "--out", ws / "out", "--skip-tests"])
        assert result.code == 0, result
    return ws


@pytest.fixture
def ws(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "ws", symlinks=True))




def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "-"


def plan_args(ws: Path, db: Path | str, out: Path | str | None = None) -> list[Any]:
    return ["plan", "--metrics", ws / "good.parquet", "--config", ws / "config.yaml", "--db", db,
            "--out", out or ws / "out", "--force", "--skip-tests"]


# --- damaged warehouse files ------------------------------------------------------------------------

def _truncate_half(db: Path) -> None:
    os.truncate(db, db.stat().st_size // 2 // 4096 * 4096)


def _zero_blocks(db: Path) -> None:
    """Zero 10%..50% of the file: DuckDB opens it and fails on a checksum inside a command."""
    size = db.stat().st_size
    start, end = size // 10 // 4096 * 4096, size // 2 // 4096 * 4096
    with open(db, "r+b") as fh:
        fh.seek(start)
        fh.write(b"\0" * (end - start))


def _edit(sql: str) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        con = duckdb.connect(str(db))
        try:
            con.execute(sql)
        finally:
            con.close()
    return damage


def _replace(content: bytes) -> Callable[[Path], None]:
    def damage(db: Path) -> None:
        db.write_bytes(content)
    return damage


def _foreign(db: Path) -> None:
    db.unlink()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE orders (id INTEGER, amount DOUBLE)")
    con.close()


def _folder(db: Path) -> None:
    db.unlink()
    db.mkdir()


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    # name: (how the file is damaged, a word the message must hold besides the file name)
    "truncated to half": (_truncate_half, "damaged"),
    "zeroed blocks": (_zero_blocks, "damaged"),
    "zero bytes": (_replace(b""), "damaged"),
    "garbage bytes": (_replace(bytes(range(256)) * 64), "damaged"),
    "a foreign DuckDB file": (_foreign, "not a foxwarehouse warehouse"),
    "a folder": (_folder, "is a folder"),
    "schema_version not a number": (_edit("UPDATE foxwarehouse_meta SET value = 'abc' WHERE key = 'schema_version'"),
                                    "schema_version is 'abc'"),
    "runs table missing a column": (_edit("ALTER TABLE runs DROP COLUMN config"), "runs has no column config"),
}
COMMANDS: dict[str, Callable[[Path], list[Any]]] = {
    "runs": lambda ws: ["runs"],
    "plan": lambda ws: plan_args(ws, ws / "w.duckdb"),
    "explain": lambda ws: ["explain", TARGET, SYMBOL],
    "prune": lambda ws: ["runs", "--prune", "--keep", "1"],
    "export": lambda ws: ["export", "--out", ws / "out"],
    "jobs": lambda ws: ["jobs"],
}


def _damage_cases() -> list[Any]:
    """Every damage × command. By default each damage with `runs` and one of the other commands the
    red team saw fail (plan, explain, prune in turn), so each of those meets several damages; the
    rest of the grid runs with the slow sweep."""
    turn = ("plan", "explain", "prune")
    cases = []
    for i, damage in enumerate(DAMAGES):
        for command in COMMANDS:
            quick = command == "runs" or command == turn[i % len(turn)]
            cases.append(pytest.param(damage, command, id=f"{damage}-{command}",
                                      marks=() if quick else pytest.mark.slow))
    return cases


@pytest.mark.parametrize(("damage", "command"), _damage_cases())
def test_a_damaged_warehouse_is_one_line_naming_it(ws: Path, damage: str, command: str) -> None:
    db = ws / "w.duckdb"
    make, word = DAMAGES[damage]
    make(db)
    before_db, before_out = digest(db), tree_bytes(ws / "out")
    args = [*COMMANDS[command](ws)]
    if "--db" not in args:
        args += ["--db", db]
    line = one_line_error(run_cli(args), str(db), word)
    assert digest(db) == before_db, "the damaged file was changed"
    assert tree_bytes(ws / "out") == before_out, "the export folder changed"
    record(SUITE, f"{damage}: {command}", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.slow
def test_truncation_sweep_of_a_warehouse_with_reused_blocks(template: Path, tmp_path: Path) -> None:
    """Many runs and a prune move DuckDB's metadata to the start of the file, so a truncated copy
    still opens and fails inside the command (the red team's half-size traceback): at every cut."""
    ws = Path(shutil.copytree(template, tmp_path / "many"))
    db = ws / "w.duckdb"
    for i in range(6):
        write_candidates(ws / "m.parquet", [dict(r, score=0.5 + 0.05 * i) for r in THREE_ROWS])
        assert run_cli(["plan", "--metrics", ws / "m.parquet", "--config", ws / "config.yaml", "--db", db,
                        "--out", ws / "out", "--force", "--skip-tests"]).code == 0
        if i == 3:
            assert run_cli(["runs", "--prune", "--keep", "2", "--db", db]).code == 0
    size = db.stat().st_size
    pristine = db.read_bytes()
    outcomes: dict[str, int] = {}
    for cut in range(1, 16):
        for args in COMMANDS.values():
            db.write_bytes(pristine[: size * cut // 16 // 4096 * 4096])
            line = one_line_error(run_cli([*args(ws), *([] if "--db" in args(ws) else ["--db", db])]), str(db))
            kind = "damaged" if "damaged" in line else line.replace(str(db), "FILE").split(":", 2)[1].strip()
            outcomes[kind] = outcomes.get(kind, 0) + 1
    record(SUITE, "truncated at every 1/16 of a many-run warehouse", "exit 2", outcomes=outcomes, nothing_lost=True)


def test_a_read_only_warehouse_on_a_read_only_mount_is_one_line(ws: Path, tmp_path: Path) -> None:
    """`plan` on a warehouse whose folder is mounted read-only (root ignores file modes)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if not _mount(["--bind", str(ws), str(mount)]):
        pytest.skip("cannot bind-mount here (needs root and mount)")
    try:
        if not _mount(["-o", "remount,bind,ro", str(mount)]):
            pytest.skip("cannot remount read-only here")
        db = mount / "w.duckdb"
        before = warehouse_snapshot(ws / "w.duckdb")
        line = one_line_error(run_cli(plan_args(ws, db, tmp_path / "out2")), str(db), "read-only file system")
        assert not (tmp_path / "out2" / "training_plan").exists()
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert_runs_intact(before, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    record(SUITE, "read-only warehouse folder: plan", "exit 2", message=line[:300], nothing_lost=True)


def test_out_on_a_read_only_file_system_is_one_line(ws: Path, tmp_path: Path) -> None:
    """`export --out` and `report --out` on a read-only mount (root ignores file modes)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)]):
        pytest.skip("cannot mount a read-only tmpfs here (needs root and mount)")
    try:
        before = warehouse_snapshot(ws / "w.duckdb")
        lines = [one_line_error(run_cli(["export", "--db", ws / "w.duckdb", "--out", mount / "out"]),
                                str(mount / "out"), "Read-only file system", "not published"),
                 one_line_error(run_cli(["report", "--db", ws / "w.duckdb", "--out", mount / "r.html"]),
                                str(mount / "r.html"), "Read-only file system")]
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert_runs_intact(before, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    for command, line in zip(("export", "report"), lines):
        record(SUITE, f"{command} --out on a read-only file system", "exit 2", message=line[:300], nothing_lost=True)


def _mount(args: list[str]) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


# --- --db, --out and init paths that cannot be made -----------------------------------------------

def _links(ws: Path) -> None:
    (ws / "a_file").write_text("keep me\n")
    (ws / "dangling").symlink_to("nowhere")
    (ws / "loop1").symlink_to("loop2")
    (ws / "loop2").symlink_to("loop1")


# name: (path relative to the workspace or absolute, words of the message)
BAD_DIRS: dict[str, tuple[str, tuple[str, ...]]] = {
    "a file": ("a_file", ("a_file is a file, not a folder",)),
    "under a file": ("a_file/sub", ("a_file is a file, not a folder",)),
    "a dangling link": ("dangling", ("dangling symbolic link",)),
    "under a dangling link": ("dangling/sub", ("dangling symbolic link",)),
    "a link loop": ("loop1", ("symbolic link loop",)),
    "under a link loop": ("loop1/sub", ("symbolic link loop",)),
    "/dev/null": ("/dev/null", ("/dev/null is a character device, not a folder",)),
    "under /dev/null": ("/dev/null/sub", ("/dev/null is a character device, not a folder",)),
    "under /proc": ("/proc/foxwarehouse-x/sub", ("/proc/foxwarehouse-x",)),
}


def _state(ws: Path) -> dict[str, bytes]:
    return tree_bytes(ws)


def _default(names: list[str], default: tuple[str, ...]) -> list[Any]:
    """`names` as parameters, those not in `default` with the slow sweep (the default run stays short)."""
    return [n if n in default else pytest.param(n, marks=pytest.mark.slow) for n in names]


@pytest.mark.parametrize("where", _default(list(BAD_DIRS), ("a file", "a dangling link", "a link loop", "/dev/null",
                                                            "under /proc")))
def test_export_to_an_unusable_out_names_what_is_in_the_way(ws: Path, where: str) -> None:
    _links(ws)
    rel, words = BAD_DIRS[where]
    out = ws / rel
    before, runs_before = _state(ws), warehouse_snapshot(ws / "w.duckdb")
    line = one_line_error(run_cli(["export", "--db", ws / "w.duckdb", "--out", out]), str(out), *words)
    assert "Errno" not in line
    assert _state(ws) == before, "something under the workspace changed"
    assert_runs_intact(runs_before, warehouse_snapshot(ws / "w.duckdb"), allow_new=False)
    record(SUITE, f"export --out {where}", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.parametrize("where", _default(["under a file", "under a dangling link", "under a link loop",
                                            "under /dev/null"], ("under a file", "under a dangling link")))
def test_report_to_an_unusable_out_names_what_is_in_the_way(ws: Path, where: str) -> None:
    _links(ws)
    rel, words = BAD_DIRS[where]
    before = _state(ws)
    line = one_line_error(run_cli(["report", "--db", ws / "w.duckdb", "--out", ws / rel / "r.html"]), *words)
    assert "Errno" not in line
    assert _state(ws) == before
    record(SUITE, f"report --out {where}", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.parametrize("where", _default(["under a file", "under a dangling link", "under a link loop",
                                            "under /dev/null", "under /proc", "a folder"],
                                           ("under a file", "under /proc", "a folder")))
def test_db_that_cannot_be_made_is_one_line(ws: Path, where: str) -> None:
    _links(ws)
    if where == "a folder":
        db, words = ws / "out", ("is a folder, not a warehouse file",)
    else:
        rel, words = BAD_DIRS[where]
        db = ws / rel / "w.duckdb"
    before = _state(ws)
    line = one_line_error(run_cli(plan_args(ws, db, ws / "out2")), str(db), *words)
    assert _state(ws) == before
    record(SUITE, f"--db {where}", "exit 2", message=line[:300], nothing_lost=True)


@pytest.mark.parametrize("where", _default(["a file", "under a file", "a dangling link", "under a link loop",
                                            "/dev/null", "under /proc"], ("a file", "under a file", "under /proc")))
def test_init_into_a_folder_that_cannot_be_made_is_one_line(ws: Path, where: str) -> None:
    _links(ws)
    rel, words = BAD_DIRS[where]
    before = _state(ws)
    line = one_line_error(run_cli(["init", ws / rel]), "init", *words)
    assert _state(ws) == before
    record(SUITE, f"init {where}", "exit 2", message=line[:300], nothing_lost=True)


def test_init_into_a_read_only_folder_writes_nothing(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    mount.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)]):
        pytest.skip("cannot mount a read-only tmpfs here (needs root and mount)")
    try:
        line = one_line_error(run_cli(["init", mount / "project"]), "init", str(mount / "project"),
                              "Read-only file system")
        assert list(mount.iterdir()) == []
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    record(SUITE, "init into a read-only folder", "exit 2", message=line[:300], nothing_lost=True)


def test_init_that_fails_midway_removes_what_it_wrote(tmp_path: Path) -> None:
    """Disk full after the first files: the half-made project is removed, so init can run again."""
    mount = tmp_path / "small"
    mount.mkdir()
    if not _mount(["-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)]):
        pytest.skip("cannot mount a tmpfs here (needs root and mount)")
    try:
        (mount / "mine.txt").write_text("keep me\n")
        line = one_line_error(run_cli(["init", mount]), "init", "No space left on device")
        assert sorted(p.name for p in mount.iterdir()) == ["mine.txt"]
        assert (mount / "mine.txt").read_text() == "keep me\n"
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    record(SUITE, "init on a full disk", "exit 2", message=line[:300], nothing_lost=True)


# --- control characters in names -------------------------------------------------------------------

def test_markdown_plans_escape_control_characters_in_names(tmp_path: Path) -> None:
    names = ["nul\x00name", "nul\\x00name", "bell\x07", "del\x7f", "c1\x85x", "tab\tname", "line\u2028sep"]
    rows = [{"target": name, "symbol": None, "score": 0.8, "sample_size": 10_000} for name in names]
    write_candidates(tmp_path / "m.parquet", rows)
    write_config(tmp_path / "c.yaml", SIMPLE_CONFIG)
    result = run_cli(["plan", "--metrics", tmp_path / "m.parquet", "--config", tmp_path / "c.yaml",
                      "--db", tmp_path / "w.duckdb", "--out", tmp_path / "out", "--skip-tests"])
    assert result.code == 0, result
    for md in ("routing_plan/routing_plan.md", "training_plan/training_plan.md"):
        text = (tmp_path / "out" / md).read_text(encoding="utf-8")
        bad = [c for c in text if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f or c in "\u2028\u2029"]
        assert not bad, (md, bad)
        for shown in ("nul\\x00name", "nul\\\\x00name", "bell\\x07", "del\\x7f", "c1\\x85x", "tab\\tname",
                      "line\\u2028sep"):
            assert shown in text, (md, shown)
    record(SUITE, "control characters in names: Markdown plans", "escaped visibly")
