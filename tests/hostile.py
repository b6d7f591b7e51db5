"""The hostile-submission corpus: broken and malicious submissions of lesson 00, each with the
score a careful instructor would give it (autograder/README.md has the same table).

Each case starts from a correct submission (the solution notebook, whose five numeric answers
earn the five automatic points; the written answer is graded by hand and left out here) and
changes it. `write_corpus` lays the cases out as nbgrader submissions, one student per case.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import nbformat

from tinychinchilla import sandbox

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "00-setup-and-tour"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"
AUTO_POINTS = 5  # the lesson's five numeric questions, one point each
WRONG = {"chinchilla_params": 1.0, "chinchilla_tokens": 2.0, "chinchilla_tokens_per_param": 3.0,
         "gopher_tokens_per_param": 4.0, "chinchilla_flops_6nd": 5.0}


@dataclass(frozen=True)
class Case:
    name: str
    score: float                       # expected automatic score out of AUTO_POINTS
    why: str                           # the table's explanation
    make: Callable[[nbformat.NotebookNode, Path], object]   # edits the notebook (or returns bytes)
    summary: str = ""                  # a phrase the batch summary must show for this student
    folder: str = ASSIGNMENT
    filename: str = f"{ASSIGNMENT}.ipynb"


def _cell(nb, grade_id):
    return next(c for c in nb.cells if sandbox.grade_id(c) == grade_id)


def _index(nb, grade_id):
    return nb.cells.index(_cell(nb, grade_id))


def _answer(nb, name, code):
    _cell(nb, f"a00-{name}").source = code


def _all_wrong(nb):
    for name, value in WRONG.items():
        _answer(nb, name, f"{name} = {value!r}")


def _insert_before(nb, grade_id, code):
    nb.cells.insert(_index(nb, grade_id), nbformat.v4.new_code_cell(code))


def _after_setup(nb, code):
    """A cell of the student's own, before the first answer."""
    _insert_before(nb, "a00-chinchilla_params", code)


def good(nb, _):
    pass


def blank(nb, _):
    for name in WRONG:
        _answer(nb, name, "# YOUR CODE HERE\nraise NotImplementedError()")


def one_wrong_upstream(nb, _):
    _answer(nb, "chinchilla_tokens", "chinchilla_tokens = 1.4e11")  # also spoils tokens/param and 6ND


def infinite_loop(nb, _):
    _answer(nb, "gopher_tokens_per_param", "while True:\n    pass\ngopher_tokens_per_param = 300e9 / 280e9")


def kernel_death(nb, _):
    _answer(nb, "gopher_tokens_per_param", "import os\nos._exit(1)")


def sys_exit(nb, _):
    _answer(nb, "gopher_tokens_per_param", "import sys\nsys.exit('done early')")


def edited_test_cell(nb, _):
    _answer(nb, "gopher_tokens_per_param", "gopher_tokens_per_param = 99.0")
    _cell(nb, "q00-gopher_tokens_per_param").source = "print('all good')"


def deleted_test_cell(nb, _):
    _answer(nb, "gopher_tokens_per_param", "gopher_tokens_per_param = 99.0")
    del nb.cells[_index(nb, "q00-gopher_tokens_per_param")]


def duplicate_grade_id(nb, _):
    _answer(nb, "gopher_tokens_per_param", "gopher_tokens_per_param = 99.0")
    fake = copy.deepcopy(_cell(nb, "q00-gopher_tokens_per_param"))
    fake.source = "pass  # a copy of the test cell, placed first"
    fake.pop("id", None)
    nb.cells.insert(_index(nb, "q00-gopher_tokens_per_param"), fake)


def own_kernel(nb, _):
    nb.metadata["kernelspec"] = {"name": "conda-env-myenv-py", "display_name": "Python (myenv)",
                                 "language": "python"}


def patched_math_isclose(nb, _):
    _all_wrong(nb)
    _after_setup(nb, "import math\nmath.isclose = lambda *a, **k: True")


def patched_numpy_isclose(nb, _):
    _all_wrong(nb)
    _after_setup(nb, "import numpy\nnumpy.isclose = lambda *a, **k: True\nnumpy.allclose = lambda *a, **k: True")


