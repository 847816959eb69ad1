use super::*;
use crate::sources::synthetic::generate;
use crate::test_support::data_spec;
use intervene_proto::job::SyntheticTask;
use sha2::{Digest, Sha256};

fn synthetic(n: u32) -> Vec<Pair> {
    generate(SyntheticTask::Mixed, n, 11).unwrap()
}

/// A digest of every byte of every example: "byte-identical" made checkable.
fn fingerprint(p: &Prepared) -> String {
    let mut h = Sha256::new();
    for split in [&p.train, &p.valid, &p.test] {
        for e in split {
            h.update(format!("{e:?}\n").as_bytes());
        }
    }
    h.update(format!("{:?}{:?}", p.source_vocab.tokens(), p.target_vocab.tokens()).as_bytes());
    hex::encode(h.finalize())
}

fn ids(split: &[Example]) -> Vec<&str> {
    split.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn synthetic_with_code_whitespace_prepares() {
    let pairs = synthetic(300);
    let spec = data_spec(200, 50, 50);
    let p = prepare(&pairs, &spec, None, 1).unwrap();
    assert_eq!((p.train.len(), p.valid.len(), p.test.len()), (200, 50, 50));
    assert!(p.mutation_counts.is_empty());
    let e = &p.train[0];
    assert_eq!(e.source_tokens, crate::tokenize::whitespace::tokenize(&e.source_text));
    assert_eq!(e.source_ids, p.source_vocab.encode(&e.source_tokens));
    assert_eq!(p.target_vocab.decode(&e.target_ids), e.target_tokens);
    assert!(p.source_vocab.len() <= 500 && p.target_vocab.len() <= 500);
    // Deterministic.
    assert_eq!(fingerprint(&p), fingerprint(&prepare(&pairs, &spec, None, 1).unwrap()));
}

#[test]
fn vocab_sizes_are_never_exceeded_and_rare_tokens_are_unk() {
    let pairs = synthetic(300);
    let mut spec = data_spec(200, 50, 50);
    spec.source_vocab_size = 20;
    spec.target_vocab_size = 30;
    let p = prepare(&pairs, &spec, None, 1).unwrap();
    assert_eq!(p.source_vocab.len(), 20);
    assert_eq!(p.target_vocab.len(), 30);
    let all = p.train.iter().chain(&p.test);
    assert!(all.clone().all(|e| e.source_ids.iter().all(|&i| (0..20).contains(&i))));
    assert!(all.clone().any(|e| e.target_ids.contains(&Vocab::UNK)));
}

#[test]
fn truncate_and_drop_honour_the_maximum_lengths() {
    let pairs = synthetic(400);
    let mut spec = data_spec(60, 10, 10);
    spec.max_source_len = 7;
    spec.max_target_len = 12;
    let p = prepare(&pairs, &spec, None, 1).unwrap();
    assert!(p.train.iter().all(|e| e.source_ids.len() <= 7 && e.target_ids.len() <= 12));
    assert!(p.train.iter().any(|e| e.target_ids.len() == 12));
    assert_eq!(p.overlong_dropped, 0);

    spec.overlong = Overlong::Drop;
    let d = prepare(&pairs, &spec, None, 1).unwrap();
    assert!(d.overlong_dropped > 0);
    for e in d.train.iter().chain(&d.test) {
        assert_eq!(e.target_tokens, crate::tokenize::whitespace::tokenize(&e.target_text), "nothing was cut");
        assert!(e.target_tokens.len() <= 12);
    }
    spec.train = 380;
    let err = prepare(&pairs, &spec, None, 1).unwrap_err().to_string();
    assert!(err.contains("= 400 pairs, but the data set has") && err.contains("overlong"), "{err}");
}

#[test]
fn bad_specs_name_the_field() {
    let pairs = synthetic(30);
    let mut spec = data_spec(10, 5, 5);
    spec.target_vocab_size = 3;
    assert!(prepare(&pairs, &spec, None, 1).unwrap_err().to_string().starts_with("data.target_vocab_size: 3"));
    let mut spec = data_spec(10, 5, 5);
    spec.max_source_len = 0;
    assert!(prepare(&pairs, &spec, None, 1).unwrap_err().to_string().starts_with("data.max_source_len"));
    let m = MutationSpec { op: MutationOp::TokenDropout { p: -0.1 }, side: Side::Source, splits: vec![Split::Train] };
    assert!(prepare(&pairs, &data_spec(10, 5, 5), Some(&m), 1).unwrap_err().to_string().starts_with("mutation.p"));
}

const CODE_PAIRS: &[(&str, &str)] = &[
    (
        "Return the total of the values.",
        "def total(values):\n    # sum them up\n    result = 0\n    for v in values:\n        result += v\n    return result",
    ),
    ("Return the name in upper case.", "def shout(name):\n    loud = name.upper()  # louder\n    return loud + '!'"),
    (
        "Count the words in a line of text.",
        "def words(line, sep=None):\n    parts = line.split(sep)\n    return len(parts)",
    ),
    ("Return the larger of the two numbers.", "def bigger(a, b):\n    if a > b:\n        return a\n    return b"),
];

/// Synthetic pairs plus hand-written ones with comments and locals, so
/// every mutation has something to change.
fn mixed_pairs() -> Vec<Pair> {
    let mut pairs = synthetic(240);
    for k in 0..60 {
        let (d, c) = CODE_PAIRS[k % CODE_PAIRS.len()];
        pairs.push(Pair::new(
            format!("hand-{k}"),
            format!("{d} Variant {k}."),
            c.replace("return", &format!("x{k} = {k}\n    return")),
        ));
    }
    pairs
}

fn all_mutations() -> Vec<MutationSpec> {
    let on = |op, side| MutationSpec { op, side, splits: vec![Split::Train, Split::Valid] };
    vec![
        on(MutationOp::TokenDropout { p: 0.3 }, Side::Source),
        on(MutationOp::TokenDropout { p: 0.3 }, Side::Both),
        on(MutationOp::LocalShuffle { window: 3 }, Side::Target),
        on(MutationOp::Truncate { max_tokens: 5 }, Side::Source),
        on(MutationOp::RenameIdentifiers { p: 0.8 }, Side::Target),
        on(MutationOp::LabelNoise { fraction: 0.4 }, Side::Source),
        on(MutationOp::Subsample { fraction: 0.5 }, Side::Source),
        on(MutationOp::StripComments, Side::Target),
    ]
}

#[test]
fn every_mutation_is_seeded_scoped_to_its_splits_and_counted() {
    let pairs = mixed_pairs();
    let spec = data_spec(200, 50, 50);
    let control = prepare(&pairs, &spec, None, 1).unwrap();
    for m in all_mutations() {
        let name = m.op.name();
        let a = prepare(&pairs, &spec, Some(&m), 7).unwrap();
        let b = prepare(&pairs, &spec, Some(&m), 7).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b), "{name}: same seed, same bytes");
        assert_ne!(fingerprint(&a), fingerprint(&control), "{name}: changes something");
        if !matches!(m.op, MutationOp::StripComments | MutationOp::Truncate { .. }) {
            // Strip-comments and truncate have no randomness: every seed does the same.
            let c = prepare(&pairs, &spec, Some(&m), 8).unwrap();
            assert_ne!(fingerprint(&a), fingerprint(&c), "{name}: another seed, other data");
        }
        // The test split is not listed: same examples, same texts as the control
        // (ids may differ where the vocabulary changed, never the tokens).
        assert_eq!(ids(&a.test), ids(&control.test), "{name}");
        for (x, y) in a.test.iter().zip(&control.test) {
            assert_eq!((&x.source_text, &x.target_text), (&y.source_text, &y.target_text), "{name}");
            assert_eq!(x.target_tokens, y.target_tokens, "{name}");
        }
        assert!(!a.mutation_counts.is_empty(), "{name}: reports counts");
        assert!(a.mutation_counts.values().any(|&v| v > 0), "{name}: {:?}", a.mutation_counts);
    }
}

