//! Links the `intervene` binary (and its tests) with an rpath to the libtorch
//! the worker crate's build script found (see worker/build.rs), so it runs
//! without LD_LIBRARY_PATH.
fn main() {
    let dir = std::env::var("DEP_INTERVENE_TORCH_TORCH_LIB").or_else(|_| std::env::var("DEP_TCH_LIBTORCH_LIB"));
    if let Ok(dir) = dir {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
