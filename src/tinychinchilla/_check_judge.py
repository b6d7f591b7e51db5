"""Judging an answer: the reference a question's spec entry gives (in the student's variant),
the learner's value as a number, the verdict, and the hint of the known mistake or unit slip that
explains a wrong value. Part of :mod:`tinychinchilla.check`, which re-exports everything here."""

from __future__ import annotations

import functools
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

from ._check_spec import REFERENCES_ENV, Question, SpecError, evaluate, question
from ._check_variants import _grading_variant, variant_names

# Kept at import, before learner code runs, so `math.isclose = lambda *a, **k: True` changes nothing.
_isclose = math.isclose


class AnswerError(ValueError):
    """The learner's value cannot be checked at all (not a number, NaN, infinite)."""


# ---------------------------------------------------------------------------------------------
# References: a question's value, and its known mistakes' values, evaluated from the spec
# ---------------------------------------------------------------------------------------------


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
