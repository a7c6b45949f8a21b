"""Validation of ``master_training_plan.json`` against its JSON Schema, with the standard library only.

The schema lives next to this module in ``schemas/master_training_plan.schema.json`` (Draft 2020-12
style). No jsonschema package is used: this module carries a small validator for the subset of JSON
Schema that file uses, and refuses (``SchemaDefinitionError``) any keyword it does not implement, so
the schema and the validator cannot silently drift apart.

Supported keywords: ``type`` (a name or a list of names, ``"null"`` included), ``enum``, ``const``,
``minimum``, ``maximum``, ``minLength``, ``required``, ``properties``, ``additionalProperties``
(boolean or schema), ``propertyNames``, ``items`` (one schema for every element) and ``$ref`` to a
JSON pointer inside the same document (``#/$defs/...``). Annotations (``$schema``, ``$id``,
``$comment``, ``title``, ``description``, ``default``, ``examples``) and ``$defs`` are accepted and
ignored. When ``type`` fails, the other keywords of that schema are not reported for the same value,
so each mistake gives one message.

Public API:

* ``validate_plan_document(doc) -> list[str]`` — the first few violations as ``path: message``
  (for example ``jobs[3].priority: expected integer, got "x"``); ``[]`` when the plan is valid.
* ``validate_plan_file(path) -> list[str]`` — the same for a file or a training_plan folder, plus
  read and JSON parse errors (with line and column).
* ``check_plan(path) -> CheckedPlan`` — find (the paths ``load_plan`` accepts), read and validate a
  plan, legacy FoxML plans included: what ``foxwarehouse validate`` and ``diff`` check a file with.

Besides the schema, a plan must be consistent (checked only once it matches the schema): job ids are
unique, a ``cross_sectional`` job has ``symbol`` null and route ``ROUTE_CROSS_SECTIONAL``, a
``symbol_specific`` job has a symbol and one of the routes ``ROUTE_SYMBOL_SPECIFIC``, ``ROUTE_BOTH``,
``ROUTE_EXPERIMENTAL_ONLY``, a ``blocked`` job has a symbol and route ``ROUTE_BLOCKED``, and a target
has at most one cross-sectional job and a ``(target, symbol)`` pair at most one job.
"""
from __future__ import annotations

import contextvars
import difflib
import functools
import gc
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain, compress, groupby, repeat
from operator import is_, itemgetter, not_
from pathlib import Path
from typing import Any

__all__ = [
    "KNOWN_SCHEMA_VERSIONS",
    "MASTER_PLAN_FILENAME",
    "CheckedPlan",
    "check_plan",
    "SCHEMA_PATH",
    "SchemaDefinitionError",
    "format_path",
    "index_plan_jobs",
    "is_legacy_plan_document",
    "load_schema",
    "read_plan_document",
    "locate_plan",
    "paused_gc",
    "resolve_plan_path",
    "validate_legacy_plan_document",
    "validate_plan_document",
    "validate_plan_file",
]

#: Schema versions of master_training_plan.json this code understands.
KNOWN_SCHEMA_VERSIONS: tuple[str, ...] = ("1.0",)

MASTER_PLAN_FILENAME = "master_training_plan.json"

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "master_training_plan.schema.json"

DEFAULT_MAX_ERRORS = 10

FURTHER_ERRORS = "(further errors not shown)"
NESTED_TOO_DEEPLY = "nested too deeply (a plan holds a few levels of objects and lists)"

#: Which route each training_type may carry (the job rules of docs/ROUTING.md).
ROUTES_BY_TRAINING_TYPE: dict[str, frozenset[str]] = {
    "cross_sectional": frozenset({"ROUTE_CROSS_SECTIONAL"}),
    "symbol_specific": frozenset({"ROUTE_SYMBOL_SPECIFIC", "ROUTE_BOTH", "ROUTE_EXPERIMENTAL_ONLY"}),
    "blocked": frozenset({"ROUTE_BLOCKED"}),
}


class SchemaDefinitionError(Exception):
    """The schema document itself uses something this validator does not support (a bug, not bad input)."""


