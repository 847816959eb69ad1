#!/usr/bin/env python3
"""Reference values of `intervene effects` from scipy and statsmodels.

Recomputes, from the committed fixture tables under
analysis/tests/fixtures/, the numbers the Rust test
analysis/tests/pinned.rs compares against (to 1e-6):

- the headline, seed level: the paired t interval of each arm against its
  `compare_to` arm over seeds, `scipy.stats.ttest_rel(treatment, control)`
  with `.confidence_interval(0.95)` (k - 1 degrees of freedom): runs paired
  by seed for run-level outcomes (corpus `bleu`, micro `token_accuracy`,
  `exact_match`), per-seed means of the paired examples for per-example
  outcomes (`sentence_bleu`, `example_token_accuracy`); and the exact
  permutation p-value over the 2^k sign flips of whole seeds;
- example level, for these trained models: `ttest_rel` over the
  (seed, example_id) pairs;
- adjusted: `statsmodels.OLS(y, add_constant([treatment, source_len,
  target_len])).fit(cov_type="cluster", groups=seed, use_t=True)` over the
  example rows of both arms, both rows of a pair carrying the control
  example's (pre-treatment) covariates -- the model of DoWhy's
  backdoor.linear_regression with seed-clustered standard errors;
- the same for the flat CSV that `intervene effects --table` reads: the
  headline over seeds (`--pair seed,example_id`: the pair column `seed` is
  the unit), the example-level paired t, the clustered adjustment, and
  unpaired (Welch's t, plain OLS).

    python bench/check_effects.py            # compare with the pinned file, exit 1 on a mismatch
    python bench/check_effects.py --write    # (re)write analysis/tests/fixtures/expected.json

Packages: bench/requirements.txt.
"""

import argparse
import glob
import itertools
import json
import math
import os
import sys

import numpy as np
import pandas as pd
import scipy
import statsmodels
import statsmodels.api as sm
from scipy import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "analysis", "tests", "fixtures")
STUDY_DIR = os.path.join(FIXTURES, "state", "results", "pinned", "v1")
FLAT_CSV = os.path.join(FIXTURES, "pinned_examples.csv")
EXPECTED = os.path.join(FIXTURES, "expected.json")
# Run-level outcomes (seed level from the runs table).
RUN_OUTCOMES = ["bleu", "token_accuracy", "exact_match"]
# Per-example outcomes and their column in `examples`.
EXAMPLE_OUTCOMES = {"sentence_bleu": "sentence_bleu", "example_token_accuracy": "token_accuracy", "exact_match": "exact_match"}
CONFOUNDERS = ["source_len", "target_len"]
TOLERANCE = 1e-9


def read_job_tables(table):
    files = sorted(glob.glob(os.path.join(STUDY_DIR, table, "*.parquet")))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def numeric(series):
    if series.dtype == bool:
        return series.astype(float) * 100.0
    return series.astype(float)


def ols_treatment(y, treatment, confounders, groups=None):
    x = sm.add_constant(np.column_stack([treatment] + confounders).astype(float))
    model = sm.OLS(np.asarray(y, dtype=float), x)
    if groups is None:
        fit = model.fit()
        df = float(fit.df_resid)
    else:
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": np.asarray(groups)}, use_t=True)
        df = float(fit.df_resid_inference)
    low, high = fit.conf_int(0.05)[1]
    return {
        "ate": float(fit.params[1]),
        "se": float(fit.bse[1]),
        "ci_low": float(low),
        "ci_high": float(high),
        "p": float(fit.pvalues[1]),
        "df": df,
    }


def paired_t(treatment, control):
    r = stats.ttest_rel(treatment, control)
    ci = r.confidence_interval(0.95)
    return {
        "ate": float(np.mean(np.asarray(treatment) - np.asarray(control))),
        "ci_low": float(ci.low),
        "ci_high": float(ci.high),
        "p": float(r.pvalue),
        "n": int(len(treatment)),
    }


def exact_sign_flip_p(diffs):
    """Two-sided p of mean(diffs) = 0 over all 2^k sign vectors of the units."""
    diffs = np.asarray(diffs, dtype=float)
    observed = abs(diffs.sum()) * (1 - 1e-12)
    flips = [abs(np.dot(signs, diffs)) >= observed for signs in itertools.product([1.0, -1.0], repeat=len(diffs))]
    return float(np.mean(flips))


def seed_level(t_means, c_means):
    out = paired_t(t_means, c_means)
    out["p_perm"] = exact_sign_flip_p(np.asarray(t_means) - np.asarray(c_means))
    return out


def paired_adjusted(pairs, y_t, y_c):
    """OLS over both rows of every pair, control-side covariates, clustered by seed."""
    y = np.concatenate([y_c, y_t])
    treatment = np.concatenate([np.zeros(len(pairs)), np.ones(len(pairs))])
    confounders = [np.concatenate([pairs[c + "_c"], pairs[c + "_c"]]).astype(float) for c in CONFOUNDERS]
    groups = np.concatenate([pairs.seed, pairs.seed])
    return ols_treatment(y, treatment, confounders, groups)


