"""Self-checks for the lessons, and the assertions behind their hidden autograder tests.

Use it in a notebook as::

    from tinychinchilla import check

    check.check("01.params_total", params_total)          # prints one line, returns True/False
    check.check("01.params_total", name="params_total")   # the same for the notebook's variable;
                                                          # "set `params_total` first" if there is none
    check.assert_answer("01.params_total", params_total)  # raises AssertionError if wrong
    check.fast_mode()                                     # True while grading: load, don't train

Every graded question is described in the answer spec, ``answers.toml`` next to this file: its
reference (a literal, or an expression over the package evaluated when checked), its tolerances,
points, source in the paper and a hint. Neither function ever shows the reference value, and
neither writes to stderr (nbgrader scores a test cell that does so 0). Nothing here needs
nbgrader, so the self-check works on Colab.

A graded assignment's numeric questions (the homework) carry no reference in this kit, only a
``form``: ``check`` then checks the form of an answer (a finite number in the question's unit and
plausible range) and says that the value is checked at grading. The references are overlaid from
the instructor's file that ``TINYCHINCHILLA_REFERENCES`` names, at grading time only, and are
evaluated on the student's *variant* (:func:`variant_for`, :func:`variant`): see
autograder/README.md, "Graded assignments and per-student variants".
"""

from __future__ import annotations

import ast
import difflib
import functools
import hashlib
import hmac
import importlib
import math
import numbers
import operator
import os
import re
import sys
import warnings
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
FAST_ENV = "TINYCHINCHILLA_FAST"
# While grading, every hidden assert_answer also shows its question and the learner's value under
# this MIME type; the grader judges them again in its own process (autograder/grade.py).
ANSWER_MIME = "application/vnd.tinychinchilla.answer+json"
# Graded assignments (issue 17): the kit's spec holds no reference for their numeric questions,
# only a `form`. The instructor's references (autograder/graded_answers.toml) are overlaid on the
# spec when this variable names that file (grading only; an empty value means "none").
REFERENCES_ENV = "TINYCHINCHILLA_REFERENCES"
# The instructor's secret that per-student variants derive from: this variable, else the file that
# TINYCHINCHILLA_VARIANT_SECRET_FILE names, else ~/.config/tinychinchilla/variant-secret. Never in
# the repository; without one everybody has the canonical variant (the paper's own questions).
SECRET_ENV = "TINYCHINCHILLA_VARIANT_SECRET"
SECRET_FILE_ENV = "TINYCHINCHILLA_VARIANT_SECRET_FILE"
DEFAULT_SECRET_FILE = Path("~/.config/tinychinchilla/variant-secret")
# Kept at import, before learner code runs, so `math.isclose = lambda *a, **k: True` changes nothing.
_isclose = math.isclose


class SpecError(ValueError):
    """The answer spec is malformed (a course-building error, not a learner's)."""


class AnswerError(ValueError):
    """The learner's value cannot be checked at all (not a number, NaN, infinite)."""


# ---------------------------------------------------------------------------------------------
# Grading mode
# ---------------------------------------------------------------------------------------------


def fast_mode() -> bool:
    """True while nbgrader executes a notebook (``NBGRADER_EXECUTION`` is set, as it is during
    ``autograde`` and ``validate``) or when ``TINYCHINCHILLA_FAST=1`` (also ``true``/``yes``/
    ``on``). Heavy cells then train a much smaller model, or load precomputed runs, instead."""
    if os.environ.get("NBGRADER_EXECUTION"):
        return True
    return os.environ.get(FAST_ENV, "").strip().lower() in ("1", "true", "yes", "on")


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


def _number(result: Any, what: str) -> float:
    if hasattr(result, "item") and not isinstance(result, numbers.Number):
        result = result.item()
    if isinstance(result, bool) or not isinstance(result, numbers.Real):
        raise SpecError(f"{what} is not a number: {type(result).__name__}")
    value = float(result)
    if not math.isfinite(value):
        raise SpecError(f"{what} is not finite")
    return value


def _evaluate_entry(q: Question, entry: dict | Question, variant: tuple | None = None) -> float:
    value = entry.value if isinstance(entry, Question) else entry.get("value")
    compute = entry.compute if isinstance(entry, Question) else entry.get("compute")
    if value is not None:
        return _number(value, f"{q.id}'s value")
    names = dict(_where_names(q.id, variant))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nothing may reach stderr from a graded cell
        if isinstance(entry, dict):  # a mistake's own `where` names override the question's
            for name, expression in entry.get("where", {}).items():
                names[name] = evaluate(expression, names)
        return _number(evaluate(compute, names), f"{q.id}'s reference ({compute})")


