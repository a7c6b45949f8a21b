"""The quick CSV read (DuckDB checks the lines) agrees with the strict Python scan on every file.

Every file must come out as it did when the scan always ran first: the same staged rows, or
the same message. Checked on every CSV of the bad-input corpus and on quoting cases where DuckDB's
own strict read is more lenient than the scan, inside a transaction as the ingest runs it.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb

from foxwarehouse.errors import InputError
from foxwarehouse.ingest.csv_input import _quick_layout, _read_csv, scan_csv, stage_csv
from foxwarehouse.ingest.reader import error_text

CORPUS = Path(__file__).resolve().parents[1] / "data" / "bad"

CASES = {
    "plain": b"target,symbol\nA,x\nB,y\n",
    "quoted_fields": b'target,symbol\n"A,1","x ""q"""\nB,y\n',
    "quote_inside_unquoted": b'target,symbol\nab"c,d\nab"c,d"e\n',
    "text_after_closing_quote": b'target,symbol\n"abc"x,d\n',
    "space_after_closing_quote": b'target,symbol\n"x" ,2\n',
    "unterminated_quote_last": b'target,symbol\n"abc,d\n',
    "unterminated_quote_middle": b'target,symbol\n"abc,d\ne,f\ng,h\n',
    "trailing_delimiter": b"target,symbol\n1,2,\n",
    "too_few": b"target,symbol\n1\n",
    "too_many": b"target,symbol\n1,2,3\n",
    "whitespace_line": b"target,symbol\n1,2\n \n3,4\n",
    "blank_lines": b"target,symbol\n\n1,2\n\n\n3,4\n",
    "no_final_newline": b"target,symbol\n1,2",
    "crlf": b"target,symbol\r\n1,2\r\n3,4\r\n",
    "cr_only": b"target,symbol\r1,2\r3,4\r",
    "cr_inside_field": b'target,symbol\n"a\rb",2\n',
    "quoted_newline": b'target,symbol\n"x\ny",2\n',
    "nul_byte": b"target,symbol\n1\x00,2\n",
    "ctrl_a_byte": b"target,symbol\n1\x01,2\n",
    "latin1": b"target,symbol\nCAF\xc9,2\n",
    "bom": b"\xef\xbb\xbftarget,symbol\n1,2\n",
    "bom_quoted_header": b'\xef\xbb\xbf"target",symbol\n1,2\n',
    "semicolon": b'target;symbol\n"a;b";c\n',
    "tab": b'target\tsymbol\n"a\tb"\tc\n',
    "pipe": b"target|symbol\na|b\n",
    "one_column": b'target\na\n"b"\n\n',
    "one_column_delimiter": b"target\na,b\n",
    "header_only": b"target,symbol\n",
    "header_quoted_newline": b'"tar\nget",symbol\n1,2\n',
    "empty": b"",
    "duplicate_column": b"target,Target\n1,2\n",
    "long_line": b"target,symbol\n" + b"x" * (3 * 1024 * 1024) + b",y\n",
}


def _files(tmp_path: Path) -> list[Path]:
    paths = sorted(CORPUS.rglob("*.csv"))
    for name, data in CASES.items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        paths.append(path)
    return paths


def _staged(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute("SELECT * FROM temp.main.ingest_stage").fetchall()


def _outcome(con: duckdb.DuckDBPyConnection, path: Path, stage: Callable[[duckdb.DuckDBPyConnection, Path], None]) -> object:
    """The staged rows, or the message a user would see (as the ingest words a DuckDB error)."""
    con.execute("BEGIN TRANSACTION")   # the ingest stages inside its transaction
    try:
        stage(con, path)
        return _staged(con)
    except InputError as exc:
        return str(exc)
    except duckdb.Error as exc:
        return f"cannot be read as CSV: {error_text(exc)}"
    finally:
        con.execute("ROLLBACK")


def _scan_first(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """The read as it was: the whole scan, then DuckDB's read with the scan's layout."""
    layout = scan_csv(path)
    read = _read_csv(con, path, layout.delimiter, layout.columns, layout.max_line_bytes)
    if read != layout.rows:
        raise InputError(f"{path}: CSV read inconsistently ({read} rows, expected {layout.rows}); check its quoting")


def test_staging_says_and_stages_what_the_scan_first_read_did(tmp_path: Path) -> None:
    con, other = duckdb.connect(), duckdb.connect()
    quick = {}
    for path in _files(tmp_path):
        quick[path.stem] = _quick_layout(other, path) is not None
        assert _outcome(con, path, stage_csv) == _outcome(other, path, _scan_first), path.name
    # The usual files skip the scan; a file it has something to say about never does.
    for name in ("plain", "quoted_fields", "blank_lines", "crlf", "bom", "semicolon", "tab", "header_only",
                 "c_quoted_commas", "c_bom", "c_crlf", "c_semicolon", "c_blank_lines", "c_wrong_type_one_row"):
        assert quick[name], name
    for name in ("text_after_closing_quote", "space_after_closing_quote", "trailing_delimiter", "too_few",
                 "too_many", "whitespace_line", "latin1", "quoted_newline", "empty", "duplicate_column",
                 "long_line", "c_ragged_row", "c_short_row", "c_unterminated_quote", "c_not_utf8",
                 "c_embedded_newlines", "c_zero_bytes", "c_duplicate_column"):
        assert not quick[name], name
