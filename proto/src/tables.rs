//! Names and layout of the result tables, shared by the writer (the
//! coordinator's store) and the readers (analysis).
//!
//! A study's results live under `<state>/results/<study>/v<version>/`:
//!
//! - `arms.parquet`: the plan, one row per arm, written at submission.
//! - `runs/`, `examples/`, `curves/`, `attention/`: folders of Parquet
//!   files, read as one table each. The coordinator writes the jobs that
//!   finished since its last write together, `<table>/batch-<n>.parquet`;
//!   `intervene train` and results carried over to a new study version write
//!   `<table>/<job_id>.parquet`. Every file is written atomically (temporary
//!   file, fsync, rename) and a job's rows are in exactly one file per table.
//!   A job that belongs to several arms (the same resolved cell reached twice)
//!   has one row per arm; `job_id` tells the rows apart from independent runs.
//!
//! Units: every outcome is in percentage points, 0 to 100 (BLEU as sacrebleu
//! prints it; token accuracy, exact match and syntax validity as percentages).
//! In `examples`, `exact_match` and `syntax_valid` are booleans; averaging
//! them as 0/100 gives the run-level numbers.

/// Directory of a study version's results, relative to the state directory.
pub fn results_dir(study: &str, version: u32) -> String {
    format!("results/{study}/v{version}")
}

pub const ARMS: &str = "arms";
pub const RUNS: &str = "runs";
pub const EXAMPLES: &str = "examples";
pub const CURVES: &str = "curves";
pub const ATTENTION: &str = "attention";

/// Arm kinds, the `kind` column of `arms` and `runs`.
pub const KIND_CONTROL: &str = "control";
pub const KIND_INTRA: &str = "intra";
pub const KIND_INTER: &str = "inter";
pub const KIND_MUTATION: &str = "mutation";

/// The name of the control arm.
pub const CONTROL_ARM: &str = "control";

/// `arms`: study, study_version, arm, intervention, kind, compare_to (the arm
/// this arm's effect is measured against; null for the control and for the
/// reference arch of an inter bucket), bucket (null outside inter), arch,
/// params, changed ("knob=value, ..." relative to compare_to), seeds (list),
/// job_ids (list, one per seed, same order).
pub const ARMS_COLUMNS: &[&str] = &[
    "study",
    "study_version",
    "arm",
    "intervention",
    "kind",
    "compare_to",
    "bucket",
    "arch",
    "params",
    "changed",
    "seeds",
    "job_ids",
];

/// `runs` identity and provenance columns, then one column per factor (see
/// [`FACTOR_COLUMNS`]), then the outcomes ([`RUN_OUTCOMES`]) and facts
/// ([`RUN_FACTS`]).
pub const RUN_ID_COLUMNS: &[&str] = &[
    "study",
    "study_version",
    "arm",
    "intervention",
    "kind",
    "compare_to",
    "bucket",
    "job_id",
    "seed",
    "attempt",
    "worker",
    "device",
    "gpu_name",
    "torch_version",
    "cpu_threads",
    "determinism",
    "arch",
    "params",
    "finished_at_ms",
];

/// Every resolved knob of the job, named as in study files; null where the
/// job's architecture, decoder or mutation has no such knob.
pub const FACTOR_COLUMNS: &[&str] = &[
    // model
    "embedding_dim",
    "hidden_dim",
    "layers",
    "dropout",
    "bidirectional",
    "attention_dim",
    "d_model",
    "heads",
    "ff_dim",
    "encoder_layers",
    "decoder_layers",
    // train
    "batch_size",
    "epochs",
    "learning_rate",
    "weight_decay",
    "warmup_steps",
    "gradient_clip",
    "teacher_forcing",
    "scheduled_sampling",
    "teacher_forcing_min",
    "sampling_k",
    "early_stopping_patience",
    "batching",
    // decode
    "strategy",
    "beam_size",
    "length_penalty",
    "top_p",
    "temperature",
    "max_len",
    // data
    "source_kind",
    "train_size",
    "valid_size",
    "test_size",
    "split",
    "split_seed",
    "tokenizer",
    "source_vocab_size",
    "target_vocab_size",
    "max_source_len",
    "max_target_len",
    "overlong",
    // mutation
    "mutation_op",
    "mutation_side",
    "mutation_splits",
    "mutation_param",
    "mutation_level",
];

