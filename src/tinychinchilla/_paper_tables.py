"""The paper's tables as printed, by section: the compute budgets, Table 1 and Table 4 (the
models), Table 2 (the fitted exponents), Table 3 and Table A3 (projections), Table A4 / Table A9
(the six models of Appendix F) and Table 6 / Table A6 (MMLU). Part of :mod:`tinychinchilla.paper`,
which re-exports everything here; the lessons import ``paper``, never this module."""

from __future__ import annotations

from dataclasses import dataclass, replace

# --------------------------------------------------------------------------------------------
# Compute budgets
# --------------------------------------------------------------------------------------------

#: Gopher's training compute as the paper uses it: the budget at which it computes Gopher's optimum
#: (Figure 2's caption, Table 3's "FLOPs (in Gopher unit)" column). Section 4 asserts that
#: Chinchilla used the same number of FLOPs, but the paper's own counts do not show it: 6ND with
#: Table 1's params and tokens gives Gopher 5.04e23 and Chinchilla 5.88e23 (+16.7%), Appendix F's
#: formula on Table 4's shapes gives 4.75e23 and 5.68e23 (+19.5%), and Appendix F itself sets 6.3e23
#: against 5.76e23 (``APPENDIX_F_FLOPS_COMPARED``). See ``ERRATA``.
GOPHER_FLOPS = 5.76e23

#: Appendix F's last sentence: "Compared to the results presented in Rae et al. (2021), we use a
#: slightly more accurate calculation giving a slightly different value (6.3 × 10^23 compared to
#: 5.76 × 10^23)". The two values it compares, in its order; it does not say which is which.
APPENDIX_F_FLOPS_COMPARED = (6.3e23, 5.76e23)


# --------------------------------------------------------------------------------------------
# Table 1: current large language models
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSetup:
    """One row of Table 1: how many parameters a model has and how many tokens it saw."""

    name: str
    params: float
    tokens: float


#: Table 1 (lesson 00, homework question 2): size and training tokens of the large models of
#: the time. Its caption: other than LaMDA (168B tokens), most were trained on about 300B tokens;
#: Chinchilla on 1.4T.
TABLE_1: tuple[ModelSetup, ...] = (
    ModelSetup("LaMDA", 137e9, 168e9),
    ModelSetup("GPT-3", 175e9, 300e9),
    ModelSetup("Jurassic", 178e9, 300e9),
    ModelSetup("Gopher", 280e9, 300e9),
    ModelSetup("MT-NLG 530B", 530e9, 270e9),
    ModelSetup("Chinchilla", 70e9, 1.4e12),
)


def table_1_model(name: str) -> ModelSetup:
    """Look up a Table 1 row by name (case-insensitive prefix, e.g. ``"gopher"`` or ``"mt-nlg"``)."""
    key = name.strip().lower()
    for row in TABLE_1:
        if row.name.lower().startswith(key):
            return row
    known = ", ".join(row.name for row in TABLE_1)
    raise KeyError(f"no Table 1 model called {name!r}; Table 1 has: {known}")


#: Table 4 (Section 4.1): the architectures of Gopher and Chinchilla. Keys are ``counting.Shape``
#: fields; ``ffw_size`` is 4 x d_model (Table 4's caption). Vocabulary 32,000 (Table A8) and
#: sequence length 2048 (as Table A9) complete the shape for Appendix F's count (lessons 00, 06, 08).
TABLE_4: dict[str, dict[str, int]] = {
    "Gopher": {"n_layers": 80, "n_heads": 128, "kv_size": 128, "d_model": 16_384, "ffw_size": 65_536},
    "Chinchilla": {"n_layers": 80, "n_heads": 64, "kv_size": 128, "d_model": 8_192, "ffw_size": 32_768},
}


# --------------------------------------------------------------------------------------------
# Table 2: the fitted exponents of the three approaches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExponentEstimate:
    """One row of Table 2: N_opt ∝ C^a and D_opt ∝ C^b.

    The intervals are the 10th and 90th percentiles of the bootstrap (Table 2's caption);
    Kaplan et al. (2020) have no interval in the table, so theirs are ``None``.
    """

    approach: str
    a: float
    a_interval: tuple[float, float] | None
    b: float
    b_interval: tuple[float, float] | None


#: The training runs behind the fits (abstract): "over 400 language models ranging from 70 million
#: to over 16 billion parameters on 5 to 500 billion tokens". Section 3.2's IsoFLOP budgets range
#: from 6e18 to 3e21 FLOPs.
RUNS_BEHIND_THE_FITS = {"models": 400, "min_params": 70e6, "max_params": 16e9,
                        "min_tokens": 5e9, "max_tokens": 500e9}
