"""Every quotation of the paper in the course is verbatim and names where it is printed.

The lessons' text (markdown cells of solutions/, from which lessons/ is generated, model answers and
rubrics included), the answer spec's hints and the comments of paper.py are scanned for quoted
strings. Each must
be part of one of the paper's sentences kept in tests/data/paper_sentences.toml, with that
sentence's section, table or figure named in the same cell (or hint), or be listed there as not a
quotation of the paper, with the reason. An ellipsis in a quotation may join parts of one sentence.
"""

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the kit depends on tomli there
    import tomli as tomllib

import nbformat
import pytest

from tinychinchilla import check

ROOT = Path(__file__).resolve().parents[1]
DATA = tomllib.loads((ROOT / "tests" / "data" / "paper_sentences.toml").read_text())
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))

# "…" in double quotes or curly quotes; a quotation may run over a line break
DOUBLE_QUOTED = re.compile(r'"([^"]+)"|“([^”]+)”')
# in answers.toml (TOML strings in double quotes) quotations are in single quotes; an apostrophe
# (Gopher's) is not an opening quote because a letter precedes it
SINGLE_QUOTED = re.compile(r"(?<![\w])'([^']+)'(?![\w])")


def plain(text: str) -> str:
    """The text as the paper's sentences are stored: LaTeX maths as plain text, one space."""
    text = text.replace("$", "").replace("\\times", "×").replace("\\,", "").replace("\\%", "%")
    text = re.sub(r"\^\{([^}]*)\}", r"^\1", text)
    text = re.sub(r"\s*×\s*(?=10\^)", " × ", text)
    return re.sub(r"\s+", " ", text).strip()


SENTENCES = [(s["section"], plain(s["text"])) for s in DATA["sentence"]]
NOT_THE_PAPER = {plain(n["text"]): n["why"] for n in DATA["not_the_paper"]}


# the paper's title is named by the paper itself
ALIASES = {"Title": ("2203.15556", "Hoffmann et al")}


def names(section: str, text: str) -> bool:
    """Whether ``text`` names ``section`` ("Section 4" is not named by "Section 4.2.2")."""
    if any(alias in text for alias in ALIASES.get(section, ())):
        return True
    return re.search(re.escape(section) + r"(?![.\d]*\d)", text, re.IGNORECASE) is not None


def sources(quote: str) -> list[str]:
    """The sections of the stored sentences that contain ``quote`` (parts joined by an ellipsis
    must appear in order in one sentence)."""
    parts = [p.strip(" ,.") for p in re.split(r"…|\.\.\.", plain(quote)) if p.strip(" ,.")]
    found = []
    for section, sentence in SENTENCES:
        pos = 0
        for part in parts:
            # a quotation may start mid-sentence with a lower-case letter, or start one
            i = max(sentence.find(part, pos), sentence.find(part[:1].swapcase() + part[1:], pos))
            if i < 0:
                break
            pos = i + len(part)
        else:
            found.append(section)
    return found


def problems(quote: str, context: str) -> str | None:
    """None when ``quote`` is fine in ``context``, else what is wrong."""
    if plain(quote) in NOT_THE_PAPER:
        return None
    found = sources(quote)
    if not found:
        return "not a sentence of the paper kept in tests/data/paper_sentences.toml"
    if not any(names(section, context) for section in found):
        return f"quoted from {' or '.join(sorted(set(found)))}, which is not named next to it"
    return None


def markdown_quotes():
    for path in SOLUTIONS:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "markdown":
                continue
            text = re.sub(r"`[^`]*`", "", cell.source)  # code, not prose
            text = re.sub(r"\]\([^)]*\)", "]", text)  # link targets
            for m in DOUBLE_QUOTED.finditer(text):
                yield f"{path.stem}:{cell.id}", m.group(1) or m.group(2), text