def patched_check(nb, _):
    _all_wrong(nb)
    _after_setup(nb, "import sys, types\n"
                     "check.assert_answer = lambda *a, **k: None\n"
                     "check.judge = lambda q, v: types.SimpleNamespace(passed=True, message='ok')\n"
                     "fake = types.ModuleType('tinychinchilla.check')\n"
                     "fake.assert_answer = fake.check = lambda *a, **k: True\n"
                     "sys.modules['tinychinchilla.check'] = fake\n"
                     "check = fake")


def hook_and_thread(nb, _):
    _all_wrong(nb)
    _after_setup(nb, "import math, threading, time\n"
                     "def cheat(*args):\n"
                     "    math.isclose = lambda *a, **k: True\n"
                     "    check.assert_answer = lambda *a, **k: None\n"
                     "get_ipython().events.callbacks['pre_run_cell'].clear()\n"
                     "get_ipython().events.register('pre_run_cell', cheat)\n"
                     "def keep_cheating():\n"
                     "    while True:\n"
                     "        cheat()\n"
                     "        time.sleep(0.001)\n"
                     "threading.Thread(target=keep_cheating, daemon=True).start()")


def wrong_types(nb, _):
    _answer(nb, "chinchilla_params", "import numpy as np\nchinchilla_params = np.float64(70e9)  # right, as numpy")
    _answer(nb, "chinchilla_tokens", "chinchilla_tokens = '1.4e12'")
    _answer(nb, "chinchilla_tokens_per_param", "chinchilla_tokens_per_param = [20.0]")
    _answer(nb, "gopher_tokens_per_param", "gopher_tokens_per_param = float('nan')")
    _answer(nb, "chinchilla_flops_6nd", "chinchilla_flops_6nd = float('inf')")


def missing_answer_cell(nb, _):
    del nb.cells[_index(nb, "a00-chinchilla_params")]  # params, tokens/param and 6ND all need it


def deleted_answer_and_test(nb, _):
    for grade_id in ("a00-gopher_tokens_per_param", "q00-gopher_tokens_per_param"):
        del nb.cells[_index(nb, grade_id)]


def no_nbgrader_metadata(nb, _):
    """A notebook rebuilt by another tool: cell ids kept, nbgrader metadata gone."""
    for cell in nb.cells:
        cell.metadata.pop("nbgrader", None)


def print_100mb(nb, _):
    _answer(nb, "chinchilla_params", "chinchilla_params = 70e9\nprint('x' * 100_000_000)")


def write_outside(nb, outside: Path):
    code = ("import os, shutil\n"
            "for path in ['../../../../escaped.txt', os.path.expanduser('~/escaped.txt'), "
            f"{str(outside / 'escaped.txt')!r}]:\n"
            "    try:\n"
            "        open(path, 'w').write('x')\n"
            "    except OSError as exc:\n"
            "        print('blocked', path, type(exc).__name__)\n"
            f"for path in [{str(outside / 'sentinel.txt')!r}, '../../../../nbgrader_config.py']:\n"
            "    try:\n"
            "        os.remove(path)\n"
            "    except OSError as exc:\n"
            "        print('blocked', path, type(exc).__name__)\n"
            f"shutil.rmtree({str(outside / 'sentinel_dir')!r}, ignore_errors=True)")
    _after_setup(nb, code)


def gradebook_tamper(nb, outside: Path):
    _all_wrong(nb)
    code = ("import glob, os, sqlite3\n"
            f"paths = glob.glob('../../../../*.db') + glob.glob('../../../*.db') + [{str(outside / 'course' / 'gradebook.db')!r}]\n"
            "for path in paths:\n"
            "    try:\n"
            "        db = sqlite3.connect(path)\n"
            "        db.execute('update grade set manual_score = 100, auto_score = 100')\n"
            "        db.execute('update grade_cells set max_score = 0') if False else None\n"
            "        db.commit()\n"
            "        print('tampered', path)\n"
            "    except Exception as exc:\n"
            "        print('blocked', path, type(exc).__name__)\n"
            "    try:\n"
            "        open(path, 'wb').close()\n"
            "    except OSError as exc:\n"
            "        print('blocked truncate', path, type(exc).__name__)")
    _after_setup(nb, code)


