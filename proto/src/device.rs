//! Device names as users, workers and the coordinator write them.
//!
//! The one grammar: `cpu`, `cuda` (the first GPU) or `cuda:N`. Whether
//! torch can use the device is the worker's question (`worker::device`);
//! this module only reads the name, so the coordinator and the CLI agree
//! with the worker without linking libtorch.

use std::fmt;
use std::str::FromStr;

/// What every device error lists as accepted.
pub const ACCEPTED: &str = "cpu, cuda or cuda:N";

/// A device name, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Device {
    Cpu,
    /// The GPU with this index (`cuda` is `cuda:0`).
    Cuda(usize),
}

/// A name that is not a device: says the value and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{}` is not a device (accepted: {ACCEPTED})", shown(.0))]
pub struct DeviceError(pub String);

/// Long values are cut and control characters escaped, so a message stays
/// one short line.
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    let cut: String = value.chars().take(MAX).collect();
    let more = if value.chars().count() > MAX { "..." } else { "" };
    format!("{}{more}", cut.escape_debug())
}

impl FromStr for Device {
    type Err = DeviceError;

    fn from_str(name: &str) -> Result<Device, DeviceError> {
        let bad = || DeviceError(name.to_string());
        match name.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            other => {
                let index = other.strip_prefix("cuda:").ok_or_else(bad)?;
                // Digits only: `cuda:+1` and `cuda: 1` are not names anyone writes.
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                index.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

/// The canonical name: `cpu` or `cuda:N`.
impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => f.write_str("cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accepted_names_parse() {
        assert_eq!("cpu".parse(), Ok(Device::Cpu));
        assert_eq!("cuda".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:0".parse(), Ok(Device::Cuda(0)));
        assert_eq!("cuda:12".parse(), Ok(Device::Cuda(12)));
        assert_eq!(" cuda:1 ".parse(), Ok(Device::Cuda(1)));
    }

    #[test]
    fn names_print_canonically_and_round_trip() {
        assert_eq!("cuda".parse::<Device>().unwrap().to_string(), "cuda:0");
        for d in [Device::Cpu, Device::Cuda(0), Device::Cuda(7)] {
            assert_eq!(d.to_string().parse::<Device>(), Ok(d));
        }
    }

    #[test]
    fn other_names_say_the_value_and_what_is_accepted() {
        for bad in ["", "gpu", "gpu0", "CPU", "cuda:", "cuda:x", "cuda:-1", "cuda:+1", "cuda:1.0", "cuda0", "tpu"] {
            let e = bad.parse::<Device>().unwrap_err().to_string();
            assert_eq!(e, format!("`{bad}` is not a device (accepted: cpu, cuda or cuda:N)"));
        }
        let long = "x".repeat(100);
        assert!(long.parse::<Device>().unwrap_err().to_string().starts_with(&format!("`{}...`", "x".repeat(40))));
        assert!("cpu\nx".parse::<Device>().unwrap_err().to_string().starts_with("`cpu\\nx`"));
    }
}
