//! Shared helpers for unit tests.

use intervene_proto::job::{DataSpec, Overlong, SourceSpec, SplitMode, SyntheticTask, TokenizerKind};

/// A data spec with the given split sizes and roomy limits.
pub fn data_spec(train: u32, valid: u32, test: u32) -> DataSpec {
    DataSpec {
        source: SourceSpec::Synthetic { task: SyntheticTask::Mixed, size: train + valid + test, seed: 1 },
        train,
        valid,
        test,
        split: SplitMode::Random,
        split_seed: 42,
        tokenizer: TokenizerKind::CodeWhitespace,
        source_vocab_size: 500,
        target_vocab_size: 500,
        max_source_len: 50,
        max_target_len: 80,
        overlong: Overlong::Truncate,
    }
}