def resource_hog(nb, _):
    _after_setup(nb, "try:\n    hog = bytearray(64 * 2**30)\nexcept MemoryError:\n    print('no memory for that')\n"
                     "import socket\n"
                     "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2)\n"
                     "except OSError as exc:\n    print('network', type(exc).__name__)\n"
                     "import os, signal\n"
                     "try:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
                     "except OSError as exc:\n    print('signal', type(exc).__name__)")


def _solution_code() -> str:
    """The five right answers as one line of code (what a cheat would smuggle into a test cell)."""
    nb = nbformat.read(SOLUTION, as_version=4)
    return "; ".join(_cell(nb, f"a00-{name}").source.splitlines()[1] for name in WRONG)


def links_out(nb, outside: Path):
    """Links from its own folders to files the grader can read, then a crash: the grader grades
    the notebook again, and must follow none of them (nor copy them into feedback)."""
    targets = [outside / "secret.txt", outside / "course" / "gradebook.db", outside / "sentinel_dir"]
    code = ("import os, tempfile\n"
            f"targets = {[str(t) for t in targets]!r}\n"
            "for folder in ['.', tempfile.gettempdir()]:\n"
            "    for i, target in enumerate(targets):\n"
            "        for make in (os.symlink, os.link):\n"
            "            try:\n"
            "                make(target, os.path.join(folder, f'{make.__name__}{i}.ipynb'))\n"
            "            except OSError as exc:\n"
            "                print('blocked', make.__name__, type(exc).__name__)\n"
            "    try:\n"
            "        os.mkfifo(os.path.join(folder, 'fifo'))\n"
            "    except OSError as exc:\n"
            "        print('blocked fifo', type(exc).__name__)")
    _after_setup(nb, code)
    _after_setup(nb, "import os\nos._exit(1)")


def metadata_outside(nb, outside: Path):
    """chmod, chown and utime of files outside its folder, the course gradebook among them."""
    code = ("import os\n"
            f"for path in [{str(outside / 'course' / 'gradebook.db')!r}, {str(outside / 'sentinel.txt')!r}, "
            f"{str(outside / 'sentinel_dir')!r}]:\n"
            "    for change in (lambda p: os.chmod(p, 0o777), lambda p: os.chown(p, 65534, 65534),\n"
            "                   lambda p: os.utime(p, (0, 0))):\n"
            "        try:\n"
            "            change(path)\n"
            "        except OSError as exc:\n"
            "            print('blocked', path, type(exc).__name__)")
    _after_setup(nb, code)


def reads_solutions(nb, outside: Path):
    """Every answer taken from the instructor's notebooks (the checkout's solutions/, the worker's
    source/), and the course gradebook printed into the feedback."""
    code = ("import glob, json, pathlib, tinychinchilla\n"
            "places = [pathlib.Path(tinychinchilla.__file__).resolve().parents[2] / 'solutions' / "
            f"'{ASSIGNMENT}.ipynb', *map(pathlib.Path, glob.glob('../../../source/*/*.ipynb')), "
            f"*map(pathlib.Path, glob.glob('../../../../*/source/*/*.ipynb'))]\n"
            "stolen = {}\n"
            "for place in places:\n"
            "    try:\n"
            "        cells = json.loads(place.read_text())['cells']\n"
            "    except OSError as exc:\n"
            "        print('blocked', type(exc).__name__)\n"
            "        continue\n"
            "    for cell in cells:\n"
            "        grade_id = cell['metadata'].get('nbgrader', {}).get('grade_id')\n"
            "        stolen[grade_id] = ''.join(cell['source'])\n"
            "print('\\n'.join(stolen.values()))\n"
            f"for db in [{str(outside / 'course' / 'gradebook.db')!r}, *glob.glob('../../../*.db')]:\n"
            "    try:\n"
            "        print(open(db, 'rb').read()[:2000])\n"
            "    except OSError as exc:\n"
            "        print('blocked', type(exc).__name__)\n"
            "def steal(grade_id):\n"
            "    if grade_id in stolen:\n"
            "        exec(stolen[grade_id], globals())")
    _after_setup(nb, code)
    for name in WRONG:
        _answer(nb, name, f"{name} = {WRONG[name]!r}\nsteal('a00-{name}')")