@functools.lru_cache(maxsize=None)
def _where_names(question_id: str, variant: tuple | None = None) -> dict[str, Any]:
    """The names of a question's ``where`` table, evaluated once (a fit can take seconds, and a
    question's reference and each of its mistakes share them), after the names of the lesson's
    ``variant`` (canonical when None). Callers copy it."""
    q = question(question_id)
    names: dict[str, Any] = dict(variant_names(q.lesson, variant))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, expression in q.where:
            names[name] = evaluate(expression, names)
    return names


@functools.lru_cache(maxsize=None)
def _mistake_values(question_id: str, variant: tuple | None = None) -> tuple[float | None, ...]:
    """Each listed mistake's value (None where it cannot be evaluated), computed once."""
    q = question(question_id)
    out = []
    for mistake in q.mistakes:
        try:
            out.append(_evaluate_entry(q, mistake, variant))
        except SpecError:
            out.append(None)
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _reference(question_id: str, variant: tuple | None = None) -> float:
    """The reference value of a numeric question (in the lesson's ``variant``, canonical when
    None). For the course's own tests and the grader; a lesson never prints it."""
    q = question(question_id)
    if q.kind != "numeric":
        raise SpecError(f"{question_id} is a written question, graded by hand: it has no reference")
    if q.reference_is_instructor_side:
        raise SpecError(f"{question_id} belongs to a graded assignment: its reference is instructor-side "
                        f"(autograder/graded_answers.toml, read when {REFERENCES_ENV} names it)")
    return _evaluate_entry(q, q, variant)


# ---------------------------------------------------------------------------------------------
# Per-student variants of a graded assignment (answers.toml, [variants."NN"])
# ---------------------------------------------------------------------------------------------
#
# A variant is a tuple of (input name, index) pairs: index 0 is the input's canonical choice (the
# paper's own question), k >= 1 its k-th alternative. The instructor's secret picks each index per
# student (variant_for); the instructor gives each student a variant code that says the indices
# (variant_code); the notebook turns the code into the inputs it shows (variant). The code is not
# a secret: the grader never reads it, it recomputes each student's variant from the secret.

_CODE_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def _variant_table(lesson: str) -> dict:
    return load_spec().get("variants", {}).get(lesson, {})


def canonical_variant(lesson: str) -> tuple:
    """The lesson's canonical variant: every input at index 0."""
    return tuple((name, 0) for name in _variant_table(lesson).get("inputs", {}))


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


@functools.lru_cache(maxsize=None)
def _variant_names_cached(lesson: str, variant: tuple) -> dict[str, Any]:
    table = _variant_table(lesson)
    inputs = table.get("inputs", {})
    chosen = dict(variant)
    if set(chosen) != set(inputs):
        raise SpecError(f"lesson {lesson}'s variant must give {sorted(inputs)}, got {sorted(chosen)}")
    names: dict[str, Any] = {}
    for name, spec in inputs.items():
        index = chosen[name]
        choices = spec.get("choices", [])
        if not (isinstance(index, int) and 0 <= index <= len(choices)):
            raise SpecError(f"lesson {lesson}: {name} has no choice {index!r}")
        names[name] = _frozen(spec["canonical"] if index == 0 else choices[index - 1])
    for name, expression in table.get("shown", {}).items():
        names[name] = evaluate(expression, names)
    return names


def variant_names(lesson: str, variant: tuple | None = None) -> dict[str, Any]:
    """The names (inputs and shown values) of one of the lesson's variants; canonical when None."""
    return dict(_variant_names_cached(lesson, canonical_variant(lesson) if variant is None else tuple(variant)))


def variant_secret() -> bytes | None:
    """The instructor's secret (see SECRET_ENV), or None where there is none (self-study)."""
    value = os.environ.get(SECRET_ENV, "").strip()
    if value:
        return value.encode()
    path = Path(os.environ.get(SECRET_FILE_ENV, "").strip() or DEFAULT_SECRET_FILE).expanduser()
    try:
        value = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return value.encode() or None


