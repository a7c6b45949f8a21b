"""Strict, bounded YAML loading for the files foxwarehouse reads (routing config, project file, models.yml).

PyYAML's ``safe_load`` reads YAML 1.1: ``1:30`` is 90, ``017`` is 15, ``on`` is true, a repeated key
silently replaces the first, and nothing bounds nesting or alias expansion (a "billion laughs" file
expands to gigabytes; a 50,000-deep file ends in RecursionError). This module owns what a YAML text
means to foxwarehouse instead:

- Plain scalars are read with the YAML 1.2 core schema (``true``/``false``, ``null``/``~``, decimal,
  ``0o`` octal and ``0x`` hex integers, floats with ``.inf``/``.nan``), plus decimal numbers grouped
  with underscores (``5_000``, as FoxML's configs write them; never with a leading zero). A plain
  scalar that YAML 1.1 reads as something else than text, and differently (``1:30``, ``017``,
  ``0b101``, ``yes``/``no``/``on``/``off``, dates), is a problem: no value silently means something
  its author did not write. One that only YAML 1.2 reads as a number (``1e3``, ``0o17``) is that number.
- A key repeated in one mapping is a problem naming both lines (merge keys ``<<`` may still be overridden).
- Bounded before anything is built: one document, only the standard tags, nesting depth (also as
  aliases expand it), and the number of values once aliases are expanded.

``load_yaml`` returns the data with its problems (each with a dotted path and line) so a caller can
report them with its own validation; ``safe_load`` raises them. ``YamlLimitError`` is a
``yaml.YAMLError`` whose text is one line, so callers that catch ``yaml.YAMLError`` keep working.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml import events, nodes
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import BaseResolver, Resolver

#: Defaults: no file foxwarehouse reads nests deeper or expands to more values than this.
MAX_DEPTH = 100
MAX_VALUES = 1_000_000

_TAG = "tag:yaml.org,2002:"
STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, MERGE = (_TAG + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge"))
# Explicit tags a file may use ("!" is YAML's non-specific tag); anything else (!!python/object,
# !!timestamp, !local) is refused before a value is built.
ALLOWED_TAGS = frozenset({STR, INT, FLOAT, BOOL, NULL, MAP, SEQ, "!"})


class YamlLimitError(yaml.YAMLError):
    """A YAML text that is not read: bad syntax, a limit, a tag, a second document, or (from
    ``safe_load``) a problem. ``str()`` is one line; ``line``/``column`` count from 1."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        # What callers written for PyYAML's MarkedYAMLError read (marks count from 0).
        self.problem = message
        self.problem_mark = yaml.Mark("<yaml>", 0, line - 1, (column or 1) - 1, None, 0) if line else None

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "") + ": " if self.line else ""
        return where + self.message


