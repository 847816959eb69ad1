//! intervene-data: where pairs come from and how they become model input.
//!
//! - [`sources`]: CodeSearchNet jsonl(.gz), Parquet, CoNaLa, mined Python
//!   trees ([`mine`]), the machine's stdlib, a synthetic generator;
//!   [`load_source`] dispatches on a [`SourceSpec`](intervene_proto::job::SourceSpec).
//! - [`dataset`]: the canonical Parquet file the coordinator hashes and serves.
//! - [`split`], [`mutate`], [`tokenize`], [`vocab`]: the steps of [`prepare`].
//! - [`python`]: parsing and lexing Python ([`python_parses`] for the
//!   syntax-validity metric).
//!
//! No libtorch here: the coordinator loads, mines and hashes data too.

pub mod dataset;
pub mod error;
pub mod mine;
pub mod mutate;
pub mod pair;
pub mod prepare;
pub mod python;
pub mod sources;
pub mod split;
pub mod tokenize;
pub mod vocab;

#[cfg(test)]
mod test_support;

pub use dataset::{DatasetInfo, read_dataset, write_dataset};
pub use error::{Error, Result};
pub use mine::{MineOptions, MineReport, mine_tree};
pub use pair::Pair;
pub use prepare::{Example, Prepared, prepare};
pub use python::python_parses;
pub use sources::load_source;
pub use tokenize::Tokenizer;
pub use vocab::Vocab;
