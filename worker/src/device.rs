//! Device names as users and the fleet write them: `cpu`, `cuda`, `cuda:N`.

use tch::Device;

/// Parses a device name and checks that torch can use it.
pub fn parse_device(name: &str) -> std::result::Result<Device, String> {
    let name = name.trim();
    let device = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => Device::Cuda(0),
        _ => match name.strip_prefix("cuda:").map(str::parse::<usize>) {
            Some(Ok(i)) => Device::Cuda(i),
            _ => return Err(format!("unknown device `{name}`; expected cpu, cuda or cuda:N")),
        },
    };
    let available = tch::Cuda::device_count().max(0) as usize;
    match device {
        Device::Cuda(i) if i >= available => Err(if available == 0 {
            format!("device `{name}` asked for, but torch sees no CUDA device on this machine")
        } else {
            format!(
                "device `{name}` asked for, but torch sees only {available} CUDA device(s) (cuda:0..cuda:{})",
                available - 1
            )
        }),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_bad_ones_say_what_is_accepted() {
        assert_eq!(parse_device("cpu"), Ok(Device::Cpu));
        let e = parse_device("gpu0").unwrap_err();
        assert!(e.contains("cpu, cuda or cuda:N"), "{e}");
        assert!(parse_device("cuda:x").is_err());
        if !tch::Cuda::is_available() {
            assert!(parse_device("cuda:0").unwrap_err().contains("no CUDA device"));
        }
    }
}