class _TooManyErrors(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# paths and value rendering

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def format_path(segments: list[Any] | tuple[Any, ...]) -> str:
    """``["jobs", 3, "priority"]`` -> ``jobs[3].priority``; ``[]`` -> ``(root)``."""
    out: list[str] = []
    for seg in segments:
        if isinstance(seg, int):
            out.append(f"[{seg}]")
        elif _IDENT.match(seg):
            out.append(f".{seg}" if out else seg)
        else:
            out.append(f"[{json.dumps(seg, ensure_ascii=False)}]")
    return "".join(out) or "(root)"


def _json_type(value: Any) -> str:
    t = type(value)
    if t is bool:
        return "boolean"
    if t is int:
        return "integer"
    if t is float:
        return "number"
    if t is str:
        return "string"
    if value is None:
        return "null"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    return t.__name__


def _show(value: Any, limit: int = 60) -> str:
    """A short rendering of a value for messages: scalars as JSON, containers by their type."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


# --------------------------------------------------------------------------------------------------
# the schema compiler: each (sub)schema becomes a function (value, path, errors) -> None

Validator = Callable[[Any, list, list], None]

_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "title", "description", "default", "examples", "$defs", "definitions"}
)
_SUPPORTED = frozenset(
    {
        "type",
        "enum",
        "const",
        "minimum",
        "maximum",
        "minLength",
        "required",
        "properties",
        "additionalProperties",
        "propertyNames",
        "items",
        "$ref",
    }
)
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "array": (list,),
    "object": (dict,),
}


def _enum_key(value: Any) -> Any:
    """Hashable identity for enum/const comparison that keeps JSON types apart (1 != true)."""
    if isinstance(value, (dict, list)):
        return (_json_type(value), json.dumps(value, sort_keys=True))
    if type(value) is float and value.is_integer():
        return ("number", int(value))
    if type(value) in (int, float):
        return ("number", value)
    return (_json_type(value), value)


class _Compiler:
    def __init__(self, root: dict):
        self.root = root
        self._refs: dict[str, Validator] = {}
        self._fast_refs: dict[str, Callable[[Any], bool]] = {}
        self._fast_all_refs: dict[str, Callable[[list, set], bool]] = {}

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise SchemaDefinitionError(f"only local $ref is supported, got {ref!r}")
        node: Any = self.root
        pointer = ref[1:]
        if pointer:
            if not pointer.startswith("/"):
                raise SchemaDefinitionError(f"bad $ref {ref!r}")
            for token in pointer[1:].split("/"):
                token = token.replace("~1", "/").replace("~0", "~")
                try:
                    node = node[int(token)] if isinstance(node, list) else node[token]
                except (KeyError, IndexError, ValueError, TypeError):
                    raise SchemaDefinitionError(f"$ref {ref!r} does not resolve") from None
        return node

    def ref(self, ref: str) -> Validator:
        if ref in self._refs:
            return self._refs[ref]
        # A trampoline makes recursive schemas work: the slot is filled after compiling the target.
        slot: list[Validator] = []

        def via_ref(value: Any, path: list, errors: list) -> None:
            slot[0](value, path, errors)

        self._refs[ref] = via_ref
        slot.append(self.compile(self.resolve(ref)))
        return via_ref

    def compile(self, schema: Any) -> Validator:
        if schema is True:
            return _accept
        if schema is False:
            return _reject_all
        if not isinstance(schema, dict):
            raise SchemaDefinitionError(f"a schema must be an object or a boolean, got {_show(schema)}")
        unknown = set(schema) - _SUPPORTED - _ANNOTATIONS
        if unknown:
            raise SchemaDefinitionError(f"unsupported JSON Schema keyword(s): {', '.join(sorted(unknown))}")

        type_check = self._type(schema["type"]) if "type" in schema else None
        checks: list[Validator] = []
        if "$ref" in schema:
            checks.append(self.ref(schema["$ref"]))
        if "const" in schema:
            checks.append(self._enum([schema["const"]], is_const=True))
        if "enum" in schema:
            checks.append(self._enum(schema["enum"]))
        if "minimum" in schema or "maximum" in schema:
            checks.append(self._range(schema.get("minimum"), schema.get("maximum")))
        if "minLength" in schema:
            checks.append(self._min_length(schema["minLength"]))
        if any(k in schema for k in ("required", "properties", "additionalProperties", "propertyNames")):
            checks.append(self._object(schema))
        if "items" in schema:
            checks.append(self._items(schema["items"]))

        if type_check is None and len(checks) == 1:
            return checks[0]

        def node(value: Any, path: list, errors: list) -> None:
            if type_check is not None and not type_check(value, path, errors):
                return
            for check in checks:
                check(value, path, errors)

        return node

    # -- keywords ---------------------------------------------------------------------------------

    @staticmethod
    def _type(spec: Any) -> Callable[[Any, list, list], bool]:
        names = [spec] if isinstance(spec, str) else list(spec)
        if not names or any(n not in _PY_TYPES for n in names):
            raise SchemaDefinitionError(f"bad type {spec!r}")
        allowed: set[type] = set()
        for n in names:
            allowed.update(_PY_TYPES[n])
        integer_only = "integer" in names and "number" not in names
        expected = " or ".join(names)

        def check(value: Any, path: list, errors: list) -> bool:
            t = type(value)  # exact types: bool (an int subclass) is only accepted as "boolean"
            if t in allowed:
                return True
            if t is float and integer_only and value.is_integer():
                return True  # JSON Schema: 3.0 is an integer
            _add(errors, path, f"expected {expected}, got {_show(value)}")
            return False

        return check

    @staticmethod
    def _enum(values: Any, is_const: bool = False) -> Validator:
        if not isinstance(values, list) or not values:
            raise SchemaDefinitionError("enum must be a non-empty array")
        keys = frozenset(_enum_key(v) for v in values)
        if is_const:
            wanted = f"must be {_show(values[0])}"
        else:
            wanted = "is not one of " + ", ".join(_show(v) for v in values)

        def check(value: Any, path: list, errors: list) -> None:
            if _enum_key(value) not in keys:
                if is_const:
                    _add(errors, path, f"{wanted}, got {_show(value)}")
                else:
                    _add(errors, path, f"{_show(value)} {wanted}")

        return check

    @staticmethod
    def _range(minimum: Any, maximum: Any) -> Validator:
        def check(value: Any, path: list, errors: list) -> None:
            if type(value) not in (int, float):
                return
            if minimum is not None and value < minimum:
                _add(errors, path, f"{_show(value)} is less than the minimum {_show(minimum)}")
            elif maximum is not None and value > maximum:
                _add(errors, path, f"{_show(value)} is greater than the maximum {_show(maximum)}")

        return check

    @staticmethod
    def _min_length(n: int) -> Validator:
        def check(value: Any, path: list, errors: list) -> None:
            if type(value) is str and len(value) < n:
                if n == 1:
                    _add(errors, path, "must not be empty")
                else:
                    _add(errors, path, f"must be at least {n} characters long, got {len(value)}")

        return check

    def _object(self, schema: dict) -> Validator:
        required: list[str] = list(schema.get("required", []))
        props: dict[str, Validator] = {k: self.compile(v) for k, v in schema.get("properties", {}).items()}
        prop_items = list(props.items())
        additional = schema.get("additionalProperties", True)
        extra_check: Validator | None = None
        extra_forbidden = additional is False
        if isinstance(additional, dict):
            extra_check = self.compile(additional)
        names_check = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        known = sorted(props)

        def check(value: Any, path: list, errors: list) -> None:
            if type(value) is not dict:
                return
            for key in required:
                if key not in value:
                    path.append(key)
                    _add(errors, path, "required key is missing")
                    path.pop()
            for key, sub in prop_items:
                if key in value:
                    path.append(key)
                    sub(value[key], path, errors)
                    path.pop()
            if extra_forbidden or extra_check is not None or names_check is not None:
                for key in value:
                    if names_check is not None:
                        path.append(key)
                        names_check(key, path, errors)
                        path.pop()
                    if key in props:
                        continue
                    if extra_forbidden:
                        path.append(key)
                        hint = difflib.get_close_matches(key, known, n=1)
                        msg = "unknown key"
                        if hint:
                            msg += f' (did you mean "{hint[0]}"?)'
                        _add(errors, path, msg)
                        path.pop()
                    elif extra_check is not None:
                        path.append(key)
                        extra_check(value[key], path, errors)
                        path.pop()

        return check

    def _items(self, items: Any) -> Validator:
        sub = self.compile(items)
        ok = self.fast(items)
        all_ok = self.fast_all(items)

        def check(value: Any, path: list, errors: list) -> None:
            if type(value) is not list or all_ok(value):  # a valid array: checked column by column
                return
            for i, element in enumerate(value):
                if ok(element):  # the common case: skip the path bookkeeping of the detailed pass
                    continue
                path.append(i)
                sub(element, path, errors)
                path.pop()

        return check

    # -- fast predicates: the same rules as compile(), answering only valid/invalid ----------------

    def fast(self, schema: Any) -> Callable[[Any], bool]:
        """A predicate equivalent to ``compile(schema)`` reporting no error (used to skip valid items)."""
        if schema is True:
            return lambda value: True
        if schema is False:
            return lambda value: False
        preds: list[Callable[[Any], bool]] = []
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
            allowed: set[type] = set()
            for n in names:
                allowed.update(_PY_TYPES[n])
            integer_only = "integer" in names and "number" not in names

            def type_ok(v: Any, allowed: set = allowed, integer_only: bool = integer_only) -> bool:
                t = type(v)
                return t in allowed or (integer_only and t is float and v.is_integer())

            preds.append(type_ok)
        if "$ref" in schema:
            preds.append(self._fast_ref(schema["$ref"]))
        for values in ([schema["const"]] if "const" in schema else None, schema.get("enum")):
            if values is None:
                continue
            if all(type(v) is str for v in values):
                strings = frozenset(values)

                def in_strings(v: Any, strings: frozenset[str] = strings) -> bool:
                    return type(v) is str and v in strings

                preds.append(in_strings)
            else:
                keys = frozenset(_enum_key(v) for v in values)

                def in_keys(v: Any, keys: frozenset[Any] = keys) -> bool:
                    return _enum_key(v) in keys

                preds.append(in_keys)
        if "minimum" in schema or "maximum" in schema:
            lo, hi = schema.get("minimum"), schema.get("maximum")

            def in_range(v: Any, lo: Any = lo, hi: Any = hi) -> bool:
                return type(v) not in (int, float) or ((lo is None or v >= lo) and (hi is None or v <= hi))

            preds.append(in_range)
        if "minLength" in schema:
            n = schema["minLength"]

            def long_enough(v: Any, n: int = n) -> bool:
                return type(v) is not str or len(v) >= n

            preds.append(long_enough)
        if any(k in schema for k in ("required", "properties", "additionalProperties", "propertyNames")):
            preds.append(self._fast_object(schema))
        if "items" in schema:
            sub_all = self.fast_all(schema["items"])

            def items_ok(v: Any, sub_all: Callable[[list], bool] = sub_all) -> bool:
                return type(v) is not list or sub_all(v)

            preds.append(items_ok)
        if len(preds) == 1:
            return preds[0]

        def node(v: Any, preds: list = preds) -> bool:
            for pred in preds:
                if not pred(v):
                    return False
            return True

        return node

    # -- column-wise predicates: the same answer as all(map(fast(schema), values)), much faster -------
    #
    # A million jobs checked one by one cost seconds of Python calls; checked a column at a time
    # (every job's "priority", then every "route"...) the loops run in C (map, set, min). The set
    # of types in a column is computed once and shared by its keywords; anything unusual (mixed
    # types, a missing key, a float where an integer is expected) falls back to the per-value
    # predicate, so the answer is always the one fast() gives.

    def fast_all(self, schema: Any) -> Callable[[list], bool]:
        """A predicate over a list: True when every element is valid against ``schema``."""
        check = self._fast_all_typed(schema)
        return lambda values: check(values, set(map(type, values)))

    def _fast_all_typed(self, schema: Any) -> Callable[[list, set], bool]:
        """Like fast_all, given the set of the values' types as well."""
        if schema is True:
            return lambda vs, types: True
        if schema is False:
            return lambda vs, types: not vs
        one = self.fast(schema)

        def each(vs: list, types: set) -> bool:
            return all(map(one, vs))

        preds: list[Callable[[list, set], bool]] = []
        if "type" in schema:
            names = [schema["type"]] if isinstance(schema["type"], str) else list(schema["type"])
            allowed: set[type] = set()
            for n in names:
                allowed.update(_PY_TYPES[n])
            exact = frozenset(allowed)
            preds.append(lambda vs, types: types <= exact or each(vs, types))  # 3.0 as an integer: rare
        if "$ref" in schema:
            preds.append(self._fast_all_ref(schema["$ref"]))
        for values in ([schema["const"]] if "const" in schema else None, schema.get("enum")):
            if values is None:
                continue
            if all(type(v) is str for v in values):
                strings = frozenset(values)

                def in_strings(vs: list, types: set, strings: frozenset = strings) -> bool:
                    return set(vs) <= strings if types <= _STR_ONLY else each(vs, types)

                preds.append(in_strings)
            else:
                preds.append(each)
        if "minimum" in schema or "maximum" in schema:
            lo, hi = schema.get("minimum"), schema.get("maximum")

            def in_range(vs: list, types: set, lo: Any = lo, hi: Any = hi) -> bool:
                if not vs or not types & _NUMBERS:
                    return True
                if types <= _INT_ONLY:
                    return (lo is None or min(vs) >= lo) and (hi is None or max(vs) <= hi)
                return each(vs, types)

            preds.append(in_range)
        if "minLength" in schema:
            n = schema["minLength"]

            def long_enough(vs: list, types: set, n: int = n) -> bool:
                if str not in types:
                    return True
                if n == 1 and types <= _STR_OR_NULL:
                    return "" not in vs
                if types <= _STR_ONLY:
                    return min(map(len, vs)) >= n
                return each(vs, types)

            preds.append(long_enough)
        if any(k in schema for k in ("required", "properties", "additionalProperties", "propertyNames")):
            preds.append(self._fast_all_object(schema))
        if "items" in schema:
            sub_all = self.fast_all(schema["items"])

            def items_all(vs: list, types: set, sub_all: Callable[[list], bool] = sub_all) -> bool:
                if list not in types:
                    return True
                lists = vs if types <= _LIST_ONLY else [v for v in vs if type(v) is list]
                return sub_all(list(chain.from_iterable(lists)))

            preds.append(items_all)

        def node(vs: list, types: set, preds: list = preds) -> bool:
            for pred in preds:
                if not pred(vs, types):
                    return False
            return True

        return preds[0] if len(preds) == 1 else node

    def _fast_all_ref(self, ref: str) -> Callable[[list, set], bool]:
        if ref in self._fast_all_refs:
            return self._fast_all_refs[ref]
        slot: list[Callable[[list, set], bool]] = []
        self._fast_all_refs[ref] = lambda vs, types: slot[0](vs, types)
        slot.append(self._fast_all_typed(self.resolve(ref)))
        return self._fast_all_refs[ref]

    def _fast_all_object(self, schema: dict) -> Callable[[list, set], bool]:
        required = list(schema.get("required", []))
        props = {k: self.fast_all(v) for k, v in schema.get("properties", {}).items()}
        prop_names = frozenset(props)
        additional = schema.get("additionalProperties", True)
        extra = self.fast_all(additional) if isinstance(additional, dict) else None
        closed = additional is False
        names = self.fast_all(schema["propertyNames"]) if "propertyNames" in schema else None
        # Every listed key required and no other allowed: a dict holding all of them and nothing
        # else has exactly len(props) keys, so the shapes need not be compared key by key.
        all_required = closed and prop_names <= frozenset(required)
        need_keys = not all_required and (closed or extra is not None or names is not None)

        def ok(vs: list, types: set) -> bool:
            if dict not in types:
                return True
            dicts = vs if types <= _DICT_ONLY else [v for v in vs if type(v) is dict]
            columns: dict[str, list] = {}
            try:
                for key in required:
                    columns[key] = list(map(itemgetter(key), dicts))
            except KeyError:
                return False  # a required key is missing somewhere
            sink = _COLUMN_SINK.get()
            if sink is not None and dicts is vs:  # index_plan_jobs reads the same columns again
                sink[id(vs)] = (vs, columns)
            keys: Any = prop_names
            if all_required:
                if set(map(len, dicts)) != {len(prop_names)}:
                    return False
            elif need_keys:
                keys = set().union(*map(set, set(map(tuple, dicts))))
                if closed and not keys <= prop_names:
                    return False
            for key, sub_all in props.items():
                column = columns.get(key)
                if column is None:
                    if need_keys and key not in keys:
                        continue
                    column = _column(dicts, key)
                if not sub_all(column):
                    return False
            if need_keys:
                if names is not None and not names(list(keys)):
                    return False
                if extra is not None:
                    for key in keys - prop_names:
                        if not extra(_column(dicts, key)):
                            return False
            return True

        return ok

    def _fast_ref(self, ref: str) -> Callable[[Any], bool]:
        if ref in self._fast_refs:
            return self._fast_refs[ref]
        slot: list[Callable[[Any], bool]] = []
        self._fast_refs[ref] = lambda v: slot[0](v)
        slot.append(self.fast(self.resolve(ref)))
        return self._fast_refs[ref]

    def _fast_object(self, schema: dict) -> Callable[[Any], bool]:
        required = frozenset(schema.get("required", []))
        props = {k: self.fast(v) for k, v in schema.get("properties", {}).items()}
        prop_items = list(props.items())
        prop_names = frozenset(props)
        additional = schema.get("additionalProperties", True)
        extra = self.fast(additional) if isinstance(additional, dict) else None
        closed = additional is False
        names = self.fast(schema["propertyNames"]) if "propertyNames" in schema else None

        def ok(v: Any) -> bool:
            if type(v) is not dict:
                return True
            keys = v.keys()
            if not required <= keys:
                return False
            if closed and not keys <= prop_names:
                return False
            for key, sub in prop_items:
                if key in v and not sub(v[key]):
                    return False
            if names is not None and not all(map(names, keys)):
                return False
            if extra is not None:
                for key in keys - prop_names:
                    if not extra(v[key]):
                        return False
            return True

        return ok


_STR_ONLY = frozenset({str})
_STR_OR_NULL = frozenset({str, type(None)})
_NUMBERS = frozenset({int, float})
_INT_ONLY = frozenset({int})
_DICT_ONLY = frozenset({dict})
_LIST_ONLY = frozenset({list})


def _column(dicts: list[dict], key: str) -> list:
    """The values of ``key`` in the dicts that hold it."""
    try:
        return list(map(itemgetter(key), dicts))
    except KeyError:
        return [d[key] for d in dicts if key in d]


def _accept(value: Any, path: list, errors: list) -> None:
    return None


def _reject_all(value: Any, path: list, errors: list) -> None:
    _add(errors, path, "no value is allowed here")


def _add(errors: list, path: list, message: str) -> None:
    errors.append(f"{format_path(path)}: {message}")
    if len(errors) > errors_cap(errors):  # one past the cap: proof that errors were left out
        raise _TooManyErrors


class _ErrorList(list):
    """A list that knows how many errors to collect before validation stops."""

    def __init__(self, cap: int):
        super().__init__()
        self.cap = cap


def errors_cap(errors: list) -> int:
    return getattr(errors, "cap", 1 << 62)


@functools.cache
def load_schema() -> dict:
    """The shipped master_training_plan JSON Schema (parsed once)."""
    with open(SCHEMA_PATH, encoding="utf-8") as fh:
        return json.load(fh)


@functools.cache
def _plan_validator() -> Validator:
    schema = load_schema()
    compiler = _Compiler(schema)
    detailed = compiler.compile(schema)
    ok = compiler.fast(schema)

    def validate(doc: Any, path: list, errors: list) -> None:
        if not ok(doc):
            detailed(doc, path, errors)

    return validate


# --------------------------------------------------------------------------------------------------
# public validation API


#: Where the column-wise object check leaves the columns it extracted (id(list) -> (list, columns)),
#: for index_plan_jobs to reuse within one load_plan (see validate_plan_document's `columns`).
_COLUMN_SINK: contextvars.ContextVar[dict | None] = contextvars.ContextVar("plan_schema_columns", default=None)


def validate_plan_document(doc: Any, max_errors: int = DEFAULT_MAX_ERRORS, consistency: bool = True,
                           columns: dict | None = None) -> list[str]:
    """Validate a parsed plan; return up to ``max_errors`` messages ``path: message`` ([] = valid).

    An unknown ``metadata.schema_version`` is reported alone (the rest of the document is not
    checked against a schema it was not written for). When more violations exist than are
    reported, a last line ``(further errors not shown)`` says so. ``consistency=False`` checks the
    shape only (the schema), not the rules across jobs (unique ids and keys): ``diff`` compares
    hand-edited plans and warns about a repeated job itself. `columns`, a dict, receives the job
    columns the check extracted, for :func:`index_plan_jobs` (``columns=`` there) to reuse.
    """
    max_errors = max(1, int(max_errors))
    version_error = _schema_version_error(doc)
    if version_error:
        return [version_error]
    errors = _ErrorList(max_errors)
    truncated = False
    token = _COLUMN_SINK.set(columns)
    try:
        _plan_validator()(doc, [], errors)
        if not errors and consistency:
            _consistency(doc, errors)
    except _TooManyErrors:
        truncated = True
    except RecursionError:
        errors.append(f"(root): {NESTED_TOO_DEEPLY}")
    finally:
        _COLUMN_SINK.reset(token)
    result = list(errors[:max_errors])
    if truncated:
        result.append(FURTHER_ERRORS)
    return result


def _schema_version_error(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    meta = doc.get("metadata")
    if not isinstance(meta, dict):
        return None
    version = meta.get("schema_version")
    if not isinstance(version, str) or version in KNOWN_SCHEMA_VERSIONS:
        return None
    supported = ", ".join(f'"{v}"' for v in KNOWN_SCHEMA_VERSIONS)
    return (
        f"metadata.schema_version: unsupported schema version {_show(version)}; "
        f"this version of foxwarehouse supports {supported} (upgrade foxwarehouse to read this plan)"
    )


_KIND_OK = frozenset((ttype, route, ttype == "cross_sectional")  # (training_type, route, symbol is None)
                     for ttype, routes in ROUTES_BY_TRAINING_TYPE.items() for route in routes)


def index_plan_jobs(doc: dict, one_cs_job_per_target: bool = True,
                    columns: dict | None = None) -> dict[str, dict[str | None, dict]] | None:
    """``target -> {symbol: job}`` of a schema-valid plan that passes every consistency rule, else None.

    The rules of :func:`validate_plan_document` besides the schema (``metadata.total_jobs`` too),
    checked a column at a time so that a million jobs cost a fraction of a second; a
    cross-sectional job has the symbol None. None means some rule fails: the per-job check then
    names it. With ``one_cs_job_per_target=False`` (legacy plans) the answer is {} when consistent.
    """
    jobs = doc["jobs"]
    n = len(jobs)
    meta = doc.get("metadata")
    total = meta.get("total_jobs") if isinstance(meta, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total != n:
        return None
    entry = (columns or {}).get(id(jobs))
    known: dict[str, list] = entry[1] if entry is not None and entry[0] is jobs else {}

    def column(key: str) -> list:
        return known[key] if key in known else list(map(itemgetter(key), jobs))

    if len(set(column("job_id"))) != n:
        return None
    targets = column("target")
    symbols = column("symbol")
    no_symbol = list(map(is_, symbols, repeat(None)))
    if not set(zip(column("training_type"), column("route"), no_symbol)) <= _KIND_OK:
        return None
    if not one_cs_job_per_target:
        pairs = list(compress(zip(targets, symbols), map(not_, no_symbol)))
        return {} if len(set(pairs)) == len(pairs) else None
    # A cross-sectional job has symbol None and every other job a symbol, so (target, symbol) is
    # unique exactly when each target has one cross-sectional job and each pair one job. Jobs
    # come grouped by target: one dict per run of a target, filled in C.
    index: dict[str, dict[str | None, dict]] = {}
    for target, group in groupby(zip(targets, symbols, jobs), key=itemgetter(0)):
        by_symbol = dict(map(_SYMBOL_AND_JOB, group))
        if target in index:  # the target again, after another one (a plan not grouped by target)
            index[target].update(by_symbol)
        else:
            index[target] = by_symbol
    return index if sum(map(len, index.values())) == n else None


_SYMBOL_AND_JOB = itemgetter(1, 2)


def _consistency(doc: dict, errors: list, one_cs_job_per_target: bool = True) -> None:
    """Checks JSON Schema cannot express: unique ids and keys, training_type vs symbol and route."""
    if index_plan_jobs(doc, one_cs_job_per_target) is not None:
        return  # consistent: the per-job pass below only runs to name what is wrong
    meta = doc.get("metadata")
    total = meta.get("total_jobs") if isinstance(meta, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total != len(doc["jobs"]):
        _add(errors, ["metadata", "total_jobs"],
             f"says {total} jobs but the plan has {len(doc['jobs'])} (a damaged or hand-edited plan)")
    seen_ids: dict[str, int] = {}
    cs_by_target: dict[str, int] = {}
    job_by_pair: dict[tuple[str, str], int] = {}
    path: list = ["jobs", 0]
    for i, job in enumerate(doc["jobs"]):
        path[1] = i
        job_id = job["job_id"]
        first = seen_ids.setdefault(job_id, i)
        if first != i:
            _add(errors, path + ["job_id"], f"duplicate job_id {_show(job_id)} (first used by jobs[{first}])")
        ttype = job["training_type"]
        symbol = job["symbol"]
        target = job["target"]
        if job["route"] not in ROUTES_BY_TRAINING_TYPE[ttype]:
            allowed = ", ".join(sorted(ROUTES_BY_TRAINING_TYPE[ttype]))
            _add(errors, path + ["route"], f"{_show(job['route'])} is not a route of a {ttype} job (allowed: {allowed})")
        if ttype == "cross_sectional":
            if symbol is not None:
                _add(errors, path + ["symbol"], f"a cross_sectional job must have symbol null, got {_show(symbol)}")
                continue
            first = cs_by_target.setdefault(target, i)
            if first != i and one_cs_job_per_target:
                _add(errors, path, f"second cross_sectional job for target {_show(target)} (first is jobs[{first}])")
        else:
            if symbol is None:
                _add(errors, path + ["symbol"], f"a {ttype} job needs a symbol, got null")
                continue
            first = job_by_pair.setdefault((target, symbol), i)
            if first != i:
                _add(
                    errors,
                    path,
                    f"second job for target {_show(target)} and symbol {_show(symbol)} (first is jobs[{first}])",
                )


MIRROR_FILENAME = "training_plan.json"
COPY_HINT = ("copy plan folders with `cp -rL` or `rsync -aL` (following links), or export the plan again")


def locate_plan(path: str | os.PathLike) -> tuple[Path | None, str]:
    """Where the plan at ``path`` is: ``(file, kind)``.

    kind is ``"master"`` (the master JSON file), ``"mirror"`` (a folder holding only the
    ``training_plan.json`` mirror), ``"missing"`` (nothing at all at ``path``: file None),
    ``"broken"`` (a dangling or looping link: file is that link) or ``"empty"`` (a folder holding
    no plan file: file None). ``path`` may be the master file, a training_plan folder, or an export
    folder holding ``training_plan/``. Links are followed; a link that leads nowhere is never
    mistaken for "no plan".
    """
    p = Path(os.fspath(path)).expanduser()
    if not os.path.lexists(p):
        return None, "missing"
    if not p.exists():
        return p, "broken"
    if not p.is_dir():
        return p, "master"
    folders = [p, p / "training_plan"]
    for folder in folders:
        candidate = folder / MASTER_PLAN_FILENAME
        if os.path.lexists(candidate):
            return candidate, ("master" if candidate.exists() else "broken")
    sub = folders[1]
    if os.path.lexists(sub) and not sub.exists():
        return sub, "broken"
    for folder in folders:
        candidate = folder / MIRROR_FILENAME
        if os.path.lexists(candidate):
            return candidate, ("mirror" if candidate.exists() else "broken")
    return None, "empty"


def resolve_plan_path(path: str | os.PathLike) -> Path | None:
    """The plan JSON file a path designates, or None when there is none.

    ``path`` may be the master file itself, a training_plan folder holding it (or only its
    ``training_plan.json`` mirror), or an export folder holding ``training_plan/``. A path that
    exists but is not a folder is returned as is (it is read as the plan file, whatever its name);
    so is a dangling link, so that reading it fails loudly.
    """
    file, _ = locate_plan(path)
    return file


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside: parsing a plan makes millions of containers, none of
    them garbage, and the collector would walk them over and over (a third of json.load's time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} is not allowed in a plan (JSON holds only finite numbers)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object as a dict, refusing a key given twice (json.loads would keep the last silently)."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {json.dumps(key, ensure_ascii=False)} in one JSON object")
            seen.add(key)
    return obj


def read_plan_document(file: str | os.PathLike) -> tuple[Any, list[str]]:
    """Read and parse one JSON file: ``(document, [])`` or ``(None, [message])``.

    Only a regular file is read: a FIFO would block forever and a device may never end, so the file
    is opened without blocking and checked before a byte is read.
    """
    try:
        fd = os.open(file, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except IsADirectoryError:
        return None, [f"{os.fspath(file)} is a folder without {MASTER_PLAN_FILENAME}"]
    except OSError as exc:
        return None, [f"cannot read file: {exc.strerror or exc}"]
    try:
        with open(fd, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            if stat.S_ISDIR(mode):
                return None, [f"{os.fspath(file)} is a folder without {MASTER_PLAN_FILENAME}"]
            if not stat.S_ISREG(mode):
                return None, ["not a regular file (a FIFO, socket or device is never read as a plan)"]
            data = fh.read()
    except OSError as exc:
        return None, [f"cannot read file: {exc.strerror or exc}"]
    if not data or data.isspace():  # (not data.strip(): that copies a 300 MB plan)
        return None, ["the file is empty (an interrupted export?)"]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return None, [f"not UTF-8 text (invalid byte at offset {exc.start})"]
    del data  # the bytes and the text of a 300 MB plan need not both live through the parse
    try:
        with paused_gc():
            return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_unique_keys), []
    except json.JSONDecodeError as exc:
        message = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        if exc.pos >= len(text.rstrip()):
            message += " (the file ends early: truncated?)"
        return None, [message]
    except RecursionError:
        return None, [f"invalid JSON: {NESTED_TOO_DEEPLY}"]
    except ValueError as exc:
        return None, [f"invalid JSON: {exc}"]


def validate_plan_file(path: str | os.PathLike, max_errors: int = DEFAULT_MAX_ERRORS) -> list[str]:
    """Validate a master_training_plan.json (or the training_plan folder holding it).

    Returns ``[]`` when the plan is valid, otherwise messages: a missing file, a read error, a JSON
    parse error with line and column, or up to ``max_errors`` schema violations ``path: message``.
    """
    file = resolve_plan_path(path)
    if file is None:
        p = Path(os.fspath(path)).expanduser()
        if p.is_dir():
            return [f"no {MASTER_PLAN_FILENAME} in folder {p}"]
        return [f"file not found: {p}"]
    doc, errors = read_plan_document(file)
    if errors:
        return errors
    return validate_plan_document(doc, max_errors=max_errors)


@dataclass
class CheckedPlan:
    """What ``check_plan`` found at a path.

    ``stage`` says where it stopped: ``"locate"`` (nothing usable at the path: ``file`` is None or a
    dangling link), ``"read"`` (the file cannot be read or parsed), ``"schema"`` (the document does
    not match the plan's shape) or ``"ok"``. ``kind`` is ``locate_plan``'s kind.
    """

    path: Path
    file: Path | None
    kind: str
    stage: str
    problems: list[str]
    document: Any = None
    legacy: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def one_line(self) -> str:
        """The problems joined into one line (a message is one line on stderr)."""
        shown = [p for p in self.problems if p != FURTHER_ERRORS]
        return "; ".join(shown) + ("; and more" if len(shown) < len(self.problems) else "")


def check_plan(path: str | os.PathLike, max_errors: int = DEFAULT_MAX_ERRORS, consistency: bool = True) -> CheckedPlan:
    """Find, read and validate the plan at ``path``: the paths ``load_plan`` accepts (the master file,
    a training_plan folder, an export folder holding ``training_plan/``, a folder holding only the
    ``training_plan.json`` mirror). A plan without ``metadata.schema_version`` written by FoxML's
    generator is checked against the legacy shape (``legacy`` True)."""
    where = Path(os.fspath(path)).expanduser()
    file, kind = locate_plan(where)
    if kind == "missing" or file is None:
        what = "no such file or folder" if kind == "missing" else f"no {MASTER_PLAN_FILENAME} in the folder"
        return CheckedPlan(where, None, kind, "locate", [what])
    if kind == "broken":
        return CheckedPlan(where, file, kind, "locate",
                           [f"{file} is a link that leads nowhere (a dangling or looping symlink); {COPY_HINT}"])
    doc, errors = read_plan_document(file)
    if errors:
        return CheckedPlan(where, file, kind, "read", errors)
    legacy = is_legacy_plan_document(doc)
    validate = validate_legacy_plan_document if legacy else validate_plan_document
    errors = validate(doc, max_errors=max_errors, consistency=consistency)
    return CheckedPlan(where, file, kind, "schema" if errors else "ok", errors, doc, legacy)


# --------------------------------------------------------------------------------------------------
# plans written by FoxML's own generator (no schema_version): the legacy shape

LEGACY_SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "foxml_training_plan.schema.json"
#: metadata keys only foxwarehouse writes: a plan holding any of them is never read as a legacy plan
_FOXWAREHOUSE_ONLY_KEYS = ("schema_version", "input_fingerprint", "plan_fingerprint")


def is_legacy_plan_document(doc: Any) -> bool:
    """True for a plan FoxML's own generator wrote: a ``metadata`` object without ``schema_version``.

    A plan holding ``input_fingerprint`` or ``plan_fingerprint`` (which only foxwarehouse writes)
    is never legacy: without a schema_version it is a damaged foxwarehouse plan.
    """
    meta = doc.get("metadata") if isinstance(doc, dict) else None
    return isinstance(meta, dict) and not any(key in meta for key in _FOXWAREHOUSE_ONLY_KEYS)


@functools.cache
def _legacy_validator() -> Validator:
    with open(LEGACY_SCHEMA_PATH, encoding="utf-8") as fh:
        schema = json.load(fh)
    return _Compiler(schema).compile(schema)


def validate_legacy_plan_document(doc: Any, max_errors: int = DEFAULT_MAX_ERRORS, consistency: bool = True) -> list[str]:
    """Validate a legacy plan (FoxML's generator) against the legacy shape; like ``validate_plan_document``.

    The same consistency rules apply, except that a target may have several cross-sectional jobs
    (FoxML's dev-mode fallback writes one per model family).
    """
    max_errors = max(1, int(max_errors))
    errors = _ErrorList(max_errors)
    truncated = False
    try:
        _legacy_validator()(doc, [], errors)
        if not errors and consistency:
            _consistency(doc, errors, one_cs_job_per_target=False)
    except _TooManyErrors:
        truncated = True
    except RecursionError:
        errors.append(f"(root): {NESTED_TOO_DEEPLY}")
    result = list(errors[:max_errors])
    if truncated:
        result.append(FURTHER_ERRORS)
    return result
