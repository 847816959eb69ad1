//! placeholder crate root, replaced below

pub mod agent;
