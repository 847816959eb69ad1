//! The knobs each section of a study file sets, and grid points applied to
//! a set of knobs.

use super::*;

pub(super) fn overrides_has(m: &RawModel, knob: &str) -> bool {
    model_knobs(m).contains_key(knob)
}

pub(super) fn section_of(knob_name: &str) -> &'static str {
    knob(knob_name).map_or("model", |k| k.section.name())
}

/// The knobs set in a `[model]`-shaped table (without `arch`).
pub(crate) fn model_knobs(m: &RawModel) -> Knobs {
    let mut k = Knobs::new();
    let ints = [
        ("embedding_dim", m.embedding_dim),
        ("hidden_dim", m.hidden_dim),
        ("layers", m.layers),
        ("attention_dim", m.attention_dim),
        ("d_model", m.d_model),
        ("heads", m.heads),
        ("ff_dim", m.ff_dim),
        ("encoder_layers", m.encoder_layers),
        ("decoder_layers", m.decoder_layers),
    ];
    for (name, v) in ints {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    if let Some(d) = m.dropout {
        k.insert("dropout", Value::Float(d));
    }
    if let Some(b) = m.bidirectional {
        k.insert("bidirectional", Value::Bool(b));
    }
    if let Some(b) = m.feed_context {
        k.insert("feed_context", Value::Bool(b));
    }
    k
}

pub(super) fn train_knobs(t: &RawTrain) -> Knobs {
    let mut k = Knobs::new();
    for (name, v) in [
        ("batch_size", t.batch_size),
        ("epochs", t.epochs),
        ("warmup_steps", t.warmup_steps),
        ("early_stopping_patience", t.early_stopping_patience),
    ] {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    for (name, v) in [
        ("learning_rate", t.learning_rate),
        ("weight_decay", t.weight_decay),
        ("gradient_clip", t.gradient_clip),
        ("teacher_forcing", t.teacher_forcing),
        ("teacher_forcing_min", t.teacher_forcing_min),
        ("sampling_k", t.sampling_k),
    ] {
        if let Some(v) = v {
            k.insert(name, Value::Float(v));
        }
    }
    if let Some(s) = &t.scheduled_sampling {
        k.insert("scheduled_sampling", Value::Str(s.clone()));
    }
    if let Some(s) = &t.batching {
        k.insert("batching", Value::Str(s.clone()));
    }
    k
}

pub(super) fn decode_knobs(d: &RawDecode) -> Knobs {
    let mut k = Knobs::new();
    if let Some(s) = &d.strategy {
        k.insert("strategy", Value::Str(s.clone()));
    }
    for (name, v) in [("beam_size", d.beam_size), ("max_len", d.max_len)] {
        if let Some(v) = v {
            k.insert(name, Value::Int(v));
        }
    }
    for (name, v) in [("length_penalty", d.length_penalty), ("top_p", d.top_p), ("temperature", d.temperature)] {
        if let Some(v) = v {
            k.insert(name, Value::Float(v));
        }
    }
    k
}

/// Every combination of the axes' values, first axis slowest.
pub(super) fn cartesian(axes: &[(&'static str, Vec<Value>)]) -> Vec<Vec<(&'static str, Value)>> {
    axes.iter().fold(vec![Vec::new()], |acc, (name, values)| {
        acc.iter()
            .flat_map(|prefix| {
                values.iter().map(move |v| {
                    let mut p = prefix.clone();
                    p.push((*name, v.clone()));
                    p
                })
            })
            .collect()
    })
}

/// The control's knobs with a grid point applied. Setting `vocab_size`
/// replaces per-side sizes, and changing `strategy` drops the control's knobs
/// of the old strategy (a beam size means nothing to top-p sampling), so the
/// varied values are the ones that count.
pub fn apply(base: &Knobs, point: &[(&'static str, Value)]) -> Knobs {
    let mut knobs = base.clone();
    for (name, value) in point {
        match *name {
            "vocab_size" => {
                knobs.remove("source_vocab_size");
                knobs.remove("target_vocab_size");
            }
            "strategy" => {
                let strategy = value.as_str().unwrap_or_default();
                knobs.retain(|k, _| {
                    point.iter().any(|(p, _)| p == k)
                        || knob(k)
                            .is_none_or(|d| !matches!(d.scope, knobs::Scope::Strategies(s) if !s.contains(&strategy)))
                });
            }
            _ => {}
        }
        knobs.insert(name, value.clone());
    }
    knobs
}

/// "hidden_dim=128, layers=1"
pub fn describe(point: &[(&'static str, Value)]) -> String {
    point.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cartesian_orders_first_axis_slowest() {
        let g = cartesian(&[("a", vec![Value::Int(1), Value::Int(2)]), ("b", vec![Value::Int(3), Value::Int(4)])]);
        let d: Vec<String> = g.iter().map(|p| describe(p)).collect();
        assert_eq!(d, ["a=1, b=3", "a=1, b=4", "a=2, b=3", "a=2, b=4"]);
    }

    #[test]
    fn a_new_strategy_drops_the_old_strategy_knobs() {
        let base: Knobs =
            [("strategy", Value::Str("beam".into())), ("beam_size", Value::Int(3)), ("max_len", Value::Int(9))]
                .into_iter()
                .collect();
        let k = apply(&base, &[("strategy", Value::Str("top-p".into())), ("top_p", Value::Float(0.9))]);
        assert_eq!(k.keys().copied().collect::<Vec<_>>(), ["max_len", "strategy", "top_p"]);
    }

    #[test]
    fn vocab_size_replaces_per_side_sizes() {
        let base: Knobs =
            [("source_vocab_size", Value::Int(100)), ("target_vocab_size", Value::Int(200))].into_iter().collect();
        let k = apply(&base, &[("vocab_size", Value::Int(50))]);
        assert_eq!(k.len(), 1);
    }
}