@dataclass(frozen=True)
class YamlProblem:
    """A value read, but not as its author may have meant: ``path`` is dotted (``a.b[2]``, "" for
    the document), ``line`` counts from 1, ``message`` names the line(s) but not the path."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path or 'document'}: {self.message}"


@dataclass
class YamlDocument:
    data: Any
    problems: list[YamlProblem] = field(default_factory=list)


# --- the YAML 1.2 core schema -------------------------------------------------------------------

class _Resolver(BaseResolver):
    """Implicit tags of the YAML 1.2 core schema (plus YAML 1.1's merge key ``<<``)."""


_Resolver.add_implicit_resolver(BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Resolver.add_implicit_resolver(NULL, re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
# Decimal digits grouped by underscores (5_000, 1_000.5): what YAML 1.1 and Python read, and no
# other reading is possible; a leading zero is left out (YAML 1.1 reads 0_17 as octal).
_GROUPED_INT = r"[-+]?[1-9][0-9]*(?:_[0-9]+)+"
_GROUPED_FLOAT = r"[-+]?[1-9][0-9]*(?:_[0-9]+)+\.[0-9]*"
_INT = re.compile(rf"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+|{_GROUPED_INT})$")
_FLOAT = re.compile(rf"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|{_GROUPED_FLOAT}"
                    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_Resolver.add_implicit_resolver(INT, _INT, list("-+0123456789"))
_Resolver.add_implicit_resolver(FLOAT, _FLOAT, list("-+.0123456789"))
_Resolver.add_implicit_resolver(MERGE, re.compile(r"^(?:<<)$"), ["<"])


class _Constructor(SafeConstructor):
    """SafeConstructor with YAML 1.2 integers, floats and booleans (also behind explicit tags)."""

    def construct_yaml_int(self, node: nodes.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        try:
            if re.fullmatch(r"0o[0-7]+", text):
                return int(text[2:], 8)
            if re.fullmatch(r"0x[0-9a-fA-F]+", text):
                return int(text[2:], 16)
            if re.fullmatch(r"[-+]?[0-9]+", text) or re.fullmatch(_GROUPED_INT, text):
                return int(text.replace("_", ""), 10)
        except ValueError:  # beyond Python's limit on digits (sys.get_int_max_str_digits)
            raise ConstructorError(None, None, f"a whole number of {len(text):,} digits is too long to read",
                                   node.start_mark) from None
        raise ConstructorError(None, None, f"{_clip(text)!r} is not a YAML 1.2 integer", node.start_mark)

    def construct_yaml_float(self, node: nodes.ScalarNode) -> float:
        text = str(self.construct_scalar(node))
        special = text.lstrip("+-").lower()
        if special in (".inf", ".nan"):
            value = math.inf if special == ".inf" else math.nan
            return -value if text.startswith("-") else value
        if re.fullmatch(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?", text):
            return float(text)
        if re.fullmatch(_GROUPED_FLOAT, text):
            return float(text.replace("_", ""))
        raise ConstructorError(None, None, f"{_clip(text)!r} is not a YAML 1.2 number", node.start_mark)

    def construct_yaml_bool(self, node: nodes.ScalarNode) -> bool:
        text = str(self.construct_scalar(node))
        if text.lower() not in ("true", "false"):
            raise ConstructorError(None, None, f"{_clip(text)!r} is not true or false", node.start_mark)
        return text.lower() == "true"


_Constructor.add_constructor(INT, _Constructor.construct_yaml_int)  # type: ignore[type-var]
_Constructor.add_constructor(FLOAT, _Constructor.construct_yaml_float)  # type: ignore[type-var]
_Constructor.add_constructor(BOOL, _Constructor.construct_yaml_bool)  # type: ignore[type-var]

# libyaml's parser when PyYAML was built with it (yaml.cyaml exists then), else the pure-Python one.
_CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)

if _CParser is not None:
    class _Loader(_CParser, _Constructor, _Resolver):
        def __init__(self, stream: str):
            _CParser.__init__(self, stream)
            _Constructor.__init__(self)
            _Resolver.__init__(self)
else:  # pragma: no cover - PyYAML without libyaml
    from yaml.composer import Composer
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Loader(Reader, Scanner, Parser, Composer, _Constructor, _Resolver):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)
            Composer.__init__(self)
            _Constructor.__init__(self)
            _Resolver.__init__(self)


# How YAML 1.1 (PyYAML's safe_load) reads a plain scalar, to find the ones it reads differently.
_RESOLVER_11 = Resolver()


# --- public functions ---------------------------------------------------------------------------

def load_yaml(text: str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> YamlDocument:
    """The data of a one-document YAML text (None when empty) and its problems.

    Raises YamlLimitError (one line, with line and column) when the text is not read at all.
    """
    tagged = _check_events(text, max_depth, max_values)
    loader = _Loader(text)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as exc:
            raise _one_line(exc, text) from None
        if node is None:
            return YamlDocument(None)
        problems = _node_problems(loader, node, tagged)
        try:
            data = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise _one_line(exc, text) from None
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. an unhashable key built by PyYAML
            raise YamlLimitError(f"cannot be read: {_clip(str(exc))}") from None
        return YamlDocument(data, problems)
    finally:
        loader.dispose()


def safe_load(text: str, *, max_depth: int = MAX_DEPTH, max_values: int = MAX_VALUES) -> Any:
    """``load_yaml`` for callers without a place to report problems: the first one is raised."""
    doc = load_yaml(text, max_depth=max_depth, max_values=max_values)
    if doc.problems:
        first = doc.problems[0]
        more = f" (and {len(doc.problems) - 1} more)" if len(doc.problems) > 1 else ""
        raise YamlLimitError(f"{first.path or 'document'}: {first.message}{more}", line=first.line)
    return doc.data


# --- pass 1: events (bounded before anything is built) ------------------------------------------

def _check_events(text: str, max_depth: int, max_values: int) -> set[tuple[int, int]]:
    """Refuse a second document, unknown tags, recursive aliases, nesting deeper than `max_depth`
    and more than `max_values` values once aliases are expanded, while streaming the parse events
    (no recursion, no value built), so a hostile file fails fast.

    Returns where the explicitly tagged scalars start (their meaning is written down, not guessed).
    """
    tagged: set[tuple[int, int]] = set()
    try:
        loader = _Loader(text)
    except yaml.YAMLError as exc:  # the pure-Python reader checks the characters up front
        raise _one_line(exc, text) from None
    # One entry per open collection: [values in it so far, its anchor, its height].
    stack: list[list[Any]] = []
    sizes: dict[str, int] = {}
    heights: dict[str, int] = {}
    documents = 0
    total = 0

    def add(count: int, height: int, mark: Any) -> None:
        nonlocal total
        if len(stack) + height > max_depth:
            raise YamlLimitError(f"nests deeper than {max_depth} levels (counting what aliases expand to)",
                                 *_mark(mark))
        if stack:
            stack[-1][0] += count
            stack[-1][2] = max(stack[-1][2], height + 1)
            size = stack[-1][0]
        else:
            total += count
            size = total
        if size > max_values:
            raise YamlLimitError(f"expands to more than {max_values:,} values (YAML aliases repeat what they refer "
                                 f"to; is this a 'billion laughs' file?)", *_mark(mark))

    try:
        try:
            while loader.check_event():
                event = loader.get_event()
                if isinstance(event, events.DocumentStartEvent):
                    documents += 1
                    if documents > 1:
                        raise YamlLimitError("holds more than one YAML document (a '---' line starts another); "
                                             "this file must be one document", *_mark(event.start_mark))
                elif isinstance(event, (events.MappingStartEvent, events.SequenceStartEvent)):
                    _check_tag(event)
                    if len(stack) + 1 > max_depth:
                        raise YamlLimitError(f"nests deeper than {max_depth} levels", *_mark(event.start_mark))
                    stack.append([1, event.anchor, 1])
                    if event.anchor is not None:
                        sizes.pop(event.anchor, None)  # re-anchored: open until it ends
                        heights[event.anchor] = -1
                elif isinstance(event, (events.MappingEndEvent, events.SequenceEndEvent)):
                    size, anchor, height = stack.pop()
                    if anchor is not None:
                        sizes[anchor], heights[anchor] = size, height
                    add(size, height, event.start_mark)
                elif isinstance(event, events.ScalarEvent):
                    _check_tag(event)
                    if event.tag not in (None, "!") and event.start_mark is not None:
                        tagged.add((event.start_mark.line, event.start_mark.column))
                    if event.anchor is not None:
                        sizes[event.anchor], heights[event.anchor] = 1, 0
                    add(1, 0, event.start_mark)
                elif isinstance(event, events.AliasEvent):
                    anchor = str(event.anchor)
                    if heights.get(anchor) == -1:
                        raise YamlLimitError(f"the alias *{_clip(anchor, 40)} refers to the node that holds "
                                             f"it (a recursive structure)", *_mark(event.start_mark))
                    # An undefined alias is the composer's error, with its own message.
                    add(sizes.get(anchor, 1), heights.get(anchor, 0), event.start_mark)
        except YamlLimitError:
            raise
        except yaml.YAMLError as exc:
            if "maximum nesting depth" in str(exc):
                # LibYAML (PyYAML >= 6.0.2) stops at 1,000 levels itself, and may read that far
                # ahead of the events checked above: the same limit, said the same way.
                mark = getattr(exc, "problem_mark", None)
                raise YamlLimitError(f"nests deeper than {max_depth} levels", *_mark(mark)) from None
            raise _one_line(exc, text) from None
    finally:
        loader.dispose()
    return tagged


def _check_tag(event: Any) -> None:
    tag = event.tag
    if tag is None or tag in ALLOWED_TAGS:
        return
    raise YamlLimitError(f"the tag {_clip(str(tag), 80)} is not allowed (only plain YAML values: text, numbers, "
                         f"true/false, null, lists and mappings)", *_mark(event.start_mark))


# --- pass 2: nodes (duplicate keys, ambiguous scalars) ------------------------------------------

def _node_problems(loader: Any, root: nodes.Node, tagged: set[tuple[int, int]]) -> list[YamlProblem]:
    """Repeated keys and ambiguous plain scalars, with their dotted paths (each node looked at once)."""
    problems: list[YamlProblem] = []
    seen: set[int] = set()
    todo: list[tuple[nodes.Node, str]] = [(root, "")]
    while todo:
        node, path = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, nodes.ScalarNode):
            explicit = (node.start_mark.line, node.start_mark.column) in tagged
            message = None if explicit else _ambiguity(loader, node)
            if message:
                problems.append(YamlProblem(path, node.start_mark.line + 1, message))
        elif isinstance(node, nodes.SequenceNode):
            todo.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, nodes.MappingNode):
            first_line: dict[Any, int] = {}
            children = []
            for key_node, value_node in node.value:
                if key_node.tag == MERGE:
                    children.append((value_node, path))
                    continue
                key: Any = "?"
                if isinstance(key_node, nodes.ScalarNode):
                    try:
                        key = loader.construct_object(key_node)
                    except yaml.YAMLError:
                        key = key_node.value
                    line = key_node.start_mark.line + 1
                    try:
                        if key in first_line:
                            problems.append(YamlProblem(
                                _join(path, key), line,
                                f"the key {_clip(str(key), 80)!r} appears twice in one mapping (lines "
                                f"{first_line[key]} and {line}); YAML would keep only the second, so remove one"))
                        else:
                            first_line[key] = line
                    except TypeError:
                        pass
                children.append((key_node, _join(path, key)))
                children.append((value_node, _join(path, key)))
            todo.extend(reversed(children))
    problems.sort(key=lambda p: p.line)
    return problems


def _ambiguity(loader: Any, node: nodes.ScalarNode) -> str | None:
    """Why a plain scalar is ambiguous (YAML 1.1 reads it as a non-text value, YAML 1.2 differently), or None."""
    if node.style not in (None, ""):  # plain is None (pure-Python parser) or "" (libyaml)
        return None  # quoted or a block scalar: text, as written
    tag11 = _RESOLVER_11.resolve(nodes.ScalarNode, node.value, (True, False))
    if tag11 == STR:
        return None  # YAML 1.1 reads text; YAML 1.2 reads it as written (1e3 and 0o17 are numbers)
    try:
        value11 = SafeConstructor().construct_object(nodes.ScalarNode(tag11, node.value))
    except (yaml.YAMLError, ValueError, OverflowError):
        return None
    try:
        value12 = loader.construct_object(node)
    except yaml.YAMLError:
        return None
    if type(value11) is type(value12) and (value11 == value12 or value11 != value11 and value12 != value12):
        return None
    text = _clip(node.value, 60)
    writes = list(dict.fromkeys(w for w in (_literal(value11), _literal(value12)) if w is not None))
    advice = f"write {' or '.join(writes)}, or quote it for text" if writes else "quote it for text"
    return (f"{text} (line {node.start_mark.line + 1}) is ambiguous: YAML 1.1 reads {_describe(value11)}, "
            f"YAML 1.2 {_describe(value12)}; {advice}")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"the text '{_clip(value, 60)}'"
    literal = _literal(value)
    return literal if literal is not None else f"a {type(value).__name__}"


def _literal(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return None


# --- helpers ------------------------------------------------------------------------------------

def _join(path: str, key: Any) -> str:
    part = _clip(str(key), 80)
    return f"{path}.{part}" if path else part


def _clip(text: str, limit: int = 200) -> str:
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                   for c in text[:limit + 1])
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _mark(mark: Any) -> tuple[int | None, int | None]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


def _one_line(exc: yaml.YAMLError, text: str) -> YamlLimitError:
    """PyYAML's multi-line error as one line: where, what, and in what context."""
    if isinstance(exc, YamlLimitError):
        return exc
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        return YamlLimitError(f"unacceptable character {char}: {exc.reason}", line, column)
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        parts = [_clip(str(exc.problem or exc.context or "invalid YAML"), 200)]
        if exc.context and exc.problem:
            context_line = f" at line {exc.context_mark.line + 1}" if exc.context_mark is not None else ""
            parts.append(f"({_clip(str(exc.context), 100)}{context_line})")
        return YamlLimitError(" ".join(parts), *_mark(mark))
    return YamlLimitError(_clip(" ".join(str(exc).split()), 200))