def variant_for(lesson: str, student_id: str, secret: bytes | None) -> tuple:
    """The variant of ``student_id``: each input's index from HMAC-SHA256(secret, lesson, student,
    input), never the canonical one; the canonical variant without a secret or a student id."""
    student_id = str(student_id).strip()
    if not secret or not student_id or not _variant_table(lesson):
        return canonical_variant(lesson)
    inputs = _variant_table(lesson)["inputs"]
    out: dict[str, int] = {}
    for name, spec in inputs.items():
        digest = hmac.new(secret, f"tinychinchilla-variant\0{lesson}\0{student_id}\0{name}".encode(),
                          hashlib.sha256).digest()
        index = int.from_bytes(digest[:8], "big") % len(spec["choices"])
        other = spec.get("distinct_from")  # an input whose choice this one must not repeat
        if other in out:
            taken = inputs[other]["choices"][out[other] - 1]
            for _ in range(len(spec["choices"])):
                if spec["choices"][index] != taken:
                    break
                index = (index + 1) % len(spec["choices"])
        out[name] = 1 + index
    return tuple(out.items())


def _code_checksum(lesson: str, student_id: str, digits: str) -> str:
    return hashlib.sha256(f"{lesson}:{student_id.strip()}:{digits}".encode()).hexdigest()[:4]


def variant_code(lesson: str, student_id: str, variant: tuple) -> str:
    """The code a student enters to see ``variant``'s inputs, e.g. ``08-314-9f2c`` (the indices,
    then a checksum over the student id, which catches typos and another student's code)."""
    digits = "".join(_CODE_DIGITS[index] for _, index in variant)
    return f"{lesson}-{digits}-{_code_checksum(lesson, student_id, digits)}"


def decode_variant_code(lesson: str, student_id: str, code: str) -> tuple:
    """The variant a code says, or ValueError saying what to fix."""
    student_id, code = str(student_id).strip(), str(code).strip().lower()
    if not code:
        return canonical_variant(lesson)
    names = [name for name, _ in canonical_variant(lesson)]
    match = re.fullmatch(rf"{lesson}-([0-9a-z]{{{len(names)}}})-([0-9a-f]{{4}})", code)
    if not match:
        raise ValueError(f"{code!r} is not a variant code of lesson {lesson} (they look like "
                         f"{lesson}-{'1' * len(names)}-abcd): copy it exactly as your instructor gave it")
    digits, checksum = match.groups()
    if not student_id:
        raise ValueError("enter your student id too: the variant code belongs to it")
    if _code_checksum(lesson, student_id, digits) != checksum:
        raise ValueError(f"the variant code {code} does not belong to the student id {student_id!r}: check "
                         f"both (exactly as you submit, same capitals)")
    variant = tuple((name, _CODE_DIGITS.index(d)) for name, d in zip(names, digits))
    variant_names(lesson, variant)  # an index out of range is a bad code
    return variant


class Variant(dict):
    """A student's inputs of a graded assignment (``hw["q2_budget"]``), with the variant it is."""

    def __init__(self, lesson: str, variant: tuple, student_id: str):
        table = _variant_table(lesson)
        names = variant_names(lesson, variant)
        super().__init__({k: names[k] for k in table.get("shown", {})})
        self.lesson, self.variant, self.student_id = lesson, tuple(variant), student_id
        self.canonical = self.variant == canonical_variant(lesson)


def variant(lesson: str, student_id: str = "", code: str = "") -> Variant:
    """The inputs of lesson ``lesson``'s graded questions for this student, printed and returned.
    With no code: the canonical variant (the paper's own questions: self-study, Colab). A code that
    does not fit the id raises ValueError with what to fix."""
    chosen = decode_variant_code(lesson, student_id, code)
    out = Variant(lesson, chosen, str(student_id).strip())
    who = f"student {out.student_id!r}, code {str(code).strip().lower()}" if str(code).strip() else "no variant code"
    kind = "the paper's own questions" if out.canonical else "your own variant"
    print(f"Your inputs ({who}: {kind}):")
    for name, value in out.items():
        shown = f"{value:.3g}" if isinstance(value, float) else repr(value)
        print(f"  {name} = {shown}")
    if not str(code).strip() and str(student_id).strip():
        print("  (no code entered: if your course gave you a variant code, enter it, or your answers "
              "will be for the wrong inputs)")
    return out


def _grading_variant(lesson: str) -> tuple:
    """The variant to judge against inside a kernel: while `nbgrader autograde` runs the notebook
    (in autograded/<student>/<assignment>/) with the secret at hand, that student's; else canonical."""
    if not os.environ.get("NBGRADER_EXECUTION") or not _variant_table(lesson):
        return canonical_variant(lesson)
    parts = Path.cwd().parts
    if len(parts) < 3 or parts[-3] != "autograded":
        return canonical_variant(lesson)
    return variant_for(lesson, parts[-2], variant_secret())


# ---------------------------------------------------------------------------------------------
# Judging an answer
# ---------------------------------------------------------------------------------------------


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"  # numpy's bool too


