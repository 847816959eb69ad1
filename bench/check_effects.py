#!/usr/bin/env python3
"""Reference values of `intervene effects` from scipy and statsmodels.

Recomputes, from the committed fixture tables under
analysis/tests/fixtures/, the numbers the Rust test
analysis/tests/pinned.rs compares against (to 1e-6):

- seed level: the paired t interval of each arm against its `compare_to`
  arm, `scipy.stats.ttest_rel(treatment, control)` with
  `.confidence_interval(0.95)`, runs paired by seed;
- adjusted: `statsmodels.OLS(y, add_constant([treatment, source_len,
  target_len])).fit()` over the example rows of both arms, pairs matched on
  (seed, example_id) -- the model of DoWhy's backdoor.linear_regression;
- the same for the flat CSV that `intervene effects --table` reads, paired
  on (seed, example_id) and unpaired (Welch's t).

    python bench/check_effects.py            # compare with the pinned file, exit 1 on a mismatch
    python bench/check_effects.py --write    # (re)write analysis/tests/fixtures/expected.json

Packages: bench/requirements.txt.
"""

import argparse
import glob
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
OUTCOMES = {"bleu": "sentence_bleu", "token_accuracy": "token_accuracy", "exact_match": "exact_match"}
CONFOUNDERS = ["source_len", "target_len"]
TOLERANCE = 1e-9


def read_job_tables(table):
    files = sorted(glob.glob(os.path.join(STUDY_DIR, table, "*.parquet")))
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def numeric(series):
    if series.dtype == bool:
        return series.astype(float) * 100.0
    return series.astype(float)


def ols_treatment(y, treatment, confounders):
    x = sm.add_constant(np.column_stack([treatment] + confounders).astype(float))
    fit = sm.OLS(np.asarray(y, dtype=float), x).fit()
    low, high = fit.conf_int(0.05)[1]
    return {
        "ate": float(fit.params[1]),
        "se": float(fit.bse[1]),
        "ci_low": float(low),
        "ci_high": float(high),
        "p": float(fit.pvalues[1]),
        "df": float(fit.df_resid),
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
        for outcome, column in OUTCOMES.items():
            t_runs = runs[runs.arm == t_arm].set_index("seed")[outcome]
            c_runs = runs[runs.arm == c_arm].set_index("seed")[outcome]
            seeds = sorted(set(t_runs.index) & set(c_runs.index))
            seed_level = paired_t(t_runs.loc[seeds].to_numpy(float), c_runs.loc[seeds].to_numpy(float))

            t_ex = examples[examples.arm == t_arm]
            c_ex = examples[examples.arm == c_arm]
            pairs = t_ex.merge(c_ex, on=["seed", "example_id"], suffixes=("_t", "_c"))
            y = np.concatenate([numeric(pairs[column + "_c"]), numeric(pairs[column + "_t"])])
            treatment = np.concatenate([np.zeros(len(pairs)), np.ones(len(pairs))])
            confounders = [np.concatenate([pairs[c + "_c"], pairs[c + "_t"]]).astype(float) for c in CONFOUNDERS]
            adjusted = ols_treatment(y, treatment, confounders)
            out.append({"arm": t_arm, "compare_to": c_arm, "outcome": outcome, "seed": seed_level, "adjusted": adjusted})
    return out


def table_expectations():
    flat = pd.read_csv(FLAT_CSV)
    out = []
    control = flat[flat.arm == "control"]
    for arm in sorted(set(flat.arm) - {"control"}):
        treated = flat[flat.arm == arm]
        # Paired on (seed, example_id).
        pairs = treated.merge(control, on=["seed", "example_id"], suffixes=("_t", "_c"))
        paired = paired_t(pairs.sentence_bleu_t.to_numpy(float), pairs.sentence_bleu_c.to_numpy(float))
        y = np.concatenate([pairs.sentence_bleu_c, pairs.sentence_bleu_t])
        treatment = np.concatenate([np.zeros(len(pairs)), np.ones(len(pairs))])
        confounders = [np.concatenate([pairs[c + "_c"], pairs[c + "_t"]]).astype(float) for c in CONFOUNDERS]
        paired_adjusted = ols_treatment(y, treatment, confounders)
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
                "paired": paired,
                "paired_adjusted": paired_adjusted,
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
