//! What makes a job's result a function of its id, and the record of it.
//!
//! Every generator a job uses is seeded from its spec (whose hash is the job
//! id): torch's CPU and CUDA generators by `manual_seed(seed)` in
//! [`crate::run_job`], data order, teacher-forcing coins and sampling by
//! streams derived from the seed, mutations by (seed, op, example, side).
//! In a process of its own, nothing else touches those generators.
//!
//! What is left is the arithmetic: the torch thread count changes how sums
//! are split, so it is part of the job's environment and recorded (the same
//! job with another thread count may differ in the last digits and beyond).
//! On CUDA, cuBLAS needs a fixed workspace (`CUBLAS_WORKSPACE_CONFIG`, read
//! when the context is created, so the supervisor sets it before the child
//! starts) and cuDNN's autotuner must be off. tch 0.24 exposes no switch for
//! `cudnn.deterministic`, so the record says that CUDA runs are seeded but
//! not guaranteed bit-identical.

use tch::Device;

/// cuBLAS's deterministic workspace setting (PyTorch's documented value).
pub const CUBLAS_WORKSPACE: &str = ":4096:8";

/// Environment variables a job process on `device` starts with.
pub fn child_env(device: &str) -> Vec<(&'static str, String)> {
    if device.starts_with("cuda") {
        let ws = std::env::var("CUBLAS_WORKSPACE_CONFIG").unwrap_or_else(|_| CUBLAS_WORKSPACE.to_string());
        vec![("CUBLAS_WORKSPACE_CONFIG", ws)]
    } else {
        Vec::new()
    }
}

/// Sets the flags a job trains under, before any torch work; returns the
/// description recorded in the runs table (`determinism`).
pub fn apply(device: Device, threads: usize) -> String {
    match device {
        Device::Cuda(_) => {
            tch::Cuda::cudnn_set_benchmark(false);
            let ws = std::env::var("CUBLAS_WORKSPACE_CONFIG").unwrap_or_default();
            format!(
                "cuda: seeded, own process, {threads} cpu thread(s), cudnn.benchmark off, CUBLAS_WORKSPACE_CONFIG={ws}; \
                 cudnn.deterministic not settable (tch 0.24): not guaranteed bit-identical"
            )
        }
        _ => format!("cpu: seeded, own process, {threads} thread(s): bit-identical for this thread count"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_cuda_jobs_get_the_cublas_workspace() {
        assert!(child_env("cpu").is_empty());
        let env = child_env("cuda:1");
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].0, "CUBLAS_WORKSPACE_CONFIG");
    }

    #[test]
    fn the_cpu_record_names_the_thread_count() {
        let d = apply(Device::Cpu, 3);
        assert!(d.starts_with("cpu: seeded") && d.contains("3 thread(s)"), "{d}");
    }
}
