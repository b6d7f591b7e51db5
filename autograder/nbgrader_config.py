"""nbgrader configuration of the tinychinchilla course.

Used three ways: by `nbgrader ...` run from this folder (the instructor's real course: gradebook,
submissions, feedback all live here and are git-ignored), and by `build_lessons.py` and the tests,
which load this file themselves (nbgrader's Python API does not read it) and then point the course
root and the gradebook at a temporary folder.

The answer spec the hidden tests check against is not here: it ships inside the package,
`src/tinychinchilla/answers.toml`, so that the learners' self-check finds it on Colab too.
"""

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Graded assignments (issue 17): the student's kit holds no reference for their numeric questions
# (its self-check checks the form of an answer only) and their inputs vary per student (answers.toml,
# [variants."NN"]). Every other assignment is practice: its self-check says right or wrong. The
# references of a graded assignment live here, in graded_answers.toml, outside the wheel; a test
# (tests/test_variants.py) checks that this list, answers.toml and graded_answers.toml agree.
GRADED_ASSIGNMENTS = ("08-homework-pretraining",)
# The hidden tests read those references at grading time: `nbgrader autograde` run from this folder
# passes this to its kernels. autograder/grade.py sets it empty for its sandboxed kernels (which
# could not read it) and judges every answer again itself, with each student's variant.
os.environ.setdefault("TINYCHINCHILLA_REFERENCES", str(HERE / "graded_answers.toml"))

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "tinychinchilla"
c.CourseDirectory.root = str(HERE)
# nbgrader's layout, relative to the root: <folder>/<student>/<assignment>/<notebook>.ipynb.
# Each notebook is its own assignment whose id is the notebook's name (e.g. "01-tiny-transformer");
# build_lessons.py stages solutions/NN-name.ipynb into source/NN-name/ in a temporary course.
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = f"sqlite:///{HERE / 'gradebook.db'}"
# The course hands notebooks out and in through an LMS (grade.py reads its download), not through
# nbgrader's exchange; nbgrader still wants an exchange folder (the formgrader warns when the
# default /usr/local/share/nbgrader/exchange cannot be made), so it lives in the course, git-ignored.
c.Exchange.root = str(HERE / "exchange")
try:
    (HERE / "exchange").mkdir(exist_ok=True)  # nbgrader logs "Unwritable directory" when it is missing
except OSError:
    pass  # a read-only checkout: nbgrader's warning then, harmless (the exchange is not used)

# Grading runs every notebook in fast mode (nbgrader sets NBGRADER_EXECUTION, see
# tinychinchilla.check.fast_mode): no cell should need more than a few seconds, but a cold kernel
# on a busy 2-core machine can be slow, so allow 120 s per cell (nbgrader's default is 30 s).
c.Execute.timeout = 120

# The markers the solution notebooks use (nbgrader's defaults, stated so they are greppable).
c.ClearSolutions.begin_solution_delimeter = "BEGIN SOLUTION"
c.ClearSolutions.end_solution_delimeter = "END SOLUTION"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# A test cell the student deleted is put back (and run) rather than scored 0 unseen; an edited
# one is restored from the source by nbgrader anyway (test cells are locked and checksummed).
c.OverwriteCells.add_missing_cells = True

# nbgrader's own autograde steps, plus a cap on the size of any one output (LimitOutput counts
# lines only: a single 100 MB line would be kept).
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "tinychinchilla.sandbox.LimitOutputChars",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Feedback HTML would otherwise show the hidden tests: their source (ClearHiddenTests) and their
# lines quoted in a failing test's traceback (ClearTestTracebacks).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "tinychinchilla.sandbox.ClearTestTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
