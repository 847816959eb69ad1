//! Links the `intervene` binary (and its tests) with an rpath to the libtorch
//! the worker crate's build script found (see worker/build.rs), so it runs
//! without LD_LIBRARY_PATH; and sets `cfg(fake_train)` when the worker was
//! built with its test scaffolding (the tests' dev-dependency turns it on).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fake_train)");
    println!("cargo:rerun-if-env-changed=DEP_INTERVENE_TORCH_FAKE_TRAIN");
    println!("cargo:rerun-if-env-changed=DEP_INTERVENE_TORCH_TORCH_LIB");
    println!("cargo:rerun-if-changed=build.rs");
    let dir = std::env::var("DEP_INTERVENE_TORCH_TORCH_LIB").or_else(|_| std::env::var("DEP_TCH_LIBTORCH_LIB"));
    if let Ok(dir) = dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    if std::env::var_os("DEP_INTERVENE_TORCH_FAKE_TRAIN").is_some() {
        println!("cargo:rustc-cfg=fake_train");
    }
}
