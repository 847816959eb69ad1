//! Device names (`cpu`, `cuda`, `cuda:N`, parsed by
//! [`intervene_proto::device`]) as torch devices, checked against what
//! torch sees on this machine.

use intervene_proto::device::Device as Name;
use tch::Device;

/// Parses a device name and checks that torch can use it.
pub fn parse_device(name: &str) -> std::result::Result<Device, String> {
    let parsed: Name = name.parse().map_err(|e| format!("{e}"))?;
    match parsed {
        Name::Cpu => Ok(Device::Cpu),
        Name::Cuda(i) => {
            check_cuda(i).map(|()| Device::Cuda(i)).map_err(|e| format!("device `{}` asked for, but {e}", name.trim()))
        }
    }
}

/// Loads torch's CUDA backend, once per process; why not, when it cannot.
///
/// The backend is libtorch_cuda.so, which registers itself with torch when
/// it is loaded. Nothing in this binary calls into it by name, so the
/// linker's --as-needed drops it from the binary's dependencies and torch
/// would see no GPU even on a GPU node. It is loaded here, before the first
/// question about CUDA (torch keeps the first answer: parse the device
/// before seeding, which asks too), rather than linked: CPU runs (every job process of a
/// CPU worker) then never map its 450 MB and the CUDA libraries behind it.
/// `dlopen` finds it through the binary's rpath to the torch lib folder, or
/// LD_LIBRARY_PATH.
pub fn load_cuda_backend() -> std::result::Result<(), String> {
    static LOADED: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    LOADED
        .get_or_init(|| {
            // SAFETY: dlopen with a valid C string; the handle is kept for
            // the life of the process (never dlclosed). dlerror's message is
            // copied before any other dl call.
            unsafe {
                let handle = libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL);
                if handle.is_null() {
                    let e = libc::dlerror();
                    let why = if e.is_null() {
                        "unknown error".to_string()
                    } else {
                        std::ffi::CStr::from_ptr(e).to_string_lossy().into_owned()
                    };
                    Err(format!(
                        "torch's CUDA backend cannot be loaded ({why}); a CPU-only torch has none, and the torch \
                         lib folder must be on the binary's rpath or LD_LIBRARY_PATH"
                    ))
                } else {
                    Ok(())
                }
            }
        })
        .clone()
}

/// CUDA devices torch can use: 0 without a backend or a GPU.
pub fn cuda_device_count() -> usize {
    match load_cuda_backend() {
        Ok(()) => tch::Cuda::device_count().max(0) as usize,
        Err(_) => 0,
    }
}

/// Whether torch sees CUDA device `index`; if not, what it sees.
pub fn check_cuda(index: usize) -> std::result::Result<(), String> {
    load_cuda_backend()?;
    let available = tch::Cuda::device_count().max(0) as usize;
    if index < available {
        Ok(())
    } else if available == 0 {
        Err("torch sees no CUDA device on this machine".into())
    } else {
        Err(format!("torch sees only {available} CUDA device(s) (cuda:0..cuda:{})", available - 1))
    }
}

/// The canonical name of a torch device ("cpu" or "cuda:N"), as in
/// `Capabilities::device`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => Name::Cuda(i).to_string(),
        Device::Cpu => Name::Cpu.to_string(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!(parse_device("cpu"), Ok(Device::Cpu));
        let e = parse_device("gpu0").unwrap_err();
        assert_eq!(e, "`gpu0` is not a device (accepted: cpu, cuda or cuda:N)");
        assert!(parse_device("cuda:x").is_err());
        assert_eq!(device_name(Device::Cuda(3)), "cuda:3");
        assert_eq!(device_name(Device::Cpu), "cpu");
        if cuda_device_count() == 0 {
            assert!(parse_device("cuda:0").unwrap_err().contains("no CUDA device"));
            assert!(parse_device("cuda").unwrap_err().contains("no CUDA device"));
        }
    }

    /// Without the load, a GPU node's torch would see no device. A CPU
    /// machine cannot show the devices, but it shows the backend mapped
    /// into the process (the project's torch is the CUDA build), and that
    /// asking for devices then answers instead of failing.
    #[test]
    fn the_cuda_backend_is_loaded_on_demand() {
        let maps = || std::fs::read_to_string("/proc/self/maps").unwrap();
        load_cuda_backend().expect("the project's torch 2.11 wheel ships libtorch_cuda.so");
        assert!(maps().contains("libtorch_cuda.so"), "mapped after the load");
        assert_eq!(load_cuda_backend(), Ok(()), "loading twice is a no-op");
        let n = cuda_device_count();
        assert_eq!(n, tch::Cuda::device_count().max(0) as usize);
    }
}
