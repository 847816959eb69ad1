//! Finds the libtorch this build runs against, and links the worker's tests
//! and benches with an rpath to it so they run without LD_LIBRARY_PATH. The
//! folder is passed on (`links = "intervene_torch"`) to the `intervene`
//! binary's build script, which sets the same rpath.
//!
//! Why not torch-sys's DEP_TCH_LIBTORCH_LIB alone: compiled dependencies are
//! cached outside the clone (scripts/env.sh), so torch-sys's build output
//! names the venv of whichever checkout built it first, which may since have
//! been deleted. The venv this build uses ($VIRTUAL_ENV) is looked at first.
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-env-changed=VIRTUAL_ENV");
    let dir = std::env::var("VIRTUAL_ENV")
        .ok()
        .and_then(|venv| venv_torch_lib(Path::new(&venv)))
        .map(|p| p.display().to_string())
        .or_else(|| std::env::var("DEP_TCH_LIBTORCH_LIB").ok());
    if let Some(dir) = dir {
        println!("cargo:rustc-link-search=native={dir}");
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        println!("cargo:torch_lib={dir}");
    }
    // The binary's build script turns this into `cfg(fake_train)`: a crate
    // cannot see the features of its dependencies otherwise, and the tests
    // enable the feature through a dev-dependency.
    if std::env::var_os("CARGO_FEATURE_FAKE_TRAIN").is_some() {
        println!("cargo:fake_train=1");
    }
}

/// `<venv>/lib/python3.X/site-packages/torch/lib`, if torch is installed there.
fn venv_torch_lib(venv: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(venv.join("lib"))
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/torch/lib"))
        .filter(|p| p.join("libtorch_cpu.so").exists())
        .collect();
    found.sort();
    found.pop()
}