/// Outcomes a study may name in `outcomes`, all in percentage points.
/// `bleu_vocab` is the seed notebook's BLEU (target-vocabulary tokens, `<UNK>`
/// matching `<UNK>`), for comparison with its published figures only; null
/// for results from before it was measured.
pub const RUN_OUTCOMES: &[&str] =
    &["bleu", "codexglue_bleu", "token_accuracy", "exact_match", "syntax_valid", "bleu_vocab"];

pub const RUN_FACTS: &[&str] = &[
    "test_loss",
    "best_valid_loss",
    "best_epoch",
    "epochs_run",
    "early_stopped",
    "trainable_params",
    "source_vocab",
    "target_vocab",
    "train_examples",
    "valid_examples",
    "test_examples",
    "train_seconds",
    "eval_seconds",
    "train_tokens_per_second",
    "mutation_counts",
];

/// `examples`: one row per test example per (arm, job).
pub const EXAMPLE_COLUMNS: &[&str] = &[
    "study",
    "study_version",
    "arm",
    "job_id",
    "seed",
    "example_id",
    "source_len",
    "target_len",
    "length_bin",
    "sentence_bleu",
    "token_accuracy",
    "exact_match",
    "syntax_valid",
    "error_category",
    "source",
    "reference",
    "prediction",
];

/// `curves`: one row per epoch per (arm, job). `seconds` is the time since
/// training started, validation included; `step_seconds` the epoch's
/// optimisation steps alone, and `step_cpu_seconds` the process's CPU time
/// over them (all threads; on a shared machine, the steps' own work). `target_tokens` are the target tokens (ids plus
/// EOS) the epoch trained on, `padded_target_tokens` the slots of its padded
/// target batches (rows x longest row, summed over batches);
/// `source_tokens` and `padded_source_tokens` the same for the docstrings.
/// Results from before they were recorded have them null (or 0, from an
/// older worker).
pub const CURVE_COLUMNS: &[&str] = &[
    "study",
    "study_version",
    "arm",
    "job_id",
    "seed",
    "epoch",
    "step",
    "train_loss",
    "valid_loss",
    "learning_rate",
    "teacher_forcing",
    "seconds",
    "step_seconds",
    "step_cpu_seconds",
    "target_tokens",
    "padded_target_tokens",
    "source_tokens",
    "padded_source_tokens",
];

/// `attention`: a few test examples per (arm, job) of attention models;
/// `weights` is row-major target x source.
pub const ATTENTION_COLUMNS: &[&str] =
    &["study", "study_version", "arm", "job_id", "seed", "example_id", "source_tokens", "target_tokens", "weights"];

/// Source-length bins of the length analysis, by source tokens: the seed's
/// [0, 10), [10, 20), [20, 30), [30, 40) and [40, 50], the last one closed
/// (so a docstring truncated to 50 tokens falls in it), then longer ones.
pub const LENGTH_BINS: &[&str] = &["0-10", "10-20", "20-30", "30-40", "40-50", "50+"];

pub fn length_bin(source_len: usize) -> &'static str {
    if source_len == 50 {
        return LENGTH_BINS[4];
    }
    LENGTH_BINS[(source_len / 10).min(LENGTH_BINS.len() - 1)]
}

/// The error categories of the analysis, in the order they are tested.
pub const ERROR_CATEGORIES: &[&str] = &[
    "correct",
    "empty_output",
    "incomplete_code",
    "missing_parentheses",
    "missing_colons",
    "missing_return",
    "wrong_operators",
    "other",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_bins_are_half_open_decades_but_the_last_is_closed() {
        assert_eq!(length_bin(0), "0-10");
        assert_eq!(length_bin(9), "0-10");
        assert_eq!(length_bin(10), "10-20");
        assert_eq!(length_bin(39), "30-40");
        assert_eq!(length_bin(40), "40-50");
        assert_eq!(length_bin(49), "40-50");
        // The seed's [40, 50] is closed: max_source_len = 50 lands here.
        assert_eq!(length_bin(50), "40-50");
        assert_eq!(length_bin(51), "50+");
        assert_eq!(length_bin(500), "50+");
    }
}
