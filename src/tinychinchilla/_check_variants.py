"""Per-student variants of a graded assignment: which inputs each student's questions use, the
code that says them, and the instructor's secret they derive from. Part of
:mod:`tinychinchilla.check`, which re-exports everything here."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Any

from ._check_spec import SpecError, evaluate, load_spec

# The instructor's secret that per-student variants derive from: this variable, else the file that
# TINYCHINCHILLA_VARIANT_SECRET_FILE names, else ~/.config/tinychinchilla/variant-secret. Never in
# the repository; without one everybody has the canonical variant (the paper's own questions).
SECRET_ENV = "TINYCHINCHILLA_VARIANT_SECRET"
SECRET_FILE_ENV = "TINYCHINCHILLA_VARIANT_SECRET_FILE"
DEFAULT_SECRET_FILE = Path("~/.config/tinychinchilla/variant-secret")


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
