//! No input makes the readers, tokenizers or code mutations panic: random
//! bytes and random Python-looking text, checked with proptest.

use std::path::Path;

use intervene_data::mutate::code::{rename_identifiers, strip_comments};
use intervene_data::tokenize::{bpe::BpeModel, pylex, whitespace};
use intervene_data::{Vocab, load_source, python_parses, read_dataset};
use intervene_proto::job::SourceSpec;
use proptest::prelude::*;

fn load(dir: &Path, name: &str, bytes: &[u8], spec: SourceSpec) {
    std::fs::write(dir.join(name), bytes).unwrap();
    // Ok or a clean error; a panic fails the test.
    let _ = load_source(&spec, dir, dir);
}

/// Text built from the characters that make Python lexing hard.
fn pythonish() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "def", "class", "f", "x", "(", ")", "[", "]", "{", "}", ":", ",", ".", "=", "==", "'", "\"", "'''", "\"\"\"",
        "f'", "rb'", "#", "\\", "\n", "\r\n", "\t", "    ", " ", "1", "0x", "1.5e", "é", "🙂", "\u{0}", "lambda",
        "for", "in", "as", "global", "*", "**", "->", ":=", "@", ";", "async", "await", "match", "case", "_",
    ]);
    prop::collection::vec(atoms, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn readers_survive_random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400), gz in any::<bool>()) {
        let dir = tempfile::tempdir().unwrap();
        let mut data = bytes.clone();
        if gz {
            data.splice(0..0, [0x1f, 0x8b]);
        }
        load(dir.path(), "a.jsonl", &data, SourceSpec::Codesearchnet { path: "a.jsonl".into() });
        load(dir.path(), "c.json", &data, SourceSpec::Conala { path: "c.json".into() });
        load(dir.path(), "c.jsonl", &data, SourceSpec::Conala { path: "c.jsonl".into() });
        let mut parquet = b"PAR1".to_vec();
        parquet.extend(&bytes);
        parquet.extend(b"PAR1");
        load(dir.path(), "p.parquet", &parquet, SourceSpec::Parquet { path: "p.parquet".into() });
        let _ = read_dataset(&dir.path().join("p.parquet"));
    }

    #[test]
    fn readers_survive_random_json_lines(lines in prop::collection::vec(pythonish(), 0..5)) {
        let dir = tempfile::tempdir().unwrap();
        let text: String = lines.iter().map(|l| format!("{{\"code\": {l:?}, \"docstring\": {l}}}\n")).collect();
        load(dir.path(), "a.jsonl", text.as_bytes(), SourceSpec::Codesearchnet { path: "a.jsonl".into() });
    }

    #[test]
    fn python_tokenizers_and_mutations_survive_any_text(code in pythonish()) {
        let toks = pylex::tokenize(&code);
        let back = pylex::detokenize(&toks);
        if python_parses(&code) && python_parses(&back) {
            prop_assert_eq!(pylex::tokenize(&back), toks);
        }
        let _ = whitespace::tokenize(&code);
        let _ = strip_comments(&code);
        let _ = rename_identifiers(&code, |_| true);
    }

    #[test]
    fn detokenizing_any_token_sequence_works(tokens in prop::collection::vec(prop::sample::select(vec![
        "<NEWLINE>", "<INDENT>", "<DEDENT>", "<STR:'>", "<STR:rb\"\"\">", "</STR>", "<STR:bad>", "(", ")", "x", "1",
        ".", "-", "*", "=", ":", "def", "<UNK>", "\n", "'",
    ]), 0..80)) {
        let tokens: Vec<String> = tokens.into_iter().map(String::from).collect();
        let _ = pylex::detokenize(&tokens);
        let _ = BpeModel::detokenize(&tokens);
    }

    #[test]
    fn vocab_decodes_any_ids(ids in prop::collection::vec(any::<i64>(), 0..50)) {
        let seqs = [vec!["a".to_string(), "b".to_string()]];
        let vocab = Vocab::build(seqs.iter().map(|s| s.as_slice()), 10).unwrap();
        let decoded = vocab.decode(&ids);
        prop_assert!(decoded.len() <= ids.len());
    }
}

#[test]
fn bpe_encodes_random_text() {
    let corpus = ["def f(x):\n    return x\n", "class A:\n    pass\n"];
    let model = BpeModel::train(&corpus, 300).unwrap();
    proptest!(ProptestConfig { cases: 100, ..ProptestConfig::default() }, |(text in any::<String>())| {
        let toks = model.tokens(&text);
        prop_assert_eq!(BpeModel::detokenize(&toks), text);
    });
}