#[test]
fn mutation_counts_say_what_changed() {
    let pairs = mixed_pairs();
    let spec = data_spec(200, 50, 50);
    let run = |op| {
        let m = MutationSpec { op, side: Side::Target, splits: vec![Split::Train] };
        prepare(&pairs, &spec, Some(&m), 3).unwrap()
    };
    let p = run(MutationOp::Subsample { fraction: 0.25 });
    assert_eq!(p.train.len(), 50);
    assert_eq!(p.mutation_counts["pairs_kept"], 50);
    let p = run(MutationOp::StripComments);
    assert!(p.mutation_counts["comments_removed"] > 0);
    assert!(p.train.iter().all(|e| !e.target_text.contains("# ")));
    let p = run(MutationOp::RenameIdentifiers { p: 1.0 });
    assert!(p.mutation_counts["identifiers_renamed"] > 0);
    assert!(p.train.iter().all(|e| crate::python::python_parses(&e.target_text)));
    assert!(p.train.iter().any(|e| e.target_text.contains("var1")));
    let p = run(MutationOp::LabelNoise { fraction: 0.5 });
    assert_eq!(p.mutation_counts["pairs_selected"], 100);
    assert!(p.mutation_counts["pairs_relabelled"] >= 95);
    let p = run(MutationOp::TokenDropout { p: 0.5 });
    let (seen, dropped) = (p.mutation_counts["tokens_seen"], p.mutation_counts["tokens_dropped"]);
    assert!(dropped * 10 > seen * 4 && dropped * 10 < seen * 6, "{dropped}/{seen}");
}

#[test]
fn python_lexer_and_bpe_prepare() {
    let pairs = mixed_pairs();
    for kind in [TokenizerKind::PythonLexer, TokenizerKind::Bpe] {
        let mut spec = data_spec(200, 50, 50);
        spec.tokenizer = kind;
        spec.source_vocab_size = 300;
        spec.target_vocab_size = 400;
        spec.max_target_len = 200;
        let p = prepare(&pairs, &spec, None, 1).unwrap();
        assert!(p.source_vocab.len() <= 300 && p.target_vocab.len() <= 400);
        for e in &p.test {
            let code = p.tokenizer.detokenize_target(&e.target_tokens);
            assert!(crate::python::python_parses(&code), "{kind:?}: {code}");
        }
        let again = prepare(&pairs, &spec, None, 1).unwrap();
        assert_eq!(fingerprint(&p), fingerprint(&again), "{kind:?}");
        // Drop measures with the same tokenizer.
        spec.overlong = Overlong::Drop;
        spec.max_target_len = 20;
        (spec.train, spec.valid, spec.test) = (60, 10, 10);
        let d = prepare(&pairs, &spec, None, 1).unwrap();
        assert!(d.overlong_dropped > 0, "{kind:?}");
    }
}
