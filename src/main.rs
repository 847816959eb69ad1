//! `intervene`: interventional studies on neural code generators.
//!
//! The binary is thin: it parses the command line, sets up tracing and hands
//! over to one module of `cli` per area (planning, data, training, the fleet,
//! analysis).

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
