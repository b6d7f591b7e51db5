"""The paper's numbers as plain data, each labelled with where it is printed.

Everything here comes from Hoffmann et al. 2022, "Training Compute-Optimal Large Language
Models" (arXiv 2203.15556), except the two Approach 3 refits by Besiroglu et al. 2024 (Epoch AI,
"Chinchilla Scaling: A replication attempt"). Units are plain counts: parameters, tokens and FLOPs
are stored as floats such as ``70e9`` or ``1.4e12``, accuracies as percentages.

Values are stored exactly as printed. Where the paper contradicts itself, the printed value is
kept and the contradiction is recorded in ``ERRATA`` (and, for the one clear typo, in
``TABLE_A3_CORRECTED``), so that a lesson can show learners both.

Besides the data, this module holds the small amount of arithmetic that turns a fitted law into
a table of projections (lesson 06):

* ``LossLaw``: the parametric loss of eq. 2, with the closed-form efficient frontier of eq. 4.
* ``gopher_units``, ``project_table``, ``project_from_loss_law``: rebuild Table 3 / Table A3 rows.

The tables live in ``_paper_tables`` and the laws and projections in ``_paper_laws``, both
re-exported here; this module adds what the text says about specific models and the errata.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._paper_laws import (  # noqa: F401  (re-exported: paper.X as before the split)
    EPOCH_CITATION, EPOCH_EXACT_GRID, EPOCH_REFIT, EQ10_ROUNDED, EQ10_UNROUNDED, LossLaw, _params_array,
    _power_law_coefficients, _rows, gopher_units, project_from_loss_law, project_table, table_column)
from ._paper_tables import (  # noqa: F401
    APPENDIX_F_FLOPS_COMPARED, FIGURE_A1_CYCLE_MULTIPLIERS, GOPHER_FLOPS, MMLU_CHINCHILLA_ABSTRACT,
    MMLU_GAIN_AS_WRITTEN, MMLU_HIGH_ACCURACY, MMLU_TASKS_ABOVE_90, N_MMLU_TASKS, RUNS_BEHIND_THE_FITS,
    SECTION_1_KAPLAN_10X, SECTION_3_1, SECTION_3_2_BUDGETS, TABLE_1, TABLE_2, TABLE_2_PERCENTILES, TABLE_3,
    TABLE_4, TABLE_6, TABLE_A3, TABLE_A3_CORRECTED, TABLE_A4, TABLE_A6, TABLE_A9_SEQ_LEN, TABLE_A9_VOCAB,
    TASKS_IMPROVED_OVER_GOPHER, ExponentEstimate, ModelSetup, PaperModel, ProjectionRow, table_1_model)

# --------------------------------------------------------------------------------------------
# Section 3.4 (and Section 4): what the text says about specific models
# --------------------------------------------------------------------------------------------

#: Statements of Section 3.4 (lesson 06, homework questions 2 and 5). The text's numbers differ
#: slightly from Table 3 (e.g. 175B: text 4.41e24 FLOPs / >4.2T tokens, Table 3 3.85e24 / 3.7T;
#: 280B: text ~1e25 / 6.8T, Table 3 9.90e24 / 5.9T); a lesson should say so, not hide it. For 1T
#: the text says 10^26 FLOPs is "over 250× the compute used to train Gopher"; 1e26 / 5.76e23 = 174x
#: and Table 3's 1T row prints 221.3 Gopher units (see ``ERRATA``).
SECTION_3_4: dict[str, dict[str, float]] = {
    "175B": {"params": 175e9, "flops": 4.41e24, "min_tokens": 4.2e12},
    "280B": {"params": 280e9, "flops": 1e25, "tokens": 6.8e12},
    "1T": {"params": 1e12, "min_flops": 1e26, "min_gopher_multiple": 250},
}

#: Section 4: "the optimal model size for the Gopher compute budget is somewhere between 40 and 70
#: billion parameters"; Chinchilla was trained at "the larger end of this range" (70B, 1.4T tokens).
SECTION_4_OPTIMUM_RANGE = (40e9, 70e9)

#: Section 4 asserts that Chinchilla (70B, 1.4T tokens) and Gopher were trained for the same
#: number of FLOPs; see ``GOPHER_FLOPS`` for what the paper's own counts show.
CHINCHILLA = table_1_model("Chinchilla")
GOPHER = table_1_model("Gopher")


# --------------------------------------------------------------------------------------------
# Errata: places where the paper disagrees with itself
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erratum:
    """A printed value that disagrees with another part of the paper."""

    where: str
    printed: str
    expected: str
    why: str


#: Inconsistencies a careful lesson should point out. The printed values above are unchanged.
ERRATA: tuple[Erratum, ...] = (
    Erratum(
        "Table A3, 175B, Approach 3 FLOPs",
        "1.26e24",
        "1.26e25",
        "6 * 175e9 * 12.0e12 = 1.26e25; the exponent is a typo (1.26e24 would make the 175B model "
        "cheaper than the 67B one).",
    ),
    Erratum(
        "Table 3, 67B row",
        "5.76e23 FLOPs, 1.5T tokens",
        "6ND = 6.03e23 FLOPs; 5.76e23 / (6 * 67e9) = 1.43T tokens",
        "The row is pinned to Gopher's budget, but its tokens round up; the other rows satisfy "
        "C = 6ND within rounding.",
    ),
    Erratum(
        "Eq. 10 (rounded) vs Table A3 Approach 3",
        "E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28",
        "the unrounded fit (EQ10_UNROUNDED)",
        "At 5.76e23 FLOPs the rounded coefficients give ~32B params and the unrounded ~40B; "
        "Table A3's Approach 3 column implies ~42B. The frontier is very sensitive to alpha, beta.",
    ),
    Erratum(
        "Table A3, 280B, Approach 3 tokens",
        "20.1T",
        "21.0T (3.52e25 / (6 * 280e9) = 20.95T)",
        "4.1% below C / 6N; the power law through the other rows also gives ~21T. The printed "
        "digits look transposed.",
    ),
    Erratum(
        "Table A3, 67B, Approach 3 tokens",
        "4.1T",
        "4.25T (1.71e24 / (6 * 67e9))",
        "3.6% below C / 6N, more than rounding; 4.1T is 1.71e24 / (6N) for N ~ 70B (see the next "
        "entry).",
    ),
    Erratum(
        "Table A3, 67B rows",
        "Approach 2: 6.88e23 FLOPs; Approach 3: 1.71e24 FLOPs",
        "on the power law of the other eight rows: ~6.39e23 and ~1.56e24 for 67B",
        "The other eight rows of each column lie on one power law to 0.2%; the printed 67B FLOPs "
        "are where that law puts ~69.5B (Approach 2) and ~70B (Approach 3), i.e. Chinchilla's size.",
    ),
    Erratum(
        "Table 2, Approach 3 intervals",
        "a = 0.46 (0.454, 0.455), b = 0.54 (0.542, 0.543)",
        "point estimates inside their intervals",
        "The unrounded eq. 10 exponents give a = 0.4565, b = 0.5435, just outside the printed "
        "10-90% bootstrap intervals; the intervals are also implausibly narrow (Besiroglu et al.).",
    ),
    Erratum(
        "Abstract vs Table 6, Chinchilla MMLU",
        "67.5% (abstract)",
        "67.6% (Table 6)",
        "Not a rounding of the same number: the mean of Table A6's 57 task accuracies is 67.64%, "
        "which rounds to Table 6's 67.6%.",
    ),
    Erratum(
        "Section 4's equal compute vs the paper's own FLOP counts",
        "Chinchilla and Gopher trained for the same number of FLOPs (5.76e23, the budget of "
        "Section 3.4 and Table 3)",
        "6ND with Table 1: Chinchilla 5.88e23, Gopher 5.04e23 (+16.7%); Appendix F's formula on "
        "Table 4's shapes: 5.68e23 and 4.75e23 (+19.5%)",
        "Section 4 asserts equal compute; no count in the paper shows it. The gap is not an "
        "artefact of 6ND: Appendix F's more detailed count gives a larger one, and Appendix F "
        "itself sets 6.3e23 against 5.76e23.",
    ),
    Erratum(
        "Section 3.4, 1T parameters",
        "10^26 FLOPs (over 250x the compute used to train Gopher)",
        "1e26 / 5.76e23 = 174x; Table 3's 1T row prints 1.27e26 FLOPs = 221.3 Gopher units",
        "Neither 1e26 nor Table 3's own 1T budget is over 250 Gopher budgets.",
    ),
    Erratum(
        "Section 3.4 text vs Table 3",
        "175B: 4.41e24 FLOPs, >4.2T tokens; 280B: ~1e25 FLOPs, 6.8T tokens",
        "Table 3: 175B: 3.85e24, 3.7T; 280B: 9.90e24, 5.9T",
        "The text and Table 3 quote slightly different projections.",
    ),
)