SECTION_3_2_BUDGETS = (6e18, 3e21)

#: Section 3.1 (Approach 1): four cosine horizons per model size spanning a factor of 16 in training
#: tokens, and the envelope read at 1500 logarithmically spaced FLOP values.
SECTION_3_1 = {"schedules_per_size": 4, "horizon_span": 16, "flop_values": 1500}
#: Figure A1 (Appendix B): the cosine cycle lengths compared, as multiples of the run's length.
FIGURE_A1_CYCLE_MULTIPLIERS = (1.0, 1.1, 1.25, 1.5, 2.0, 5.0)

#: Table 2's intervals are the 10th and 90th percentiles of a bootstrap (its caption).
TABLE_2_PERCENTILES = (10, 90)

#: Table 2 (lessons 03-05, homework question 1). Keys: ``"approach1"``, ``"approach2"``,
#: ``"approach3"``, ``"kaplan"``. Note that the printed Approach 3 point estimates lie just outside
#: their own intervals once the unrounded eq. 10 exponents are used (a = 0.4565 vs (0.454, 0.455)),
#: see ``ERRATA``.
TABLE_2: dict[str, ExponentEstimate] = {
    "approach1": ExponentEstimate(
        "1. Minimum over training curves", 0.50, (0.488, 0.502), 0.50, (0.501, 0.512)
    ),
    "approach2": ExponentEstimate(
        "2. IsoFLOP profiles", 0.49, (0.462, 0.534), 0.51, (0.483, 0.529)
    ),
    "approach3": ExponentEstimate(
        "3. Parametric modelling of the loss", 0.46, (0.454, 0.455), 0.54, (0.542, 0.543)
    ),
    "kaplan": ExponentEstimate("Kaplan et al. (2020)", 0.73, None, 0.27, None),
}

#: Section 1's reading of Kaplan et al.: "given a 10× increase computational budget, they suggest
#: that the size of the model should increase 5.5× while the number of training tokens should only
#: increase 1.8×". Table 2's exponents give 10**0.73 = 5.4x and 10**0.27 = 1.9x; 5.5x and 1.8x
#: correspond to exponents 0.74 and 0.26. The paper does not say where its figures come from.
SECTION_1_KAPLAN_10X = {"params": 5.5, "tokens": 1.8}


# --------------------------------------------------------------------------------------------
# Table 3 and Table A3: projections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProjectionRow:
    """One row of a projection table: a model size and its compute-optimal budget.

    ``gopher_units`` is ``flops`` divided by Gopher's budget (Table 3 prints small values as
    fractions such as 1/29,968; they are stored as the float 1/29968). Table A3 prints no Gopher
    units, so its rows carry ``None`` there.
    """

    params: float
    flops: float
    gopher_units: float | None
    tokens: float


#: Table 3 (lesson 06, homework questions 2 and 5): Approach 1's compute-optimal FLOPs and tokens
#: for nine model sizes, as printed. The paper's power law was fitted on its own runs; these rows
#: are its outputs rounded to 3 significant digits (FLOPs), 0.1B/0.1T (tokens) and 1 decimal or a
#: whole-number fraction (Gopher units; the 10B row's 1/46 is 1/46.8 truncated, not rounded).
TABLE_3: tuple[ProjectionRow, ...] = (
    ProjectionRow(400e6, 1.92e19, 1 / 29_968, 8.0e9),
    ProjectionRow(1e9, 1.21e20, 1 / 4_761, 20.2e9),
    ProjectionRow(10e9, 1.23e22, 1 / 46, 205.1e9),  # 1.23e22 / 5.76e23 = 1/46.8, printed truncated
    ProjectionRow(67e9, 5.76e23, 1.0, 1.5e12),
    ProjectionRow(175e9, 3.85e24, 6.7, 3.7e12),
    ProjectionRow(280e9, 9.90e24, 17.2, 5.9e12),
    ProjectionRow(520e9, 3.43e25, 59.5, 11.0e12),
    ProjectionRow(1e12, 1.27e26, 221.3, 21.2e12),
    ProjectionRow(10e12, 1.30e28, 22_515.9, 216.2e12),
)

