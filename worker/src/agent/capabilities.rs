//! What a worker tells the coordinator about itself: host, device, GPU name
//! and memory, torch and CUDA versions, CPU threads.
//!
//! The torch and CUDA versions are those of the libtorch this process has
//! loaded: its `version.py` sits next to the shared library in a pip torch
//! (`torch/lib/libtorch_cpu.so` and `torch/version.py`). GPU name and
//! memory come from `nvidia-smi` when it is installed; otherwise they stay
//! empty rather than guessed.

use std::path::{Path, PathBuf};

use intervene_proto::device::Device;
use intervene_proto::pb;

/// Capabilities of a worker that runs on `device` (a name
/// `intervene_proto::device` parses: "cpu", "cuda" or "cuda:N").
pub fn detect(device: &str) -> pb::Capabilities {
    let (torch_version, cuda_version) = torch_versions().unwrap_or_default();
    let (gpu_name, gpu_memory_bytes) = match device.parse() {
        Ok(Device::Cuda(index)) => gpu_info(index as u32).unwrap_or_default(),
        _ => (String::new(), 0),
    };
    pb::Capabilities {
        hostname: hostname(),
        device: device.to_string(),
        gpu_name,
        gpu_memory_bytes,
        torch_version,
        cuda_version,
        cpu_threads: std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
        intervene_version: env!("CARGO_PKG_VERSION").to_string(),
        // Filled in by each job process (see isolate::determinism).
        determinism: String::new(),
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// The directory of the loaded libtorch, from this process's memory map.
fn libtorch_dir() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with("/libtorch_cpu.so") || p.ends_with("/libtorch.so"))
        .and_then(|p| Path::new(p).parent().map(Path::to_path_buf))
}

fn torch_versions() -> Option<(String, String)> {
    let version_py = libtorch_dir()?.parent()?.join("version.py");
    Some(parse_version_py(&std::fs::read_to_string(version_py).ok()?))
}

/// `__version__ = '2.11.0+cu130'` and `cuda: Optional[str] = '13.0'`.
pub fn parse_version_py(text: &str) -> (String, String) {
    let value = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split('=').nth(1))
            .map(|v| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string())
            .filter(|v| v != "None")
            .unwrap_or_default()
    };
    (value("__version__"), value("cuda"))
}

fn gpu_info(index: u32) -> Option<(String, u64)> {
    let out = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,memory.total", "--format=csv,noheader,nounits", &format!("--id={index}")])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))
}

/// `NVIDIA H100 80GB HBM3, 81559` (MiB).
pub fn parse_nvidia_smi(line: &str) -> Option<(String, u64)> {
    let (name, mib) = line.trim().rsplit_once(',')?;
    Some((name.trim().to_string(), mib.trim().parse::<u64>().ok()? * (1 << 20)))
}

/// How many CUDA devices torch can use (for `--gpus all`).
pub fn cuda_devices() -> usize {
    crate::device::cuda_device_count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_gpus_parse() {
        let py = "__version__ = '2.11.0+cu130'\ndebug = False\ncuda: Optional[str] = '13.0'\n";
        assert_eq!(parse_version_py(py), ("2.11.0+cu130".into(), "13.0".into()));
        assert_eq!(parse_version_py("__version__ = '2.11.0'\ncuda: Optional[str] = None\n").1, "");
        assert_eq!(
            parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559\n"),
            Some(("NVIDIA H100 80GB HBM3".into(), 81559 << 20))
        );
        assert_eq!(parse_nvidia_smi("garbage"), None);
    }

    #[test]
    fn cpu_capabilities_name_the_host_and_threads() {
        let c = detect("cpu");
        assert_eq!(c.device, "cpu");
        assert!(!c.hostname.is_empty());
        assert!(c.cpu_threads >= 1);
        assert!(c.gpu_name.is_empty());
    }
}