def detached_children(nb, _):
    """Processes that leave the kernel's session (setsid, a double fork) and outlive it, holding
    the kernel's stdout."""
    sleeper = "import time; time.sleep(900)  # hostile-detached"
    code = ("import os, subprocess, sys\n"
            "for _ in range(4):\n"
            f"    subprocess.Popen([sys.executable, '-c', {sleeper!r}], start_new_session=True)\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            f"        os.execv(sys.executable, [sys.executable, '-c', {sleeper!r}])\n"
            "    os._exit(0)\n"
            "os.waitpid(pid, 0)")
    _after_setup(nb, code)


def lost_grade_flag(nb, _):
    """A test cell that lost only its "grade": true (an editor's doing), the rest intact."""
    del _cell(nb, "q00-chinchilla_params").metadata.nbgrader["grade"]


def input_transformer(nb, _):
    """IPython hooks that rewrite every test cell to set the right answers first: an input
    transformer (applied before any pre_run_cell hook), an AST transformer, and a thread that
    keeps putting them back."""
    _all_wrong(nb)
    code = ("import ast, threading, time\n"
            f"FIX = {_solution_code()!r} + '\\n'\n"
            "def fix(lines):\n"
            "    return [FIX, *lines] if any('HIDDEN' + ' TESTS' in line for line in lines) else lines\n"
            "class Fix(ast.NodeTransformer):\n"
            "    def visit_Module(self, node):\n"
            "        node.body[:0] = ast.parse(FIX).body\n"
            "        return node\n"
            "def keep(shell=get_ipython(), fix=fix, Fix=Fix, time=time):\n"
            "    while True:\n"
            "        if fix not in shell.input_transformers_post:\n"
            "            shell.input_transformers_post.append(fix)\n"
            "        if not any(isinstance(t, Fix) for t in shell.ast_transformers):\n"
            "            shell.ast_transformers.append(Fix())\n"
            "        time.sleep(0.0005)\n"
            "get_ipython().input_transformers_post.append(fix)\n"
            "threading.Thread(target=keep, daemon=True).start()")
    _after_setup(nb, code)


def hidden_marker_comment(nb, _):
    """A student's own comment quoting the hidden-test marker, in an answer cell."""
    cell = _cell(nb, "a00-chinchilla_params")
    cell.source = "# the tests hide lines between ### BEGIN HIDDEN TESTS and its end marker\n" + cell.source


def folder_flood(nb, _):
    """3,000 files written into its folder (the grader would copy them twice)."""
    _after_setup(nb, "import os\nos.makedirs('flood', exist_ok=True)\n"
                     "for i in range(3000):\n    open(f'flood/{i}.txt', 'w').write('x' * 1000)")


def invalid_json(nb, _):
    return nbformat.writes(nb)[:5000].encode()  # cut mid-file


