//! `intervene power`: how many seeds a paired study needs to detect a
//! seed-level effect, from a guessed standard deviation or from a finished
//! pilot study's per-seed differences (the two-sided paired t test, solved
//! as statsmodels' `TTestPower().solve_power` does; docs/effects.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use intervene_analysis::StudyResults;
use intervene_analysis::effects::{Options, Settings, study_effects};
use intervene_analysis::output::TextTable;
use intervene_analysis::stats::describe::std_dev;
use intervene_analysis::stats::power::{MAX_SEEDS, paired_t_power, seeds_needed};

#[derive(Debug, clap::Args)]
pub struct PowerArgs {
    /// The seed-level effect to detect, in outcome points (a paired difference per seed).
    #[arg(long, allow_negative_numbers = true)]
    pub effect: f64,
    /// Standard deviation of the seed-level paired differences (give it, or take it from --study).
    #[arg(long, required_unless_present = "study", conflicts_with = "study")]
    pub sd: Option<f64>,
    /// Two-sided significance level.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Power to reach.
    #[arg(long, default_value_t = 0.8)]
    pub power: f64,
    /// A finished pilot study: the standard deviation comes from its per-seed differences.
    #[arg(long, requires = "outcome")]
    pub study: Option<String>,
    /// (--study) The outcome whose per-seed differences give the standard deviation.
    #[arg(long, requires = "study")]
    pub outcome: Option<String>,
    /// (--study) State directory the results were written to.
    #[arg(long, default_value = ".intervene")]
    pub state: PathBuf,
    /// (--study) Study version; the highest one by default.
    #[arg(long)]
    pub version: Option<u32>,
}

fn check(a: &PowerArgs) -> anyhow::Result<()> {
    if !(a.effect.is_finite() && a.effect != 0.0) {
        bail!("--effect `{}`: expected a non-zero number of outcome points, e.g. 1.0", a.effect);
    }
    if let Some(sd) = a.sd
        && !(sd.is_finite() && sd > 0.0)
    {
        bail!("--sd `{sd}`: expected a positive standard deviation of the per-seed paired differences");
    }
    if !(a.alpha > 0.0 && a.alpha < 1.0) {
        bail!("--alpha `{}`: expected a level strictly between 0 and 1, e.g. 0.05", a.alpha);
    }
    if !(a.power > a.alpha && a.power < 1.0) {
        bail!("--power `{}`: expected a power between --alpha ({}) and 1, e.g. 0.8", a.power, a.alpha);
    }
    Ok(())
}

/// Seeds needed for `effect` at `sd`, as text; None beyond the search limit.
fn needed(effect: f64, sd: f64, alpha: f64, power: f64) -> Option<(u64, f64)> {
    seeds_needed(effect / sd, alpha, power).map(|s| (s.seeds, s.exact))
}

pub fn power(a: PowerArgs) -> anyhow::Result<ExitCode> {
    check(&a)?;
    if let Some(sd) = a.sd {
        let Some((seeds, exact)) = needed(a.effect, sd, a.alpha, a.power) else {
            bail!(
                "--effect {} with --sd {sd}: more than {MAX_SEEDS} seeds would be needed; the effect is not detectable",
                a.effect
            );
        };
        println!("{seeds}");
        eprintln!(
            "note: effect size {:.4} (effect / sd); solution {exact:.4} seeds; power with {seeds} seeds {:.4} \
             (two-sided paired t, alpha {})",
            a.effect / sd,
            paired_t_power(a.effect / sd, seeds as f64, a.alpha),
            a.alpha
        );
        return Ok(ExitCode::SUCCESS);
    }
    let (Some(study), Some(outcome)) = (a.study.clone(), a.outcome.clone()) else {
        bail!("give --sd S, or --study NAME --outcome O");
    };
    let tables = StudyResults::locate(&a.state, &study, a.version)?.load()?;
    let options = Options {
        outcomes: vec![outcome.clone()],
        settings: Settings { resamples: 1, refuter_sims: 0, ..Settings::default() },
        ..Options::default()
    };
    let effects = study_effects(&tables, &options)?;
    let mut table = TextTable {
        headers: ["arm", "vs", "outcome", "pilot seeds", "sd of differences", "effect / sd", "seeds needed"]
            .iter()
            .map(|h| h.to_string())
            .collect(),
        ..Default::default()
    };
    table.right = vec![false, false, false, true, true, true, true];
    let mut any = false;
    for r in effects.rows.iter().filter(|r| r.stratum.is_none() && !r.seed.diffs.is_empty()) {
        let sd = std_dev(&r.seed.diffs);
        let (es, seeds) = if sd > 0.0 {
            any = true;
            let n = needed(a.effect, sd, a.alpha, a.power)
                .map(|(n, _)| n.to_string())
                .unwrap_or_else(|| format!("> {MAX_SEEDS}"));
            (format!("{:.3}", a.effect / sd), n)
        } else if sd == 0.0 {
            ("-".into(), "- (no spread)".into())
        } else {
            ("-".into(), "- (one seed: no spread)".into())
        };
        table.rows.push(vec![
            r.arm.clone(),
            r.compare_to.clone(),
            r.outcome.clone(),
            r.seed.n.to_string(),
            if sd.is_nan() { "-".into() } else { format!("{sd:.3}") },
            es,
            seeds,
        ]);
    }
    if table.rows.is_empty() {
        bail!("study `{study}` has no comparison with paired seeds for outcome `{outcome}`");
    }
    print!("{}", table.render());
    if !any {
        eprintln!("note: the pilot needs at least two seeds with different paired differences to estimate the sd");
    }
    Ok(ExitCode::SUCCESS)
}
