#!/usr/bin/env python3
"""`intervene power` against statsmodels' TTestPower.

For each (effect, sd, alpha, power) case, runs `intervene power --effect D
--sd S --alpha A --power P` and compares the integer it prints with
ceil(TTestPower().solve_power(effect_size=D/S, alpha=A, power=P,
alternative="two-sided")) (at least 2: one seed has no interval).

    python bench/check_power.py --bin target/debug/intervene

Exits 1 on a mismatch. Packages: bench/requirements.txt.
"""

import argparse
import math
import subprocess
import sys

import statsmodels
from statsmodels.stats.power import TTestPower

CASES = [
    # (effect, sd, alpha, power)
    (1.0, 1.5, 0.05, 0.8),
    (2.0, 1.0, 0.05, 0.8),
    (0.5, 2.0, 0.05, 0.9),
    (3.0, 4.0, 0.01, 0.8),
    (1.0, 0.8, 0.05, 0.95),
    (0.2, 1.0, 0.05, 0.8),
    (-1.5, 2.5, 0.1, 0.8),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", default="target/debug/intervene", help="the intervene binary")
    args = parser.parse_args()
    bad = 0
    for effect, sd, alpha, power in CASES:
        root = TTestPower().solve_power(effect_size=abs(effect) / sd, alpha=alpha, power=power, alternative="two-sided")
        want = max(2, math.ceil(root))
        cmd = [args.bin, "power", "--effect", str(effect), "--sd", str(sd), "--alpha", str(alpha), "--power", str(power)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        got = out.stdout.strip()
        ok = out.returncode == 0 and got == str(want)
        bad += not ok
        print(f"effect {effect:5} sd {sd:4} alpha {alpha:4} power {power:4}: statsmodels {root:9.4f} -> {want:4}  intervene {got:>4}  {'ok' if ok else 'MISMATCH ' + out.stderr.strip()}")
    print(f"{'OK' if not bad else 'FAILED'}: {len(CASES) - bad}/{len(CASES)} cases match statsmodels {statsmodels.__version__}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
