//! Placing an architecture inside a complexity bucket: solve the `size_by`
//! knob so that the exact trainable-parameter count (closed form, no torch)
//! lands in [low, high), as near the bucket's geometric middle as the knob's
//! integer steps allow.

use intervene_proto::job::Arch;
use intervene_proto::params::trainable_params;

use crate::spec::knobs::{Knobs, Value};
use crate::spec::resolve::{DataBase, Resolved, resolve};
use crate::spec::{ArmConfig, Bucket};

/// The largest value a size knob is searched up to.
const MAX_SIZE: i64 = 65_536;

#[derive(Debug, Clone)]
pub struct Sized {
    pub resolved: Resolved,
    pub value: i64,
}

/// Count of `config` with `knob = value`, or None if that value does not
/// resolve (e.g. a d_model the heads do not divide).
fn count_at(config: &ArmConfig, knob: &'static str, value: i64, data: &DataBase) -> Option<(Resolved, u64)> {
    let mut knobs: Knobs = config.knobs.clone();
    knobs.insert(knob, Value::Int(value));
    let r = resolve(config.arch, &knobs, data).ok()?;
    let n = trainable_params(&r.model, r.data.source_vocab_size, r.data.target_vocab_size);
    Some((r, n))
}

/// The step between admissible values: d_model moves in multiples of heads.
fn step(config: &ArmConfig, knob: &str) -> i64 {
    if config.arch == Arch::Transformer && knob == "d_model" {
        config.knobs.get("heads").and_then(Value::as_i64).unwrap_or(1).max(1)
    } else {
        1
    }
}

pub fn solve(config: &ArmConfig, knob: &'static str, bucket: &Bucket, data: &DataBase) -> Result<Sized, String> {
    let step = step(config, knob);
    let max_i = (MAX_SIZE / step).max(1);
    let value = |i: i64| i * step;
    // Counts only grow with a size knob, so every search below is binary.
    let count = |i: i64| count_at(config, knob, value(i), data).map_or(u64::MAX, |(_, n)| n);
    let first_at_least = |target: f64| -> i64 {
        let (mut lo, mut hi) = (1, max_i + 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if count(mid) as f64 >= target { hi = mid } else { lo = mid + 1 }
        }
        lo
    };
    let (smallest, largest) = (count(1), count(max_i));
    let lo_i = first_at_least(bucket.low);
    let hi_i = first_at_least(bucket.high) - 1; // last index below `high`
    if lo_i > max_i || hi_i < 1 || lo_i > hi_i {
        let reach = format!(
            "with {knob} from {} to {} it has {} to {} trainable parameters",
            value(1),
            value(max_i),
            thousands(smallest),
            thousands(largest)
        );
        let hint = if (smallest as f64) >= bucket.high {
            format!(
                "even {knob} = {} is too big; lower the other dimensions or the vocabulary sizes, or raise the bucket",
                value(1)
            )
        } else if (largest as f64) < bucket.low {
            "lower the bucket, or raise the other dimensions".to_string()
        } else {
            let below = count(hi_i.max(1));
            let above = count(lo_i.min(max_i));
            format!(
                "one step of {knob} jumps over the bucket ({} at {knob} = {}, {} at {knob} = {}); widen the bucket",
                thousands(below),
                value(hi_i.max(1)),
                thousands(above),
                value(lo_i.min(max_i))
            )
        };
        return Err(format!(
            "arch {} cannot land in bucket {} [{}, {}): {reach}; {hint}",
            config.arch,
            bucket.name,
            thousands(bucket.low as u64),
            thousands(bucket.high as u64)
        ));
    }
    let middle = (bucket.low * bucket.high).sqrt();
    let cross = first_at_least(middle).clamp(lo_i, hi_i);
    let best = [cross - 1, cross]
        .into_iter()
        .filter(|i| (lo_i..=hi_i).contains(i))
        .min_by(|&a, &b| {
            let d = |i: i64| ((count(i) as f64).ln() - middle.ln()).abs();
            d(a).total_cmp(&d(b))
        })
        .unwrap_or(cross);
    let (resolved, _) = count_at(config, knob, value(best), data)
        .ok_or_else(|| format!("arch {} does not resolve with {knob} = {}", config.arch, value(best)))?;
    Ok(Sized { resolved, value: value(best) })
}

/// 1234567 -> "1,234,567"
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use intervene_proto::job::{Overlong, SourceSpec, SplitMode};

    fn data() -> DataBase {
        DataBase {
            source: SourceSpec::PythonStdlib,
            train: 10,
            valid: 1,
            test: 1,
            split: SplitMode::Random,
            split_seed: 0,
            overlong: Overlong::Truncate,
        }
    }

    fn config(arch: Arch, extra: &[(&'static str, Value)]) -> ArmConfig {
        let mut knobs: Knobs = [
            ("batch_size", Value::Int(8)),
            ("epochs", Value::Int(1)),
            ("learning_rate", Value::Float(1e-3)),
            ("tokenizer", Value::Str("code-whitespace".into())),
            ("vocab_size", Value::Int(1000)),
            ("max_source_len", Value::Int(20)),
            ("max_target_len", Value::Int(30)),
        ]
        .into_iter()
        .collect();
        knobs.extend(extra.iter().cloned());
        ArmConfig { arch, knobs }
    }

    #[test]
    fn lands_inside_near_the_geometric_middle() {
        let c = config(Arch::Lstm, &[("embedding_dim", Value::Int(64)), ("layers", Value::Int(2))]);
        let b = Bucket { name: "mid".into(), low: 1e6, high: 4e6 };
        let s = solve(&c, "hidden_dim", &b, &data()).unwrap();
        let (_, params) = count_at(&c, "hidden_dim", s.value, &data()).unwrap();
        assert!((1e6..4e6).contains(&(params as f64)));
        // The neighbours are no nearer to 2e6 in log distance.
        for v in [s.value - 1, s.value + 1] {
            let (_, n) = count_at(&c, "hidden_dim", v, &data()).unwrap();
            assert!(((n as f64).ln() - 2e6f64.ln()).abs() >= ((params as f64).ln() - 2e6f64.ln()).abs());
        }
    }

    #[test]
    fn transformer_d_model_moves_in_multiples_of_heads() {
        let c = config(
            Arch::Transformer,
            &[
                ("heads", Value::Int(8)),
                ("ff_dim", Value::Int(512)),
                ("encoder_layers", Value::Int(2)),
                ("decoder_layers", Value::Int(2)),
            ],
        );
        let s = solve(&c, "d_model", &Bucket { name: "b".into(), low: 1e6, high: 4e6 }, &data()).unwrap();
        assert_eq!(s.value % 8, 0);
    }

    #[test]
    fn unreachable_bucket_names_the_reachable_range() {
        let c = config(Arch::Rnn, &[("embedding_dim", Value::Int(256))]);
        // Embeddings alone are 2 * 1000 * 256 = 512,000 parameters.
        let err = solve(&c, "hidden_dim", &Bucket { name: "tiny".into(), low: 1e3, high: 1e5 }, &data()).unwrap_err();
        assert!(err.contains("cannot land in bucket tiny [1,000, 100,000)"), "{err}");
        assert!(err.contains("it has 514,518 to"), "{err}");
        assert!(err.contains("too big"), "{err}");
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
