//! [[inter]]: architectures compared at the same hyperparameters or inside
//! complexity buckets, each with its overrides.

use super::sections::overrides_has;
use super::*;

/// What one arch's configuration is built from.
struct ArmDraft<'a> {
    key: &'a str,
    arch: Arch,
    raw: &'a RawInter,
    control: &'a ArmConfig,
    data: &'a DataBase,
    sizing: Option<&'a crate::spec::Sizing>,
}

impl Validator<'_> {
    pub(super) fn inter(
        &mut self,
        i: usize,
        raw: &RawInter,
        control: &ArmConfig,
        data: &DataBase,
        control_ok: bool,
    ) -> Option<Intervention> {
        let key = format!("inter[{i}]");
        let before = self.issues.len();
        let (archs, reference) = self.inter_archs(&key, raw);
        let before_sizing = self.issues.len();
        let sizing = self.sizing(&key, raw, &archs);
        for name in raw.overrides.keys() {
            if !raw.archs.contains(name) {
                let listed: Vec<&str> = raw.archs.iter().map(String::as_str).collect();
                self.issues.push(Issue::at_key(
                    format!("{key}.overrides.{name}"),
                    unknown("arch in overrides", name, &listed),
                ));
            }
        }
        let mut configs = Vec::new();
        for &arch in &archs {
            // Resolving with a broken control or a size knob that was
            // refused would only repeat those mistakes.
            let resolve_it = control_ok && self.issues.len() == before_sizing;
            let arm = ArmDraft { key: &key, arch, raw, control, data, sizing: sizing.as_ref() };
            if let Some(config) = self.arm_config(arm, resolve_it) {
                configs.push(config);
            }
        }
        if self.issues.len() > before {
            return None;
        }
        Some(Intervention::Inter {
            name: raw.name.clone(),
            description: raw.description.clone(),
            index: i,
            archs,
            reference: reference?,
            sizing,
            configs,
        })
    }

    /// The listed archs (each once) and the reference among them.
    fn inter_archs(&mut self, key: &str, raw: &RawInter) -> (Vec<Arch>, Option<Arch>) {
        let mut archs = Vec::new();
        for (j, name) in raw.archs.iter().enumerate() {
            match Arch::from_name(name) {
                None => self.issue(format!("{key}.archs[{j}]"), unknown("arch", name, ARCH_NAMES)),
                Some(a) if archs.contains(&a) => {
                    self.issue(format!("{key}.archs[{j}]"), format!("arch {a} is listed twice"))
                }
                Some(a) => archs.push(a),
            }
        }
        if raw.archs.len() < 2 {
            self.issue(format!("{key}.archs"), "an inter-model intervention compares at least 2 architectures");
        }
        let reference = match &raw.reference {
            None => archs.first().copied(),
            Some(name) => match Arch::from_name(name) {
                Some(a) if archs.contains(&a) => Some(a),
                _ => {
                    let listed: Vec<&str> = raw.archs.iter().map(String::as_str).collect();
                    self.issue(format!("{key}.reference"), unknown("reference arch", name, &listed));
                    None
                }
            },
        };
        (archs, reference)
    }

    /// `size_by` and `buckets`, which come together or not at all.
    fn sizing(&mut self, key: &str, raw: &RawInter, archs: &[Arch]) -> Option<crate::spec::Sizing> {
        match (&raw.size_by, &raw.buckets) {
            (Some(size_by), Some(buckets)) => {
                let size_by = self.size_by(key, size_by, archs, &raw.archs);
                let buckets = self.buckets(key, buckets);
                Some(crate::spec::Sizing { size_by, buckets })
            }
            (None, None) => None,
            (Some(_), None) => {
                self.issues.push(Issue::at_key(
                    format!("{key}.size_by"),
                    "size_by needs `buckets` to size into; add buckets = { name = [low, high] }, or remove size_by to compare the archs at the same hyperparameters",
                ));
                None
            }
            (None, Some(_)) => {
                self.issue(
                    key,
                    "buckets need `size_by`, the knob solved so each arch lands in each bucket, e.g. size_by = \"hidden_dim\"",
                );
                None
            }
        }
    }

    /// One arch's configuration: the control's knobs that the arch has, then
    /// its overrides; resolved (when `resolve_it`) to check the whole arm.
    fn arm_config(&mut self, arm: ArmDraft<'_>, resolve_it: bool) -> Option<ArmConfig> {
        let ArmDraft { key, arch, raw, control, data, sizing } = arm;
        let okey = format!("{key}.overrides.{}", arch.name());
        let overrides = raw.overrides.get(arch.name()).cloned().unwrap_or_default();
        if overrides.arch.is_some() {
            self.issues.push(Issue::at_key(
                format!("{okey}.arch"),
                "the arch of an override is its table name; remove `arch`",
            ));
            return None;
        }
        let over = model_knobs(&overrides);
        let before_vals = self.issues.len();
        self.check_values(&over, |n| format!("{okey}.{n}"));
        if self.issues.len() > before_vals {
            return None;
        }
        // Model and train knobs the arch lacks (a transformer has no
        // hidden_dim and always trains with full teacher forcing) are left
        // out; data and decoding are shared by every arch.
        let mut knobs: Knobs = control
            .knobs
            .iter()
            .filter(|(n, _)| {
                knob(n).is_some_and(|k| matches!(k.section, Section::Data | Section::Decode) || k.applies(arch, ""))
            })
            .map(|(n, v)| (*n, v.clone()))
            .collect();
        knobs.extend(over);
        // The sized knob gets a provisional value so that resolution checks
        // everything else now; planning solves it.
        if let Some((_, k)) = sizing.and_then(|s| s.size_by.iter().find(|(a, _)| *a == arch)) {
            knobs.entry(k).or_insert(Value::Int(64));
            if arch == Arch::Transformer && *k == "d_model" {
                let heads = knobs.get("heads").and_then(Value::as_i64).unwrap_or(1).max(1);
                knobs.insert("d_model", Value::Int(heads * 8));
            }
        }
        if !resolve_it {
            return None;
        }
        if let Err(issues) = resolve(arch, &knobs, data) {
            self.knob_issues(
                issues,
                |k| {
                    Some(match k {
                        Some(k) if overrides_has(&overrides, k) => format!("{okey}.{k}"),
                        _ => key.to_string(),
                    })
                },
                |_| format!("[{okey}] (or [model] if the control's arch has it)"),
            );
            return None;
        }
        Some(ArmConfig { arch, knobs })
    }

    /// Which knob is solved for each arch.
    fn size_by(&mut self, key: &str, raw: &RawSizeBy, archs: &[Arch], listed: &[String]) -> Vec<(Arch, &'static str)> {
        let mut size_by = Vec::new();
        for &arch in archs {
            let (knob_name, kkey) = match raw {
                RawSizeBy::All(k) => (Some(k.as_str()), format!("{key}.size_by")),
                RawSizeBy::PerArch(m) => {
                    (m.get(arch.name()).map(String::as_str), format!("{key}.size_by.{}", arch.name()))
                }
            };
            let Some(knob_name) = knob_name else {
                self.issue(format!("{key}.size_by"), format!("size_by has no knob for arch {arch}"));
                continue;
            };
            let sizable: Vec<&str> = knobs::KNOBS
                .iter()
                .filter(|k| k.section == Section::Model && k.ty == Ty::Int && k.applies(arch, ""))
                .map(|k| k.name)
                .collect();
            match sizable.iter().find(|k| **k == knob_name) {
                Some(k) => size_by.push((arch, *k)),
                None => self.issue(
                    kkey,
                    format!(
                        "size_by = {knob_name:?} is not a size knob of arch {arch}; accepted for {arch}: {} (use a table to size each arch by its own knob, e.g. size_by = {{ rnn = \"hidden_dim\", transformer = \"d_model\" }})",
                        sizable.join(", ")
                    ),
                ),
            }
        }
        if let RawSizeBy::PerArch(m) = raw {
            for name in m.keys() {
                if !listed.contains(name) {
                    let listed: Vec<&str> = listed.iter().map(String::as_str).collect();
                    self.issues.push(Issue::at_key(
                        format!("{key}.size_by.{name}"),
                        unknown("arch in size_by", name, &listed),
                    ));
                }
            }
        }
        size_by
    }

    fn buckets(&mut self, key: &str, raw: &BTreeMap<String, Vec<f64>>) -> Vec<Bucket> {
        if raw.is_empty() {
            self.issue(
                format!("{key}.buckets"),
                "no buckets; accepted: name = [low, high] in trainable parameters, e.g. buckets = { low = [5e5, 2e6] }",
            );
        }
        let mut buckets = Vec::new();
        for (name, range) in raw {
            let bkey = format!("{key}.buckets.{name}");
            self.check_name(name, &bkey);
            let &[low, high] = range.as_slice() else {
                self.issue(bkey, format!("a bucket is [low, high]; found {} numbers", range.len()));
                continue;
            };
            if !(low.is_finite() && high.is_finite()) || low < 1.0 {
                self.issue(bkey, format!("bucket [{low}, {high}] is out of range; accepted: 1 <= low < high, finite"));
            } else if low >= high {
                self.issue(bkey, format!("bucket [{low}, {high}] is empty; accepted: low < high"));
            } else {
                buckets.push(Bucket { name: name.clone(), low, high });
            }
        }
        buckets.sort_by(|a, b| a.low.total_cmp(&b.low));
        for w in buckets.windows(2) {
            if w[1].low < w[0].high {
                self.issue(
                    format!("{key}.buckets.{}", w[1].name),
                    format!(
                        "bucket {} [{}, {}] overlaps bucket {} [{}, {}]; buckets are [low, high) and must not overlap",
                        w[1].name, w[1].low, w[1].high, w[0].name, w[0].low, w[0].high
                    ),
                );
            }
        }
        buckets
    }
}