CASES = [
    Case("good", 5, "all five answers right", good),
    Case("blank", 0, "the released notebook, untouched: every test fails", blank, "raised errors"),
    Case("one-wrong-upstream", 2, "a wrong token count also spoils the two answers computed from it",
         one_wrong_upstream),
    Case("infinite-loop", 4, "the looping cell is interrupted at the cell timeout; its question scores 0",
         infinite_loop, "timed out"),
    Case("kernel-death", 4, "os._exit kills the kernel: that cell is skipped and the notebook graded again",
         kernel_death, "kernel"),
    Case("sys-exit", 4, "sys.exit only ends its own cell (IPython catches SystemExit)", sys_exit),
    Case("edited-test-cell", 4, "nbgrader restores the locked test cell from the source; the wrong answer fails it",
         edited_test_cell),
    Case("deleted-test-cell", 4, "the deleted test cell is put back from the released notebook and run; it fails",
         deleted_test_cell),
    Case("duplicate-grade-id", 4, "the first cell with the id is restored to the real test; the copy is ignored",
         duplicate_grade_id),
    Case("own-kernel", 5, "a kernel of the student's own (a conda env) in the metadata: run with the course's kernel",
         own_kernel),
    Case("patched-math-isclose", 0, "math.isclose is restored by the guard and answers are re-checked outside",
         patched_math_isclose),
    Case("patched-numpy-isclose", 0, "numpy.isclose / allclose likewise", patched_numpy_isclose),
    Case("patched-check", 0, "check replaced in the namespace and sys.modules: restored; no answer record",
         patched_check),
    Case("hook-and-thread", 0, "a hook and a thread that keep re-patching: caught by the re-check outside",
         hook_and_thread, "no answer reached the hidden test"),
    Case("wrong-types", 1, "string, list, NaN and inf answers fail with a hint; a numpy float counts", wrong_types),
    Case("deleted-answer-and-test", 4, "both cells are put back as released: that question scores 0, the rest count",
         deleted_answer_and_test, "put back as released"),
    Case("no-nbgrader-metadata", 5, "metadata restored from the released notebook by cell id; graded as usual",
         no_nbgrader_metadata, "metadata of"),
    Case("missing-answer-cell", 2, "the deleted answer's test and the two tests that use it fail",
         missing_answer_cell),
    Case("renamed-notebook", 5, "graded: the only notebook in the folder, with this assignment's cells", good,
         "renamed", filename="Copy of 00-setup-and-tour (1).ipynb"),
    Case("invalid-json", 0, "not a notebook: scored 0, kept in submitted/ for the instructor", invalid_json,
         "invalid JSON"),
    Case("print-100mb", 5, "a 100 MB print is cut to 100 kB in the graded notebook; answers still count",
         print_100mb),
    Case("write-outside", 5, "writes and deletions outside its folder are refused; nothing outside changes",
         write_outside),
    Case("gradebook-tamper", 0, "the gradebooks it can find are its worker's (read-only to it); wrong answers score 0",
         gradebook_tamper),
    Case("resource-hog", 5, "a 64 GB allocation, a TCP connection and killing the grader all fail", resource_hog),
    Case("links-out", 5, "links to the gradebook, the solutions and system files are refused; none is ever followed; "
         "feedback is the notebook's HTML alone", links_out, "kernel"),
    Case("metadata-outside", 5, "chmod, chown and utime outside its folder do nothing (seccomp); nothing outside changes",
         metadata_outside),
    Case("reads-solutions", 0, "the checkout's solutions, the source notebooks and the gradebook are unreadable to it",
         reads_solutions),
    Case("detached-children", 5, "children that setsid or double-fork are killed when its grading ends, and counted",
         detached_children, "killed"),
    Case("lost-grade-flag", 5, "a test cell's lost \"grade\": true is repaired from the released notebook",
         lost_grade_flag, "repaired"),
    Case("input-transformer", 0, "IPython input/AST transformers cannot rewrite a test cell: it runs as written",
         input_transformer),
    Case("hidden-marker-comment", 5, "a student's comment quoting the hidden-test marker is left alone",
         hidden_marker_comment),
    Case("folder-flood", 0, "3,000 files in its folder: over the cap, grading stops and the overflow is reported",
         folder_flood, "over the cap"),
    Case("unknown-assignment", 0, "a folder for an assignment the course does not have: reported, not graded",
         good, "unknown assignment", folder="99-not-a-lesson", filename="99-not-a-lesson.ipynb"),
]


def write_corpus(folder: Path, outside: Path, names: list[str] | None = None) -> list[Case]:
    """Write the cases as <folder>/<student>/<assignment>/<file>; ``outside`` is a folder beside it
    holding files the hostile cases try to change. Returns the cases written."""
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "sentinel.txt").write_text("must survive\n")
    (outside / "secret.txt").write_text("instructor-only secret\n")
    (outside / "sentinel_dir").mkdir(exist_ok=True)
    (outside / "sentinel_dir" / "keep.txt").write_text("must survive\n")
    chosen = [c for c in CASES if names is None or c.name in names]
    for case in chosen:
        nb = nbformat.read(SOLUTION, as_version=4)
        result = case.make(nb, outside)
        target = folder / case.name / case.folder / case.filename
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(result, bytes):
            target.write_bytes(result)
        else:
            target.write_text(json.dumps(nb, indent=1))
    return chosen