def spec_quotes():
    for qid in check.question_ids():
        q = check.question(qid)
        entries = [("hint", q.hint, q.source)] + [
            ("mistake hint", m["hint"], q.source) for m in q.mistakes]
        for what, text, source in entries:
            for m in SINGLE_QUOTED.finditer(text):
                if " " in m.group(1):  # a quotation, not a column name such as 'mc_accuracy'
                    yield f"{qid} {what}", m.group(1), text + " " + source


# paper.py and the private modules it re-exports (its tables, its laws)
PAPER_MODULES = [ROOT / "src" / "tinychinchilla" / "paper.py",
                 *sorted((ROOT / "src" / "tinychinchilla").glob("_paper_*.py"))]


def module_quotes():
    """Quotations in the comments of paper.py and its parts (a block of consecutive comment lines
    is one context); only those of three words or more, as a single quoted word there is a name."""
    for path in PAPER_MODULES:
        lines = path.read_text().splitlines()
        block: list[str] = []
        for line in lines + [""]:
            if line.lstrip().startswith("#"):
                block.append(line.lstrip().lstrip("#:").strip())
                continue
            text = " ".join(block)
            block = []
            for m in DOUBLE_QUOTED.finditer(re.sub(r"``[^`]*``", "", text)):
                quote = m.group(1) or m.group(2)
                if len(quote.split()) >= 3:
                    yield path.name, quote, text


QUOTES = list(markdown_quotes()) + list(spec_quotes()) + list(module_quotes())


@pytest.mark.parametrize("where, quote, context", QUOTES,
                         ids=[f"{w}:{q[:30]}" for w, q, _ in QUOTES])
def test_quotation_is_the_papers_with_its_section(where, quote, context):
    problem = problems(quote, context)
    assert problem is None, f"{where}: {quote!r}: {problem}"


def test_the_scan_finds_the_quotations_the_course_relies_on():
    quotes = {plain(q) for _, q, _ in QUOTES}
    assert any("Unless one has a compute budget of 10^26 FLOPs" in q for q in quotes)
    assert any("Both Chinchilla and Gopher have been trained for the same number of FLOPs" in q
               for q in quotes)
    assert "7.6%" in quotes


@pytest.mark.parametrize("quote, context, expected", [
    # the misquotation of Section 3.4 that issue 14 found in lesson 06
    ('would not be compute-optimal for less than roughly $10^{26}$ FLOPs', "Section 3.4", "not a sentence"),
    # verbatim, but with the wrong section
    ("setting the cosine cycle length too much longer", "(Section 3.1, Figure A1)", "not named"),
    ("setting the cosine cycle length too much longer", "(Appendix B, Figure A1)", None),
    # "Section 4.2.2" does not name "Section 4"
    ("the larger end of this range", "Section 4.2.2", "not named"),
    ("the larger end of this range", "Section 4 says", None),
    # LaTeX in the lesson, plain text in the data; an ellipsis joins parts of one sentence
    ("Unless one has a compute budget of $10^{26}$ FLOPs … unlikely to be the optimal model",
     "Section 3.4", None),
    ("Unless one has … 250× the compute used to train Chinchilla", "Section 3.4", "not a sentence"),
    ("we fit a parabola to each IsoFLOP curve", "Section 3.2", "not a sentence"),
])
def test_the_check_catches_misquotations(quote, context, expected):
    problem = problems(quote, context)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None and expected in problem


def test_sentences_are_kept_short_and_sourced():
    assert len(SENTENCES) <= 30, "keep only the sentences the course quotes, not the paper"
    for section, sentence in SENTENCES:
        assert re.match(r"(Title|Abstract|Section [\d.]+|Table \w+|Figure \w+|Appendix [A-Z](?:\.\d+)*)$", section)
        assert sentence
    for text, why in NOT_THE_PAPER.items():
        assert why
        if len(text.split()) >= 3:  # a single word in scare quotes may also occur in the paper
            assert not sources(text), f"{text!r} is the paper's: quote it with its section"