def _as_number(value: Any) -> float:
    """The learner's value as a finite float, or AnswerError saying what to change."""
    if value is None:
        raise AnswerError("got None: did you forget to assign the variable, or to `return` from your function?")
    if isinstance(value, (str, bytes)):
        raise AnswerError(f"got the text {value!r}: give a number, without quotes")
    if not isinstance(value, numbers.Number) and hasattr(value, "item") and hasattr(value, "shape"):
        count = value.numel() if hasattr(value, "numel") else getattr(value, "size", None)  # torch / numpy
        if count != 1:
            raise AnswerError(f"got an array of shape {tuple(value.shape)}: give a single number")
        value = value.item()
    if _is_bool(value):
        raise AnswerError(f"got {value} (True/False): give a number")
    if type(value).__name__ == "Decimal":
        value = float(value)
    if isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real):
        raise AnswerError(f"got a complex number ({value}): give a real number")
    if not isinstance(value, numbers.Real):
        raise AnswerError(f"got a {type(value).__name__}: give a single number (int or float)")
    try:
        number = float(value)
    except OverflowError:
        raise AnswerError("the number is too large to be a float: check the units") from None
    if math.isnan(number):
        raise AnswerError("got NaN: something upstream produced an undefined value")
    if math.isinf(number):
        raise AnswerError("got infinity: check for a division by zero or an overflow")
    return number


@dataclass(frozen=True)
class Verdict:
    """The outcome of judging one answer; ``message`` is safe to show (no reference value)."""

    question_id: str
    passed: bool
    message: str
    form_only: bool = False  # a graded question judged on form only: passed says nothing of its value


def judge(question_id: str, value: Any, variant: tuple | None = None) -> Verdict:
    """Judge ``value`` against the spec; never raises for a bad value (only for a bad id).
    ``variant``: the student's variant of a graded assignment (None: the one being graded, else
    canonical). A graded question whose reference is instructor-side is judged on form only."""
    q = question(question_id)
    if q.kind != "numeric":
        return Verdict(q.id, False, f"{q.id} is a written question, graded by hand. {q.hint}")
    try:
        answer = _as_number(value)
    except AnswerError as exc:
        text = str(exc)
        return Verdict(q.id, False, f"{q.id}: {text}{'' if text.endswith(('.', '?', '!')) else '.'}")
    if q.reference_is_instructor_side:
        return _judge_form(q, answer)
    if variant is None:
        variant = _grading_variant(q.lesson)
    reference = _reference(q.id, tuple(variant))
    if _isclose(answer, reference, rel_tol=q.rel_tol, abs_tol=q.abs_tol):
        return Verdict(q.id, True, f"{q.id}: correct ({q.source}).")
    hint = _mistake_hint(q, answer, reference, tuple(variant)) or q.hint
    return Verdict(q.id, False, f"{q.id}: not yet. Hint: {hint}")


def _judge_form(q: Question, answer: float) -> Verdict:
    """A graded question in the student's kit: the form of the answer only, the same verdict for
    every value in the plausible range (no oracle)."""
    unit, low, high = q.form
    if not low <= answer <= high:
        return Verdict(q.id, False, f"{q.id}: {answer:.4g} is outside the plausible range for {unit} "
                                    f"({low:g} to {high:g}): check the units. Hint: {q.hint}")
    return Verdict(q.id, True, f"{q.id}: a number, in {unit}, in a plausible range. This is a graded "
                               f"question: its value is checked when the homework is graded.", form_only=True)


def _distance(answer: float, wrong: float) -> float:
    return abs(answer - wrong) / max(abs(wrong), abs(answer), 1e-300)


def _mistake_hint(q: Question, answer: float, reference: float, variant: tuple | None = None) -> str | None:
    """The hint of the known mistake that explains ``answer``: the spec's mistakes and the unit
    slips of SCALE_MISTAKES that match it within the question's tolerances; where several match
    (a loose tolerance), the nearest one, the spec's first on a tie."""
    candidates = []
    for mistake, wrong in zip(q.mistakes, _mistake_values(q.id, variant)):
        if wrong is not None and _isclose(answer, wrong, rel_tol=q.rel_tol, abs_tol=q.abs_tol):
            candidates.append((_distance(answer, wrong), len(candidates), mistake["hint"]))
    for factor, hint in _scale_matches(q, answer, reference):
        candidates.append((_distance(answer, reference * factor), len(candidates), hint))
    return min(candidates)[2] if candidates else None


