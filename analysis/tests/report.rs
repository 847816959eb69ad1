//! The report of a realistic simulated study: every plot decodes as a PNG.

use intervene_analysis::effects::{Options, Settings, study_effects};
use intervene_analysis::report::{ReportOptions, write_report};
use intervene_analysis::simulate::Simulation;

#[test]
fn report_writes_markdown_html_and_decodable_plots() {
    let mut sim = Simulation::realistic("report", vec![1, 2, 3], 150, 4);
    sim.missing = vec![("docstring-dropout/p=0.3".into(), 3)];
    let tables = sim.tables().unwrap();
    let opts = Options {
        settings: Settings { resamples: 200, permutations: 200, refuter_sims: 20, ..Default::default() },
        ..Default::default()
    };
    let effects = study_effects(&tables, &opts).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let written = write_report(&tables, &effects, dir.path(), &ReportOptions::default()).unwrap();

    let names: Vec<String> = written.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in [
        "forest_bleu.png",
        "forest_token_accuracy.png",
        "curves_valid.png",
        "curves_train.png",
        "length_bins.png",
        "error_categories.png",
        "report.md",
        "report.html",
    ] {
        assert!(names.contains(&expected.to_string()), "{expected} missing from {names:?}");
    }
    let heatmaps = names.iter().filter(|n| n.starts_with("attention_")).count();
    assert!((1..=6).contains(&heatmaps), "{names:?}");

    for path in written.iter().filter(|p| p.extension().is_some_and(|e| e == "png")) {
        let img = image::open(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
        assert!(img.width() >= 400 && img.height() >= 150, "{}: {}x{}", path.display(), img.width(), img.height());
        // Not a blank canvas: some pixels are far from white.
        let rgb = img.to_rgb8();
        let dark = rgb.pixels().filter(|p| p.0.iter().map(|&c| u32::from(c)).sum::<u32>() < 300).count();
        assert!(dark > 200, "{} looks empty ({dark} dark pixels)", path.display());
    }

    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(md.starts_with("# Study `report` (version 1)"));
    for needle in [
        "## Effects",
        "![forest plot of the effects on bleu](forest_bleu.png)",
        "## Learning curves",
        "## Error categories",
        "## Attention",
        "treatment `docstring-dropout/p=0.3` missing seeds 3",
    ] {
        assert!(md.contains(needle), "report.md lacks {needle:?}");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.contains("<img src=\"forest_bleu.png\""));
    assert!(html.contains("<table>"));
}
