"""The documentation stays true to the code: every command is documented and has help, every
module has a row in the architecture table, links resolve, and the command examples run as written.

Everything is read at test time (the parser, the package folder, the Markdown files), so a new
command, a new module or an edited example is checked without touching this file.
"""
from __future__ import annotations

import argparse
import io
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from foxwarehouse.cli import build_parser, main as cli_main
from helpers import EXAMPLES, ROOT, run_cli

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PACKAGE = ROOT / "foxwarehouse"
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
# Every Markdown file a reader of the repository meets.
MARKDOWN = [README, *DOCS, EXAMPLES / "README.md"]

SETUP_COMMANDS = [
    "python3 -m pip install . && foxwarehouse demo",
    "python3 -m pip install '.[test]' && python3 -m pytest",
]

# Example lines that cannot run on a test machine, exactly as written in the docs, with why.
SKIP_LINES: dict[str, str] = {
    # needs a shared mount that only exists on the operator's machines
    "cp -r METRICS/training_plan /mnt/shared/plans/today        # one folder":
        "writes to /mnt/shared",
    "cp -r METRICS/* /mnt/shared/metrics_copy/                   # the hidden bookkeeping is skipped; fine":
        "writes to /mnt/shared",
    # needs ssh access to another host
    "rsync -a METRICS/ trainer-host:/data/METRICS/": "copies to another host",
}
# A command holding one of these is a template for the reader to fill in, not a runnable line.
PLACEHOLDERS = ("path/to/", "...", "…")


# --- reading Markdown ---------------------------------------------------------------------------

def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section, up to the next heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = text.splitlines()
    start = lines.index(heading) + 1
    end = next((i for i in range(start, len(lines))
                if re.match(rf"#{{1,{level}}} ", lines[i])), len(lines))
    return "\n".join(lines[start:end])


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


def command_lines(block: str) -> list[str]:
    return [line.strip() for line in block.splitlines() if line.strip() and not line.strip().startswith("#")]


def table_first_cells(text: str, header: str) -> list[str]:
    """The first cell of each row of the Markdown table whose header row starts with `header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    cells = []
    for line in lines[start + 2:]:  # skip the header and the |---| rule
        if not line.startswith("|"):
            break
        cells.append(re.split(r"(?<!\\)\|", line)[1])  # `\|` is a pipe inside a cell
    return cells


def cli_commands() -> list[str]:
    parser = build_parser()
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert len(subparsers) == 1
    return sorted(subparsers[0].choices)


# --- commands -----------------------------------------------------------------------------------

def readme_table_commands() -> set[str]:
    """Command names in the README's command table: the first word of each code span in a row's
    first cell (a row may name several, like `ingest PATH` / `build` / `export`)."""
    names: set[str] = set()
    for cell in table_first_cells(read(README), "| command |"):
        names.update(span.split()[0] for span in re.findall(r"`([^`]+)`", cell))
    return names


def test_every_command_is_in_the_readme_table() -> None:
    documented = readme_table_commands()
    commands = set(cli_commands())
    assert not commands - documented, f"commands without a row in README.md's command table: {sorted(commands - documented)}"
    assert not documented - commands, f"README.md's command table names unknown commands: {sorted(documented - commands)}"


@pytest.mark.parametrize("command", cli_commands())
def test_command_help_exits_0(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli_main([command, "--help"])
    except SystemExit as exc:  # argparse exits after printing help; main() may or may not catch it
        code = int(exc.code or 0)
    out = capsys.readouterr().out
    assert code == 0
    assert f"usage: foxwarehouse {command}" in out


# --- modules ------------------------------------------------------------------------------------

def package_modules() -> set[str]:
    """Every module of the package and its subpackages, named by its path below foxwarehouse/ ("export/publish.py")."""
    return {p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py")
            if p.name != "__init__.py"}


def test_architecture_names_every_module() -> None:
    named: set[str] = set()
    for cell in table_first_cells(read(ARCHITECTURE), "| module |"):
        named.update(re.findall(r"`([\w./]+\.py)`", cell))
    modules = package_modules()
    assert not modules - named, (
        f"modules without a row in docs/ARCHITECTURE.md's module table: {sorted(modules - named)}; "
        "add one saying what the module owns")
    assert not named - modules, f"docs/ARCHITECTURE.md names modules that do not exist: {sorted(named - modules)}"


# --- links and wording --------------------------------------------------------------------------

LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path) -> None:
    broken = []
    for target in LINK.findall(read(doc)):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # URLs and same-page anchors
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{doc.relative_to(ROOT)}: links to missing files: {broken}"


# A section sign or the word for a specification in capitals (not inside SYMBOL_SPECIFIC) points at
# a document that does not ship with the project, and an issue number at a tracker; the docs must
# say it in their own words. ("S[P]EC" keeps a grep for the word from finding this checker.)
FOREIGN_REFERENCE = re.compile(r"§|(?<![A-Za-z_])S[P]EC(?![A-Za-z_])|(?i:\bissues? #?\d+)")


@pytest.mark.parametrize("doc", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_references_to_documents_outside_the_repo(doc: Path) -> None:
    hits = [f"{n}: {line.strip()}" for n, line in enumerate(read(doc).splitlines(), 1)
            if FOREIGN_REFERENCE.search(line)]
    assert not hits, f"{doc.relative_to(ROOT)} refers to a spec section or issue number:\n" + "\n".join(hits)


def test_readme_setup_commands() -> None:
    blocks = [command_lines(block) for block in fenced_blocks(section(read(README), "## Set up"), "bash")]
    assert blocks == [[command] for command in SETUP_COMMANDS]


# --- examples run as written --------------------------------------------------------------------

@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder as the docs assume it: FoxML's layout with raw metrics in METRICS/, the
    config at config/routing_config.yaml, and the default warehouse holding two runs (the demo,
    then a plan of the raw metrics), so `latest~1` and a rollback have something to name."""
    monkeypatch.chdir(tmp_path)
    # The build records the HEAD of a git checkout; the temp folder is none, keep it that way.
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "no-git"))
    shutil.copytree(ROOT / "config", tmp_path / "config")
    shutil.copytree(EXAMPLES / "raw_metrics", tmp_path / "METRICS")
    for argv in (["demo"], ["plan", "--metrics", "METRICS/"]):
        result = run_cli(argv)
        assert result.code == 0, result
    return tmp_path


