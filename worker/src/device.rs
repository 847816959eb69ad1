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

/// Whether torch sees CUDA device `index`; if not, what it sees.
pub fn check_cuda(index: usize) -> std::result::Result<(), String> {
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
        if !tch::Cuda::is_available() {
            assert!(parse_device("cuda:0").unwrap_err().contains("no CUDA device"));
            assert!(parse_device("cuda").unwrap_err().contains("no CUDA device"));
        }
    }
}
