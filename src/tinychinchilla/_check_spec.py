"""The answer spec (``answers.toml``): loading it, validating each question, and the small
expression language its references are written in. Part of :mod:`tinychinchilla.check`, which
re-exports everything here; the lessons import ``check``, never this module."""

from __future__ import annotations

import ast
import difflib
import functools
import importlib
import math
import operator
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

SPEC_FILE = "answers.toml"
QUESTION_ID = re.compile(r"^(?P<lesson>\d\d)\.(?P<name>[a-z0-9_]+)$")
KINDS = ("numeric", "written")
# Package modules an expression in the spec may use, imported only when first needed (so the
# lesson 00 questions do not import torch).
PACKAGE_MODULES = ("paper", "counting", "fit", "data", "model", "train", "sweep", "evaluate", "runs")
# Graded assignments (issue 17): the kit's spec holds no reference for their numeric questions,
# only a `form`. The instructor's references (autograder/graded_answers.toml) are overlaid on the
# spec when this variable names that file (grading only; an empty value means "none").
REFERENCES_ENV = "TINYCHINCHILLA_REFERENCES"


class SpecError(ValueError):
    """The answer spec is malformed (a course-building error, not a learner's)."""


# ---------------------------------------------------------------------------------------------
# The spec
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Question:
    """One graded question as the spec describes it."""

    id: str
    kind: str
    title: str
    points: float
    source: str
    hint: str
    rel_tol: float = 0.0
    abs_tol: float = 0.0
    value: float | None = None
    compute: str | None = None
    where: tuple[tuple[str, str], ...] = ()
    mistakes: tuple[dict, ...] = ()
    form: tuple[str, float, float] | None = None  # (unit, min, max) of a graded question

    @property
    def lesson(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def reference_is_instructor_side(self) -> bool:
        """A graded assignment's numeric question whose reference this kit does not hold."""
        return self.kind == "numeric" and self.value is None and self.compute is None


def spec_path() -> Path:
    """Where the answer spec lives: inside the installed package."""
    return Path(__file__).with_name(SPEC_FILE)


@functools.lru_cache(maxsize=None)
def load_spec() -> dict:
    """The spec as parsed TOML, validated; cached."""
    with open(spec_path(), "rb") as f:
        spec = tomllib.load(f)
    if spec.get("schema") != 1:
        raise SpecError(f"{spec_path()}: expected schema = 1, got {spec.get('schema')!r}")
    references = os.environ.get(REFERENCES_ENV, "").strip()
    if references:
        _overlay_references(spec, Path(references))
    for qid in spec.get("questions", {}):
        _build_question(qid, spec["questions"][qid])
    return spec


def _overlay_references(spec: dict, path: Path) -> None:
    """Add the instructor's references (value/compute, tolerances, where, mistakes) to the graded
    questions of ``spec``. A file that cannot be read adds nothing: inside the grading sandbox the
    kernel cannot read it, and the grader judges every answer again outside (autograder/grade.py)."""
    try:
        with open(path, "rb") as f:
            extra = tomllib.load(f)
    except OSError:
        return
    allowed = {"value", "compute", "rel_tol", "abs_tol", "where", "mistakes"}
    for qid, raw in extra.get("questions", {}).items():
        entry = spec.get("questions", {}).get(qid)
        if entry is None:
            raise SpecError(f"{path}: {qid} is not a question of the kit's answer spec")
        if set(raw) - allowed:
            raise SpecError(f"{path}: {qid}: only {sorted(allowed)} may be given here, not {sorted(set(raw) - allowed)}")
        if set(entry) & allowed:
            raise SpecError(f"{qid}: the kit's answer spec holds its reference already; a graded question's "
                            f"reference belongs in {path.name} only")
        entry.update(raw)


def _build_question(qid: str, raw: dict) -> Question:
    if not QUESTION_ID.match(qid):
        raise SpecError(f"question id {qid!r} is not of the form 'NN.name' (lowercase, digits, _)")
    known = {"kind", "title", "points", "source", "hint", "rel_tol", "abs_tol", "value", "compute",
             "where", "mistakes", "form"}
    extra = set(raw) - known
    if extra:
        raise SpecError(f"{qid}: unknown keys {sorted(extra)}")
    for key in ("kind", "title", "points", "source", "hint"):
        if key not in raw:
            raise SpecError(f"{qid}: missing {key!r}")
    if raw["kind"] not in KINDS:
        raise SpecError(f"{qid}: kind must be one of {KINDS}, got {raw['kind']!r}")
    if not (isinstance(raw["points"], (int, float)) and raw["points"] > 0):
        raise SpecError(f"{qid}: points must be a positive number")
    form = raw.get("form")
    if form is not None and not (isinstance(form, dict) and set(form) == {"unit", "min", "max"}
                                 and float(form["min"]) < float(form["max"])):
        raise SpecError(f"{qid}: form must be {{ unit = ..., min = ..., max = ... }} with min < max")
    if raw["kind"] == "numeric" and form is not None and not ({"value", "compute"} & set(raw)):
        # a graded question as the kit ships it: no reference, nothing to match mistakes against
        for key in ("rel_tol", "abs_tol", "mistakes", "where"):
            if key in raw:
                raise SpecError(f"{qid}: a graded question's {key!r} belongs with its reference, instructor-side")
    elif raw["kind"] == "numeric":
        if ("value" in raw) == ("compute" in raw):
            raise SpecError(f"{qid}: give exactly one of 'value' and 'compute'")
        for key in ("rel_tol", "abs_tol"):
            tol = raw.get(key)
            if not (isinstance(tol, (int, float)) and not isinstance(tol, bool) and tol >= 0):
                raise SpecError(f"{qid}: {key} must be given explicitly as a number >= 0")
        if raw["rel_tol"] == 0 and raw["abs_tol"] == 0:
            raise SpecError(f"{qid}: rel_tol and abs_tol are both 0; floats would never match")
        for m in raw.get("mistakes", []):
            if ("value" in m) == ("compute" in m) or "hint" not in m:
                raise SpecError(f"{qid}: each mistake needs 'hint' and exactly one of 'value'/'compute'")
    else:
        for key in ("value", "compute", "rel_tol", "abs_tol", "mistakes", "where"):
            if key in raw:
                raise SpecError(f"{qid}: a written question has no {key!r}")
    return Question(
        id=qid, kind=raw["kind"], title=raw["title"], points=raw["points"], source=raw["source"],
        hint=raw["hint"], rel_tol=float(raw.get("rel_tol", 0.0)), abs_tol=float(raw.get("abs_tol", 0.0)),
        value=raw.get("value"), compute=raw.get("compute"),
        where=tuple((str(k), str(v)) for k, v in raw.get("where", {}).items()),
        mistakes=tuple(raw.get("mistakes", ())),
        form=None if form is None else (str(form["unit"]), float(form["min"]), float(form["max"])))


def question(question_id: str) -> Question:
    """The spec entry for ``question_id``; KeyError (with suggestions) if there is none."""
    questions = load_spec().get("questions", {})
    if question_id not in questions:
        close = difflib.get_close_matches(str(question_id), list(questions), n=3)
        also = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise KeyError(f"no question {question_id!r} in the answer spec.{also}")
    return _build_question(question_id, questions[question_id])


def question_ids(lesson: str | None = None, kind: str | None = None) -> list[str]:
    """All question ids in the spec, in spec order, optionally for one lesson ("01") or kind."""
    out = []
    for qid in load_spec().get("questions", {}):
        q = question(qid)
        if (lesson is None or q.lesson == lesson) and (kind is None or q.kind == kind):
            out.append(qid)
    return out


# ---------------------------------------------------------------------------------------------
# Evaluating references: a small, declarative expression language over the package
# ---------------------------------------------------------------------------------------------

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Pow: operator.pow,
    ast.Mod: operator.mod,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class _Table:
    """``models.X`` / ``shapes.X`` / ``budgets.X``: an entry of a spec table, built on access."""

    def __init__(self, label: str, entries: dict, build: Callable[[Any], Any]):
        self._label, self._entries, self._build = label, entries, build

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._entries:
            raise SpecError(f"the spec has no {self._label}.{name}")
        return self._build(self._entries[name])


def _base_names() -> dict[str, Callable[[], Any]]:
    spec = load_spec()

    def config(kwargs):
        from .model import GPTConfig
        return GPTConfig(**kwargs)

    def shape(kwargs):
        from .counting import Shape
        return Shape(**kwargs)

    names: dict[str, Callable[[], Any]] = {
        m: functools.partial(importlib.import_module, f"{__package__}.{m}") for m in PACKAGE_MODULES}
    names.update({
        "math": lambda: math,
        "GPTConfig": lambda: importlib.import_module(f"{__package__}.model").GPTConfig,
        "Shape": lambda: importlib.import_module(f"{__package__}.counting").Shape,
        "models": lambda: _Table("models", spec.get("models", {}), config),
        "shapes": lambda: _Table("shapes", spec.get("shapes", {}), shape),
        "budgets": lambda: _Table("budgets", spec.get("budgets", {}), lambda v: v),
        "max": lambda: max, "min": lambda: min, "abs": lambda: abs,
    })
    return names


def evaluate(expression: str, names: dict[str, Any] | None = None) -> Any:
    """Evaluate one spec expression: names, attribute access (no leading underscore), calls,
    arithmetic, indexing and slicing, numbers and strings (and max, min, abs). The spec is
    trusted package data; this keeps it declarative and readable, it is not a sandbox."""
    base = _base_names()
    local = dict(names or {})

    def lookup(name: str) -> Any:
        if name in local:
            return local[name]
        if name in base:
            return base[name]()
        raise SpecError(f"unknown name {name!r} in {expression!r}")

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str)):
            return node.value
        if isinstance(node, ast.Name):
            return lookup(node.id)
        if isinstance(node, ast.Attribute):
            if node.attr.startswith("_"):
                raise SpecError(f"private attribute {node.attr!r} in {expression!r}")
            return getattr(ev(node.value), node.attr)
        if isinstance(node, ast.Call):
            if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
                raise SpecError(f"* and ** are not supported in {expression!r}")
            return ev(node.func)(*[ev(a) for a in node.args], **{k.arg: ev(k.value) for k in node.keywords})
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, (ast.Tuple, ast.List)):
            return tuple(ev(e) for e in node.elts)
        if isinstance(node, ast.Subscript):
            return ev(node.value)[ev(node.slice)]
        if isinstance(node, ast.Slice):  # r.budgets[1:]
            return slice(*(None if part is None else ev(part) for part in (node.lower, node.upper, node.step)))
        raise SpecError(f"unsupported syntax ({type(node).__name__}) in {expression!r}")

    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"cannot parse {expression!r}: {exc.msg}") from None
    return ev(tree)