def run_line(line: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run one documented shell line in the current folder, leaving out placeholder commands.

    `foxwarehouse` commands run in-process (the `echo X |` and `> FILE` forms the docs use are
    supported); anything else runs in a shell."""
    for command in line.split(" && "):
        if any(p in command for p in PLACEHOLDERS):
            continue
        tokens = shlex.split(command, comments=True)
        if tokens[0] == "cd":  # the walkthroughs move into a project folder for the lines after
            monkeypatch.chdir(tokens[1])
            continue
        # A line documented to fail says so: `foxwarehouse test   # exits 1: ...`
        expected = int(m.group(1)) if (m := re.search(r"#\s*exits (\d+)", command)) else 0
        if tokens[0] != "foxwarehouse" and "| foxwarehouse" not in command:
            proc = subprocess.run(command, shell=True, capture_output=True, text=True)
            assert proc.returncode == expected, f"{command!r} exited {proc.returncode}: {proc.stderr[-1500:]}"
            continue
        stdin = ""
        if "|" in tokens:
            producer, tokens = tokens[:tokens.index("|")], tokens[tokens.index("|") + 1:]
            assert producer[0] == "echo", f"unsupported pipe in {command!r}"
            stdin = " ".join(producer[1:]) + "\n"
        out_file = None
        if ">" in tokens:
            out_file, tokens = tokens[tokens.index(">") + 1], tokens[:tokens.index(">")]
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
        result = run_cli(tokens[1:])
        assert result.code == expected and "Traceback" not in result.err, f"{command!r}: {result!r}"
        if out_file is not None:
            Path(out_file).write_text(result.out, encoding="utf-8")


def documented_lines(text: str) -> list[str]:
    return [line for block in fenced_blocks(text, "bash") for line in command_lines(block)]


def run_documented(lines: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert lines, "no example lines found"
    for line in lines:
        if line in SKIP_LINES:
            continue
        run_line(line, monkeypatch)


def test_readme_using_it_examples_run(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_documented(documented_lines(section(read(README), "## Using it")), monkeypatch)
    assert (workspace / "my_project" / "sql").is_dir()  # `init my_project` ran


# The rule-change walkthrough runs the SQL unit tests several times: it runs with the slow sweep.
@pytest.mark.parametrize("doc", ["PUBLISHING.md", "ANALYSTS.md", "PROJECTS.md",
                                 pytest.param("CHANGE_A_RULE.md", marks=pytest.mark.slow)])
def test_docs_examples_run(doc: str, workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_documented(documented_lines(read(ROOT / "docs" / doc)), monkeypatch)


def test_skip_list_names_documented_lines() -> None:
    """A skip entry whose line was edited away would silently skip nothing; keep the list exact."""
    lines = {line for doc in MARKDOWN for line in documented_lines(read(doc))}
    assert not set(SKIP_LINES) - lines, f"skip entries no longer in the docs: {sorted(set(SKIP_LINES) - lines)}"