def study_expectations():
    # Only the scalar columns: pandas cannot convert the list columns
    # (seeds, job_ids) that polars writes as lists of string views.
    arms = pd.read_parquet(os.path.join(STUDY_DIR, "arms.parquet"), columns=["arm", "compare_to"])
    runs = read_job_tables("runs")
    examples = read_job_tables("examples")
    out = []
    for _, arm in arms.iterrows():
        if arm["compare_to"] is None or (isinstance(arm["compare_to"], float) and math.isnan(arm["compare_to"])):
            continue
        t_arm, c_arm = arm["arm"], arm["compare_to"]
        for outcome in RUN_OUTCOMES:
            t_runs = runs[runs.arm == t_arm].set_index("seed")[outcome]
            c_runs = runs[runs.arm == c_arm].set_index("seed")[outcome]
            seeds = sorted(set(t_runs.index) & set(c_runs.index))
            seed = seed_level(t_runs.loc[seeds].to_numpy(float), c_runs.loc[seeds].to_numpy(float))
            out.append({"arm": t_arm, "compare_to": c_arm, "outcome": outcome, "seed": seed})
        t_ex = examples[examples.arm == t_arm]
        c_ex = examples[examples.arm == c_arm]
        pairs = t_ex.merge(c_ex, on=["seed", "example_id"], suffixes=("_t", "_c")).sort_values(["seed", "example_id"])
        for outcome, column in EXAMPLE_OUTCOMES.items():
            y_t = numeric(pairs[column + "_t"]).to_numpy()
            y_c = numeric(pairs[column + "_c"]).to_numpy()
            per_seed = pd.DataFrame({"seed": pairs.seed.to_numpy(), "t": y_t, "c": y_c}).groupby("seed").mean()
            row = {
                "arm": t_arm,
                "compare_to": c_arm,
                "outcome": outcome,
                "example": paired_t(y_t, y_c),
                "adjusted": paired_adjusted(pairs, y_t, y_c),
            }
            # exact_match is run-level too: its seed level comes from the runs above.
            if outcome != "exact_match":
                row["seed"] = seed_level(per_seed.t.to_numpy(), per_seed.c.to_numpy())
            out.append(row)
    return out


def table_expectations():
    flat = pd.read_csv(FLAT_CSV)
    out = []
    control = flat[flat.arm == "control"]
    for arm in sorted(set(flat.arm) - {"control"}):
        treated = flat[flat.arm == arm]
        # Paired on (seed, example_id).
        pairs = treated.merge(control, on=["seed", "example_id"], suffixes=("_t", "_c")).sort_values(["seed", "example_id"])
        y_t = pairs.sentence_bleu_t.to_numpy(float)
        y_c = pairs.sentence_bleu_c.to_numpy(float)
        paired = paired_t(y_t, y_c)
        per_seed = pairs.groupby("seed")[["sentence_bleu_t", "sentence_bleu_c"]].mean()
        headline = seed_level(per_seed.sentence_bleu_t.to_numpy(), per_seed.sentence_bleu_c.to_numpy())
        # Unpaired: Welch's t and OLS over the rows as they are.
        r = stats.ttest_ind(treated.sentence_bleu, control.sentence_bleu, equal_var=False)
        ci = r.confidence_interval(0.95)
        welch = {
            "ate": float(treated.sentence_bleu.mean() - control.sentence_bleu.mean()),
            "ci_low": float(ci.low),
            "ci_high": float(ci.high),
            "p": float(r.pvalue),
            "df": float(r.df),
        }
        both = pd.concat([control, treated])
        unpaired_adjusted = ols_treatment(
            both.sentence_bleu, (both.arm == arm).astype(float), [both[c].astype(float) for c in CONFOUNDERS]
        )
        out.append(
            {
                "treatment": arm,
                "outcome": "sentence_bleu",
                "headline": headline,
                "paired": paired,
                "paired_adjusted": paired_adjusted(pairs, y_t, y_c),
                "welch": welch,
                "unpaired_adjusted": unpaired_adjusted,
            }
        )
    return out


def compare(expected, actual, path=""):
    problems = []
    if isinstance(expected, dict):
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing")
            else:
                problems.extend(compare(value, actual[key], f"{path}.{key}"))
    elif isinstance(expected, list):
        if len(expected) != len(actual):
            problems.append(f"{path}: {len(actual)} entries, pinned {len(expected)}")
        for i, (e, a) in enumerate(zip(expected, actual)):
            problems.extend(compare(e, a, f"{path}[{i}]"))
    elif isinstance(expected, float):
        if not math.isclose(expected, actual, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            problems.append(f"{path}: recomputed {actual!r}, pinned {expected!r}")
    elif expected != actual:
        problems.append(f"{path}: recomputed {actual!r}, pinned {expected!r}")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="write the pinned file instead of checking it")
    args = parser.parse_args()
    actual = {
        "generated_by": f"bench/check_effects.py (scipy {scipy.__version__}, statsmodels {statsmodels.__version__})",
        "study": study_expectations(),
        "table": table_expectations(),
    }
    if args.write:
        with open(EXPECTED, "w") as f:
            json.dump(actual, f, indent=1)
            f.write("\n")
        print(f"wrote {EXPECTED}: {len(actual['study'])} study rows, {len(actual['table'])} table rows")
        return 0
    with open(EXPECTED) as f:
        pinned = json.load(f)
    problems = compare({k: v for k, v in pinned.items() if k != "generated_by"}, actual)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"{len(problems)} values differ from {EXPECTED}", file=sys.stderr)
        return 1
    print(f"ok: {len(pinned['study'])} study rows and {len(pinned['table'])} table rows match {EXPECTED} to {TOLERANCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
