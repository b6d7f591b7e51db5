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

The parts live in private modules, re-exported here: the spec and its expressions
(``_check_spec``), per-student variants (``_check_variants``) and judging an answer
(``_check_judge``); this module prints the self-check.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from ._check_judge import (  # noqa: F401  (re-exported: check.X as before the split)
    SCALE_MISTAKES, AnswerError, Verdict, _as_number, _distance, _evaluate_entry, _is_bool, _isclose,
    _judge_form, _mistake_hint, _mistake_values, _number, _reference, _scale_matches, _where_names, judge)
from ._check_spec import (  # noqa: F401
    KINDS, PACKAGE_MODULES, QUESTION_ID, REFERENCES_ENV, SPEC_FILE, Question, SpecError, _BINOPS, _UNARY,
    _base_names, _build_question, _overlay_references, _Table, evaluate, load_spec, question, question_ids,
    spec_path)
from ._check_variants import (  # noqa: F401
    _CODE_DIGITS, DEFAULT_SECRET_FILE, SECRET_ENV, SECRET_FILE_ENV, Variant, _code_checksum, _frozen,
    _grading_variant, _variant_names_cached, _variant_table, canonical_variant, decode_variant_code,
    variant, variant_code, variant_for, variant_names, variant_secret)

FAST_ENV = "TINYCHINCHILLA_FAST"
# While grading, every hidden assert_answer also shows its question and the learner's value under
# this MIME type; the grader judges them again in its own process (autograder/grade.py).
ANSWER_MIME = "application/vnd.tinychinchilla.answer+json"


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
# The printed self-check, and the assertion behind the hidden tests
# ---------------------------------------------------------------------------------------------


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