#: Table A3 (lesson 06): the same nine model sizes projected with Approach 2 and Approach 3, as
#: printed. Keys ``"approach2"`` and ``"approach3"``. The 175B Approach 3 FLOPs are printed as
#: 1.26e24, but 6 * 175e9 * 12.0e12 = 1.26e25, so the exponent is a typo; ``TABLE_A3_CORRECTED`` has
#: the fixed value. Two other Approach 3 rows miss C = 6ND by more than rounding (tokens printed vs
#: C / 6N: 67B 4.1T vs 4.25T, -3.6%; 280B 20.1T vs 20.95T, -4.1%); see ``ERRATA``.
TABLE_A3: dict[str, tuple[ProjectionRow, ...]] = {
    "approach2": (
        ProjectionRow(400e6, 1.84e19, None, 7.7e9),
        ProjectionRow(1e9, 1.20e20, None, 20.0e9),
        ProjectionRow(10e9, 1.32e22, None, 219.5e9),
        ProjectionRow(67e9, 6.88e23, None, 1.7e12),
        ProjectionRow(175e9, 4.54e24, None, 4.3e12),
        ProjectionRow(280e9, 1.18e25, None, 7.1e12),
        ProjectionRow(520e9, 4.19e25, None, 13.4e12),
        ProjectionRow(1e12, 1.59e26, None, 26.5e12),
        ProjectionRow(10e12, 1.75e28, None, 292.0e12),
    ),
    "approach3": (
        ProjectionRow(400e6, 2.21e19, None, 9.2e9),
        ProjectionRow(1e9, 1.62e20, None, 27.1e9),
        ProjectionRow(10e9, 2.46e22, None, 410.1e9),
        ProjectionRow(67e9, 1.71e24, None, 4.1e12),
        ProjectionRow(175e9, 1.26e24, None, 12.0e12),  # printed; 6ND says 1.26e25
        ProjectionRow(280e9, 3.52e25, None, 20.1e12),
        ProjectionRow(520e9, 1.36e26, None, 43.5e12),
        ProjectionRow(1e12, 5.65e26, None, 94.1e12),
        ProjectionRow(10e12, 8.55e28, None, 1425.5e12),
    ),
}

#: Table A3 with the one clear typo fixed (175B, Approach 3: 1.26e24 -> 1.26e25 FLOPs).
TABLE_A3_CORRECTED: dict[str, tuple[ProjectionRow, ...]] = {
    "approach2": TABLE_A3["approach2"],
    "approach3": tuple(
        replace(row, flops=1.26e25) if row.params == 175e9 else row for row in TABLE_A3["approach3"]
    ),
}


# --------------------------------------------------------------------------------------------
# Table A4 / Table A9: the six models whose FLOP counts Appendix F compares with 6ND
# --------------------------------------------------------------------------------------------

#: Vocabulary size and sequence length used for every model in Table A9.
TABLE_A9_VOCAB = 32_000
TABLE_A9_SEQ_LEN = 2048


@dataclass(frozen=True)
class PaperModel:
    """A Table A4 model with its Table A9 shape and its FLOP-count / 6ND ratio.

    ``ratio_rounded`` is what Table A4 prints; ``ratio_unrounded`` is what the paper's counting
    convention gives before rounding (it leaves out the embedding and final-logit FLOPs although
    Appendix F lists them, and counts one vocab x d_model matrix in N; see the course brief).
    Attention width is ``n_heads * kv_size``, which is not always ``d_model``.
    """

    name: str
    n_layers: int
    d_model: int
    ffw_size: int
    n_heads: int
    kv_size: int
    ratio_rounded: float
    ratio_unrounded: float


#: Table A4 (lesson 02, counting FLOPs): the six models, in the order the paper lists them.
TABLE_A4: tuple[PaperModel, ...] = (
    PaperModel("73M", 10, 640, 2560, 10, 64, 1.03, 1.0250),
    PaperModel("305M", 20, 1024, 4096, 16, 64, 1.10, 1.1008),
    PaperModel("552M", 24, 1280, 5120, 10, 128, 1.08, 1.0829),
    PaperModel("1.1B", 26, 1792, 7168, 14, 128, 1.04, 1.0441),
    PaperModel("1.6B", 28, 2048, 8192, 16, 128, 1.03, 1.0329),
    PaperModel("6.8B", 40, 3584, 14336, 28, 128, 0.99, 0.9941),
)


# --------------------------------------------------------------------------------------------
# Table 6 and Section 4.2.2: MMLU
# --------------------------------------------------------------------------------------------

#: Table 6 (homework question 4): MMLU 5-shot average accuracy in percent over the 57 tasks.
TABLE_6: dict[str, float] = {
    "random": 25.0,
    "average human rater": 34.5,
    "GPT-3": 43.9,
    "Gopher": 60.0,
    "Chinchilla": 67.6,
    "average human expert": 89.8,
    "June 2022 forecast": 57.1,
    "June 2023 forecast": 63.4,
}