# A right answer in the wrong unit: (factor the answer is off by, the hint). Checked for every
# numeric question, next to the spec's own mistakes (the nearest match wins), so that "67.8" for
# 67.8e9 parameters or "89.5" for a fraction of 0.895 gets its own hint, not the generic one.
SCALE_MISTAKES = (
    (100.0, "your answer is 100 times too large: a percentage where a plain number (fraction) is "
            "asked? Drop the factor 100."),
    (0.01, "your answer is 100 times too small: a fraction where a percentage (or percentage "
           "points) is asked? Multiply by 100."),
    (1e-9, "your answer looks like it is in billions: write the full number, e.g. 67e9 (not 67) "
           "for 67 billion."),
    (1e-12, "your answer looks like it is in trillions: write the full number, e.g. 1.4e12 (not 1.4) "
            "for 1.4 trillion."),
    (1e-6, "your answer looks like it is in millions: write the full number, e.g. 73e6 (not 73) "
           "for 73 million."),
    (1e-23, "your answer looks like it is in units of 10^23: write the full number, e.g. 5.76e23."),
)


def _scale_matches(q: Question, answer: float, reference: float) -> list[tuple[float, str]]:
    """(factor, hint) of each unit slip that ``answer`` is: the reference times a factor of
    SCALE_MISTAKES. A rounded answer in the wrong unit still counts (2% for a factor 100, 5% for
    the others)."""
    if abs(reference) <= 2 * q.abs_tol:  # too close to 0 to tell a factor from the tolerance
        return []
    out = []
    for factor, hint in SCALE_MISTAKES:
        if factor < 0.01 and abs(reference) < 1e5:  # "in billions" only where the number is large
            continue
        slack = 0.02 if factor in (100.0, 0.01) else 0.05
        if _isclose(answer / factor, reference, rel_tol=max(q.rel_tol, slack), abs_tol=q.abs_tol):
            out.append((factor, hint))
    return out


def _symbol(passed: bool, form_only: bool = False) -> str:
    symbol = "\u2611" if form_only and passed else "\u2705" if passed else "\u274c"
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        symbol.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "[form ok]" if form_only and passed else "[ok]" if passed else "[x]"
    return symbol


_UNSET = object()


def check(question_id: str, value: Any = _UNSET, *, name: str | None = None) -> bool | None:
    """Print one friendly line saying whether an answer is right, with a hint when it is not.
    Never prints the reference; writes only to stdout.

    ``check(question_id, value)`` judges ``value`` and returns True/False.

    ``check(question_id, name="x")`` is the form the lessons' check cells use: it judges the
    variable ``x`` of the notebook (the caller's global namespace), says "set `x` first" when
    there is none yet (instead of a NameError), names ``x`` in its messages, and returns None, so
    that the cell shows only its line and no bare True/False under it."""
    if name is None:
        if value is _UNSET:
            raise TypeError("check() needs the answer: check(question_id, value) or check(question_id, name='x')")
        verdict = judge(question_id, value)
        print(f"{_symbol(verdict.passed, verdict.form_only)} {verdict.message}")
        return verdict.passed
    if value is _UNSET:
        namespace = sys._getframe(1).f_globals
        if name not in namespace:
            question(question_id)  # an unknown id is still a KeyError
            print(f"{_symbol(False)} {question_id}: set `{name}` first: write your answer in the cell "
                  f"above and run it (Shift+Enter), then run this cell again.")
            return None
        value = namespace[name]
    verdict = judge(question_id, value)
    message = verdict.message
    if not verdict.passed and ": got " in message:  # say which variable holds the bad value
        message = message.replace(": got ", f": `{name}` is ", 1)
    print(f"{_symbol(verdict.passed, verdict.form_only)} {message}")
    return None


def assert_answer(question_id: str, value: Any) -> None:
    """Raise AssertionError (with a hint, never the reference) unless ``value`` answers
    ``question_id``. The hidden autograder tests call this; while nbgrader runs the notebook it
    also records the question and the value for the grader to judge again outside the kernel."""
    if os.environ.get("NBGRADER_EXECUTION"):
        _record_answer(question_id, value)
    verdict = judge(question_id, value)
    if not verdict.passed:
        raise AssertionError(verdict.message)


def _record_answer(question_id: str, value: Any) -> None:
    try:
        number = _as_number(value)
    except AnswerError:
        number = None
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        return
    if get_ipython() is None:  # not in a kernel: nothing to record into
        return
    display({ANSWER_MIME: {"question": question_id, "value": number}}, raw=True)


def points(lesson: str | None = None) -> float:
    """Total points of the course, or of one lesson ("00")."""
    return sum(question(qid).points for qid in question_ids(lesson))
