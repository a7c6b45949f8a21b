"""`foxwarehouse report`: one self-contained HTML file; rendered in headless Chromium when available."""
from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from foxwarehouse.pipeline import plan
from foxwarehouse.analyst.report import bars, grouped_bars, stacked_bars
from helpers import EXAMPLES, run_cli

DEMO = EXAMPLES / "routing_candidates" / "routing_candidates.parquet"
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                 if shutil.which(n)), None)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo planned twice: with the packaged config, then with PREFER_CS and a larger cap."""
    root = tmp_path_factory.mktemp("report")
    db = root / "wh.duckdb"
    config = (EXAMPLES.parent / "config" / "routing_config.yaml").read_text(encoding="utf-8")
    changed = config.replace("both_strong_behavior: ROUTE_BOTH", "both_strong_behavior: PREFER_CS")
    changed = changed.replace("max_fraction_symbols_per_target: 0.2", "max_fraction_symbols_per_target: 0.35")
    assert changed != config
    (root / "changed.yaml").write_text(changed, encoding="utf-8")
    plan(DEMO, db=db, out=root / "out")
    plan(DEMO, config=root / "changed.yaml", db=db, out=root / "out")
    return db


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.stack: list[str] = []
        self.errors: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag not in ("meta", "br", "img", "link", "input", "hr"):
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unbalanced </{tag}> (open: {self.stack[-3:]})")
        else:
            self.stack.pop()


def _parse(text: str) -> _Collector:
    parser = _Collector()
    parser.feed(text)
    parser.close()
    return parser


def assert_self_contained(text: str) -> None:
    parsed = _parse(text)
    assert parsed.errors == [] and parsed.stack == []
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(parsed.tags)
    for name, value in parsed.attrs:
        assert name not in ("src", "href"), (name, value)
        if name == "xmlns":
            continue
        assert "http:" not in (value or "") and "https:" not in (value or ""), (name, value)
    assert "url(" not in text and "@import" not in text


def test_report_with_diff(two_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run_cli(["report", "--db", two_runs, "--out", out])
    assert result.code == 0, result
    text = out.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert text.count("<svg") >= 5
    for heading in ("Route distribution per target", "by priority", "by model family", "Changes since the previous run",
                    "Route transitions", "Config changes"):
        assert heading in text, heading
    for target in ("fwd_ret_15m", "fwd_ret_2h", "will_peak_4h", "vol_regime_1d", "sector_beta"):
        assert target in text
    assert "routing.both_strong_behavior" in text and "PREFER_CS" in text
    assert re.search(r"<td>ROUTE_BOTH</td><td>ROUTE_CROSS_SECTIONAL</td><td class='n'>\d+</td>", text)
    assert "lightgbm" in text and "priority 2" in text


def test_report_of_an_earlier_run_and_first_run(two_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "first.html"
    result = run_cli(["report", "--db", two_runs, "--run", "latest~1", "--out", out])
    assert result.code == 0, result
    text = out.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert "no previous built run to compare with" in text
    assert "ROUTE_BOTH" in text


def test_report_errors(tmp_path: Path) -> None:
    result = run_cli(["report", "--db", tmp_path / "none.duckdb", "--out", tmp_path / "r.html"])
    assert result.code == 2 and "Traceback" not in result.err
    assert not (tmp_path / "r.html").exists()


def test_report_escapes_names(tmp_path: Path) -> None:
    from helpers import write_candidates

    rows = [{"target": "<b>x</b>_15m", "symbol": None, "score": 0.9, "sample_size": 90000},
            {"target": "<b>x</b>_15m", "symbol": "A&B<script>", "score": 0.9, "sample_size": 90000}]
    db = tmp_path / "wh.duckdb"
    plan(write_candidates(tmp_path / "m.parquet", rows), db=db, out=tmp_path / "out")
    result = run_cli(["report", "--db", db, "--out", tmp_path / "r.html"])
    assert result.code == 0, result
    text = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;_15m" in text
    assert "<script" not in text
    assert_self_contained(text)


def test_svg_helpers_are_well_formed() -> None:
    import xml.etree.ElementTree as ET

    for svg in (stacked_bars([("t", {"a": 2, "b": 1}), ("u", {})], ["a", "b"], {"a": "#000", "b": "#111"}, "x"),
                bars([("p", 3), ("q", 0)], "y"), grouped_bars(["r"], {"r": 1}, {}, ("a", "b"), "z")):
        root = ET.fromstring(svg)
        assert root.tag.endswith("svg") and root.find("{http://www.w3.org/2000/svg}title") is not None


def _chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (CI installs it in .ci/run)")
def test_report_renders_in_headless_chromium(two_runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert run_cli(["report", "--db", two_runs, "--out", out]).code == 0
    png = tmp_path / "report.png"
    shot = _chromium(["--window-size=1200,2000", f"--screenshot={png}", out.resolve().as_uri()], tmp_path / "profile1")
    assert png.exists(), shot.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a blank page is a few KB
    dom = _chromium(["--dump-dom", out.resolve().as_uri()], tmp_path / "profile2")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Route distribution per target" in dom.stdout and "<svg" in dom.stdout
    assert "Route transitions" in dom.stdout
