//! `intervene export | query | effects | report` with the real binary, on a
//! simulated study written in the results layout of `intervene run`.

use std::path::Path;
use std::process::{Command, Output};

use intervene_analysis::simulate::Simulation;

fn intervene(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_intervene")).args(args).current_dir(cwd).output().expect("the binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A state directory with study `sim` (versions 1 and 2; 2 lacks a seed of one arm).
fn state() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join(".intervene");
    let mut v1 = Simulation::realistic("sim", vec![1, 2, 3], 80, 9);
    v1.write(&state).unwrap();
    v1.version = 2;
    v1.missing = vec![("hidden-size/hidden_dim=128".into(), 3)];
    v1.write(&state).unwrap();
    dir
}

const FAST: &[&str] = &["--resamples", "200", "--permutations", "200", "--refuter-sims", "20"];

#[test]
fn query_runs_sql_over_the_tables() {
    let dir = state();
    let o = intervene(
        &["query", "sim", "SELECT arm, count(*) AS runs FROM runs GROUP BY arm ORDER BY arm", "--format", "csv"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "arm,runs");
    assert_eq!(lines.len(), 10, "header + 9 arms: {out}");
    // Version 2 is the default: hidden-size lost seed 3 there.
    assert!(lines.contains(&"hidden-size/hidden_dim=128,2"), "{out}");
    let o = intervene(
        &[
            "query",
            "sim",
            "--version",
            "1",
            "SELECT count(*) AS n FROM examples WHERE arm = 'control'",
            "--format",
            "json",
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let json: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(json[0]["n"], 240);
    // The terminal table.
    let o = intervene(
        &["query", "sim", "SELECT arm, seed FROM curves WHERE epoch = 1 ORDER BY arm, seed LIMIT 3"],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("arm "), "{}", stdout(&o));
    assert!(stdout(&o).contains("(3 rows)"));
}

#[test]
fn bad_queries_and_missing_studies_are_clear_errors() {
    let dir = state();
    let o = intervene(&["query", "sim", "SELEC arm FROM runs"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).starts_with("error: SQL: "), "{}", stderr(&o));
    let o = intervene(&["query", "sim", "SELECT nope FROM runs"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nope"), "{}", stderr(&o));
    let o = intervene(&["query", "sim", "SELECT * FROM trains"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("trains") && stderr(&o).contains("runs, examples"), "{}", stderr(&o));
    let o = intervene(&["query", "nosuch", "SELECT 1"], dir.path());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("no results for study `nosuch`") && stderr(&o).contains("studies present: sim"),
        "{}",
        stderr(&o)
    );
    let o = intervene(&["query", "sim", "--version", "7", "SELECT 1"], dir.path());
    assert!(stderr(&o).contains("no version 7") && stderr(&o).contains("v1, v2"), "{}", stderr(&o));
    let o = intervene(&["query", "sim", "SELECT 1", "--format", "parquet"], dir.path());
    assert!(!o.status.success());
    assert!(stderr(&o).contains("-o FILE"), "{}", stderr(&o));
}

#[test]
fn export_writes_every_table() {
    let dir = state();
    for format in ["parquet", "csv"] {
        let out = dir.path().join(format!("export-{format}"));
        let o = intervene(&["export", "sim", "--format", format, "-o", out.to_str().unwrap()], dir.path());
        assert!(o.status.success(), "{}", stderr(&o));
        for table in ["arms", "runs", "examples", "curves", "attention"] {
            let path = out.join(format!("{table}.{format}"));
            assert!(path.is_file(), "{} missing", path.display());
        }
        assert!(stdout(&o).contains("examples"), "{}", stdout(&o));
    }
    let csv = std::fs::read_to_string(dir.path().join("export-csv/examples.csv")).unwrap();
    // 9 arms x 3 seeds x 80 examples, one seed missing for one arm, plus the header.
    assert_eq!(csv.lines().count(), 9 * 3 * 80 - 80 + 1);
    let arms = std::fs::read_to_string(dir.path().join("export-csv/arms.csv")).unwrap();
    assert!(arms.contains("\"[1, 2, 3]\""), "list columns become text: {arms}");
}

#[test]
fn effects_flag_missing_seeds_and_print_every_format() {
    let dir = state();
    let mut args = vec!["effects", "sim", "--outcome", "bleu,exact_match", "--format", "json"];
    args.extend(FAST);
    let o = intervene(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    // 2 intra/mutation + 4 inter arms, 2 outcomes, plus 2 stratified pairs x 2 outcomes.
    assert_eq!(rows.len(), 16);
    let hidden: Vec<&serde_json::Value> = rows.iter().filter(|r| r["arm"] == "hidden-size/hidden_dim=128").collect();
    assert_eq!(hidden.len(), 2);
    for r in hidden {
        assert_eq!(r["flags"], "treatment `hidden-size/hidden_dim=128` missing seeds 3");
        assert_eq!(r["n_seeds"], 2);
        assert!(r["ci_low"].as_f64().unwrap() <= r["ate"].as_f64().unwrap());
        assert_eq!(r["ci_kind"], "seeds (paired t, k-1 df)");
        // Two seeds: 4 sign flips of whole seeds, so p_perm is 0.5 or 1.
        assert!([0.5, 1.0].contains(&r["p_perm"].as_f64().unwrap()), "{r}");
        assert_eq!(r["p_perm_exact"], true);
    }
    let strat = rows.iter().find(|r| r["bucket"] == "all (stratified)" && r["arm"] == "lstm").unwrap();
    assert_eq!(strat["compare_to"], "rnn");

    let mut args = vec!["effects", "sim", "--outcome", "sentence_bleu", "--by", "length_bin"];
    args.extend(FAST);
    let o = intervene(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("length_bin") && text.contains("40-50"), "{text}");
    assert!(text.contains("missing seeds 3"), "{text}");
    // The terminal table: the headline over seeds first, the example level only with --detail.
    assert!(text.contains("ATE [95% CI] over seeds") && !text.contains("examples, these models"), "{text}");
    args.push("--detail");
    let text = stdout(&intervene(&args, dir.path()));
    assert!(text.contains("examples, these models [95% CI]") && text.contains("adjusted [95% CI]"), "{text}");

    let out = dir.path().join("effects.csv");
    let mut args = vec!["effects", "sim", "--by", "arch", "--format", "csv", "-o", out.to_str().unwrap()];
    args.extend(FAST);
    let o = intervene(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.starts_with("outcome,arm,compare_to,kind,intervention,bucket,stratum,n_seeds,"), "{csv}");

    let o = intervene(&["effects", "sim", "--outcome", "bleu_score"], dir.path());
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--outcome `bleu_score`") && stderr(&o).contains("bleu, codexglue_bleu"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn effects_on_any_table() {
    let dir = state();
    let csv = dir.path().join("flat.csv");
    let o = intervene(
        &[
            "query",
            "sim",
            "SELECT arm, seed, example_id, sentence_bleu, source_len FROM examples WHERE arm IN ('control', 'docstring-dropout/p=0.3')",
            "--format",
            "csv",
            "-o",
            csv.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut args = vec![
        "effects",
        "--table",
        csv.to_str().unwrap(),
        "--treatment",
        "arm",
        "--control",
        "control",
        "--outcome",
        "sentence_bleu",
        "--pair",
        "seed,example_id",
        "--cluster",
        "seed",
        "--confounders",
        "source_len",
        "--format",
        "json",
    ];
    args.extend(FAST);
    let o = intervene(&args, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["treatment"], "docstring-dropout/p=0.3");
    assert_eq!(rows[0]["n_pairs"], 240);
    assert!(rows[0]["adj_ate"].is_number());
    // The headline is over the 3 seeds; the old paired t over examples is the ex_ columns.
    assert_eq!(rows[0]["unit"], "seed");
    assert_eq!(rows[0]["n_units"], 3);
    assert_eq!(rows[0]["df"], 2.0);
    assert_eq!(rows[0]["ci_kind"], "seed clusters (paired t, k-1 df)");
    assert!(rows[0]["ex_ci_low"].as_f64().unwrap() > rows[0]["ci_low"].as_f64().unwrap(), "{}", rows[0]);
    assert!(rows[0]["p_perm"].as_f64().unwrap() >= 0.25, "3 seeds: 8 sign flips, p >= 2/8");
    // Without --cluster the pair column `seed` is still the unit: the same headline.
    let at = args.iter().position(|a| *a == "--cluster").unwrap();
    let mut no_cluster = args.clone();
    no_cluster.drain(at..at + 2);
    let o = intervene(&no_cluster, dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let again: Vec<serde_json::Value> = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!((&again[0]["unit"], &again[0]["ci_low"]), (&rows[0]["unit"], &rows[0]["ci_low"]));

    let o = intervene(
        &[
            "effects",
            "--table",
            csv.to_str().unwrap(),
            "--treatment",
            "arm",
            "--control",
            "baseline",
            "--outcome",
            "sentence_bleu",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("--control `baseline`") && stderr(&o).contains("control, docstring-dropout/p=0.3"),
        "{}",
        stderr(&o)
    );
    let o = intervene(
        &[
            "effects",
            "--table",
            csv.to_str().unwrap(),
            "--treatment",
            "arm",
            "--control",
            "control",
            "--outcome",
            "nope",
        ],
        dir.path(),
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("missing column `nope`"), "{}", stderr(&o));
}

/// PNG: the signature, then an IHDR chunk with the width and height.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    if bytes.len() < 33 || &bytes[..8] != b"\x89PNG\r\n\x1a\n" || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    Some((be(&bytes[16..20]), be(&bytes[20..24])))
}

#[test]
fn report_writes_markdown_html_and_images() {
    let dir = state();
    let out = dir.path().join("report");
    let o = intervene(&["report", "sim", "-o", out.to_str().unwrap(), "--resamples", "200"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let listed: Vec<&str> = std::str::from_utf8(&o.stdout).unwrap().lines().collect();
    assert!(listed.iter().any(|l| l.ends_with("report.html")));
    let pngs: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(pngs.len() >= 8, "{pngs:?}");
    for png in &pngs {
        let bytes = std::fs::read(png).unwrap();
        let (w, h) = png_size(&bytes).unwrap_or_else(|| panic!("{} is not a PNG", png.display()));
        assert!(w >= 400 && h >= 150, "{}: {w}x{h}", png.display());
        assert!(bytes.ends_with(b"IEND\xaeB`\x82"), "{} is truncated", png.display());
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for png in &pngs {
        let name = png.file_name().unwrap().to_str().unwrap();
        assert!(md.contains(&format!("({name})")), "report.md does not show {name}");
    }
}

#[test]
fn power_solves_for_the_number_of_seeds() {
    let dir = state();
    // statsmodels: TTestPower().solve_power(effect_size=1/1.5, alpha=0.05, power=0.8) = 19.67 -> 20 seeds.
    let o = intervene(&["power", "--effect", "1", "--sd", "1.5"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "20\n");
    let o = intervene(&["power", "--effect", "2", "--sd", "1", "--power", "0.8", "--alpha", "0.05"], dir.path());
    assert_eq!(stdout(&o), "5\n", "{}", stderr(&o));
    // From a pilot study: one row per comparison, the sd of its per-seed differences.
    let o = intervene(&["power", "--study", "sim", "--outcome", "sentence_bleu", "--effect", "2"], dir.path());
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("seeds needed") && text.contains("docstring-dropout/p=0.3"), "{text}");
    // Bad input: one clear error naming the flag.
    for (args, needle) in [
        (vec!["power", "--effect", "1", "--sd", "0"], "--sd `0`"),
        (vec!["power", "--effect", "0", "--sd", "1"], "--effect `0`"),
        (vec!["power", "--effect", "1", "--sd", "1", "--alpha", "1.5"], "--alpha `1.5`"),
        (vec!["power", "--effect", "1", "--sd", "1", "--power", "0.01"], "--power `0.01`"),
        (vec!["power", "--study", "nosuch", "--outcome", "bleu", "--effect", "1"], "no results for study `nosuch`"),
        (vec!["power", "--study", "sim", "--outcome", "nope", "--effect", "1"], "--outcome `nope`"),
    ] {
        let o = intervene(&args, dir.path());
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
    }
}
