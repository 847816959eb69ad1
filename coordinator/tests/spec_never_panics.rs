//! No input makes study parsing or planning panic: random text, random TOML
//! documents built from the study vocabulary, and random edits of a valid
//! study. Each case must end in Ok or in located errors.

use std::path::Path;

use intervene_coordinator::{plan, spec};
use proptest::prelude::*;

const VALID: &str = include_str!("../../tests/fixtures/golden-study.toml");

const KEYS: &[&str] = &[
    "version",
    "study",
    "data",
    "model",
    "train",
    "decode",
    "intra",
    "inter",
    "mutation",
    "name",
    "seeds",
    "outcomes",
    "source",
    "kind",
    "path",
    "task",
    "size",
    "train",
    "valid",
    "test",
    "tokenizer",
    "vocab_size",
    "max_source_len",
    "max_target_len",
    "arch",
    "embedding_dim",
    "hidden_dim",
    "layers",
    "dropout",
    "bidirectional",
    "d_model",
    "heads",
    "ff_dim",
    "encoder_layers",
    "decoder_layers",
    "batch_size",
    "epochs",
    "learning_rate",
    "strategy",
    "beam_size",
    "vary",
    "archs",
    "size_by",
    "buckets",
    "op",
    "side",
    "levels",
    "p",
    "window",
    "overrides",
    "transformer",
];

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        any::<i64>().prop_map(|i| i.to_string()),
        any::<f64>().prop_map(|f| if f.is_finite() { format!("{f:?}") } else { "nan".into() }),
        prop_oneof![Just("-0.0"), Just("1e400"), Just("inf"), Just("-inf"), Just("0"), Just("1")]
            .prop_map(String::from),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z\\-]{0,12}".prop_map(|s| format!("{s:?}")),
        prop::sample::select(KEYS).prop_map(|s| format!("{s:?}")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|kv| {
                let mut seen = std::collections::HashSet::new();
                let body: Vec<String> =
                    kv.into_iter().filter(|(k, _)| seen.insert(*k)).map(|(k, v)| format!("{k} = {v}")).collect();
                format!("{{ {} }}", body.join(", "))
            }),
        ]
    })
}

fn document() -> impl Strategy<Value = String> {
    let section =
        (prop::sample::select(KEYS), any::<bool>(), prop::collection::vec((prop::sample::select(KEYS), value()), 0..6));
    (prop::collection::vec((prop::sample::select(KEYS), value()), 0..4), prop::collection::vec(section, 0..6)).prop_map(
        |(top, sections)| {
            let mut doc = String::new();
            let mut seen = std::collections::HashSet::new();
            for (k, v) in top {
                if seen.insert(k) {
                    doc.push_str(&format!("{k} = {v}\n"));
                }
            }
            for (name, array, kvs) in sections {
                doc.push_str(if array { "[[" } else { "[" });
                doc.push_str(name);
                doc.push_str(if array { "]]\n" } else { "]\n" });
                let mut seen = std::collections::HashSet::new();
                for (k, v) in kvs {
                    if seen.insert(k) {
                        doc.push_str(&format!("{k} = {v}\n"));
                    }
                }
            }
            doc
        },
    )
}

fn check(text: &str) {
    match spec::parse(text, "fuzz.toml", Path::new(".")) {
        Ok(study) => {
            let _ = plan::plan(&study);
        }
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(e.line >= 1, "error without a line: {e}");
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, rng_seed: proptest::test_runner::RngSeed::Fixed(7), ..ProptestConfig::default() })]

    #[test]
    fn random_text(text in "\\PC{0,300}") {
        check(&text);
    }

    #[test]
    fn random_documents(doc in document()) {
        check(&doc);
    }

    #[test]
    fn random_edits_of_a_valid_study(line in 0usize..60, replacement in value(), key in prop::sample::select(KEYS)) {
        let mut lines: Vec<String> = VALID.lines().map(str::to_string).collect();
        let i = line % lines.len();
        if let Some((k, _)) = lines[i].split_once(" = ") {
            lines[i] = format!("{k} = {replacement}");
        } else {
            lines.insert(i, format!("{key} = {replacement}"));
        }
        check(&lines.join("\n"));
    }
}

#[test]
fn the_valid_study_is_valid() {
    let study = spec::parse(VALID, "golden-study.toml", Path::new(".")).unwrap();
    plan::plan(&study).unwrap();
}
