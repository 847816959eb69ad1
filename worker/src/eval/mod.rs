//! Metrics, each a function of predictions and references, in percentage
//! points (0..100).

pub mod bleu;
pub mod codexglue;
pub mod errors;
pub mod metrics;
pub mod report;
pub mod unk;

pub use bleu::{corpus_bleu, corpus_bleu_tokens, sentence_bleu};
pub use codexglue::codexglue_bleu;
pub use errors::error_category;
pub use metrics::{corpus_token_accuracy, exact_match_text, percent_true, syntax_valid, token_accuracy};