#: The abstract says 67.5% where Table 6 says 67.6% (and Table A6's mean is 67.64%, see ``TABLE_A6``):
#: an inconsistency between the two, not a rounding of the same number.
MMLU_CHINCHILLA_ABSTRACT = 67.5

#: Section 4.2.2 and Figure 6 write Chinchilla's MMLU gain over Gopher as "7.6%" (the abstract: "greater
#: than a 7% improvement"). It is Table 6's difference, 67.6 - 60.0 = 7.6 percentage points; relative
#: to Gopher it is 12.7%. The paper's wording is kept as printed.
MMLU_GAIN_AS_WRITTEN = 7.6

#: Table A6 (Appendix H.2; lessons 07, 08): MMLU accuracy per task in percent, as
#: ``task: (Chinchilla, Gopher)``. Task names as in MMLU (the paper prints a few with spaces or
#: capitals). Chinchilla's mean over the 57 tasks is 67.64%, which Table 6 rounds to 67.6% and the
#: abstract's 67.5% does not (see ``ERRATA``); Chinchilla is better on 51 tasks, equal on 2 and worse on
#: 4 (Figure 6). Gopher's plain mean over these rows is 60.61%, not Table 6's 60.0%; the paper does
#: not say how Table 6 averages, so the kit states no reason for that difference.
TABLE_A6: dict[str, tuple[float, float]] = {
    "abstract_algebra": (31.0, 25.0),
    "anatomy": (70.4, 56.3),
    "astronomy": (73.0, 65.8),
    "business_ethics": (72.0, 70.0),
    "clinical_knowledge": (75.1, 67.2),
    "college_biology": (79.9, 70.8),
    "college_chemistry": (51.0, 45.0),
    "college_computer_science": (51.0, 49.0),
    "college_mathematics": (32.0, 37.0),
    "college_medicine": (66.5, 60.1),
    "college_physics": (46.1, 34.3),
    "computer_security": (76.0, 65.0),
    "conceptual_physics": (67.2, 49.4),
    "econometrics": (38.6, 43.0),
    "electrical_engineering": (62.1, 60.0),
    "elementary_mathematics": (41.5, 33.6),
    "formal_logic": (33.3, 35.7),
    "global_facts": (39.0, 38.0),
    "high_school_biology": (80.3, 71.3),
    "high_school_chemistry": (58.1, 47.8),
    "high_school_computer_science": (58.0, 54.0),
    "high_school_european_history": (78.8, 72.1),
    "high_school_geography": (86.4, 76.8),
    "high_school_gov_and_politics": (91.2, 83.9),
    "high_school_macroeconomics": (70.5, 65.1),
    "high_school_mathematics": (31.9, 23.7),
    "high_school_microeconomics": (77.7, 66.4),
    "high_school_physics": (36.4, 33.8),
    "high_school_psychology": (86.6, 81.8),
    "high_school_statistics": (58.8, 50.0),
    "high_school_us_history": (83.3, 78.9),
    "high_school_world_history": (85.2, 75.1),
    "human_aging": (77.6, 66.4),
    "human_sexuality": (86.3, 67.2),
    "international_law": (90.9, 77.7),
    "jurisprudence": (79.6, 71.3),
    "logical_fallacies": (80.4, 72.4),
    "machine_learning": (41.1, 41.1),
    "management": (82.5, 77.7),
    "marketing": (89.7, 83.3),
    "medical_genetics": (69.0, 69.0),
    "miscellaneous": (84.5, 75.7),
    "moral_disputes": (77.5, 66.8),
    "moral_scenarios": (36.5, 40.2),
    "nutrition": (77.1, 69.9),
    "philosophy": (79.4, 68.8),
    "prehistory": (81.2, 67.6),
    "professional_accounting": (52.1, 44.3),
    "professional_law": (56.5, 44.5),
    "professional_medicine": (75.4, 64.0),
    "professional_psychology": (75.7, 68.1),
    "public_relations": (73.6, 71.8),
    "security_studies": (75.9, 64.9),
    "sociology": (91.0, 84.1),
    "us_foreign_policy": (92.0, 81.0),
    "virology": (53.6, 47.0),
    "world_religions": (87.7, 84.2),
}

#: Number of MMLU tasks, and on how many Chinchilla beats Gopher (Table A6, Figure 6).
N_MMLU_TASKS = 57
TASKS_IMPROVED_OVER_GOPHER = 51

#: The four MMLU tasks where Chinchilla exceeds 90% accuracy (Section 4.2.2).
MMLU_HIGH_ACCURACY = 90.0
MMLU_TASKS_ABOVE_90 = (
    "high_school_gov_and_politics",
    "international_law",
    "sociology",
    "us_foreign_policy",
)
