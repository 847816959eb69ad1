//! [[intra]]: a knob (or a grid of knobs) varied inside the control's
//! architecture; every grid point must resolve.

use super::sections::{apply, cartesian, describe};
use super::*;

/// More arms than this in one intervention is almost certainly a mistake.
const MAX_GRID: usize = 10_000;

impl Validator<'_> {
    pub(super) fn intra(
        &mut self,
        i: usize,
        raw: &RawIntra,
        control: &ArmConfig,
        data: &DataBase,
        control_ok: bool,
    ) -> Option<Intervention> {
        let key = format!("intra[{i}]");
        if raw.vary.is_empty() {
            self.issue(
                format!("{key}.vary"),
                "vary is empty; accepted: knob = [values], e.g. vary = { hidden_dim = [128, 512] }",
            );
            return None;
        }
        let before = self.issues.len();
        let mut axes: Vec<(&'static str, Vec<Value>)> = Vec::new();
        for (name, values) in &raw.vary {
            let vkey = format!("{key}.vary.{name}");
            if name == "arch" {
                self.issues.push(Issue::at_key(
                    vkey,
                    "arch cannot be varied inside one architecture; to compare architectures use an [[inter]] section, e.g. [[inter]] name = \"architecture\" archs = [\"lstm\", \"gru\"]",
                ));
                continue;
            }
            let Some(k) = knob(name) else {
                self.issues.push(Issue::at_key(vkey, unknown("knob", name, &knobs::all_names())));
                continue;
            };
            if values.is_empty() {
                self.issue(vkey, format!("no values for `{name}`; accepted: a non-empty list"));
                continue;
            }
            let mut parsed = Vec::new();
            for (j, v) in values.iter().enumerate() {
                let vkey = format!("{vkey}[{j}]");
                match Value::from_toml(v, k.ty).and_then(|val| k.check(&val).map(|()| val)) {
                    Ok(val) if parsed.contains(&val) => self.issue(vkey, format!("{name} = {val} is listed twice")),
                    Ok(val) => parsed.push(val),
                    Err(msg) => self.issue(vkey, msg),
                }
            }
            axes.push((k.name, parsed));
        }
        if self.issues.len() > before {
            return None;
        }
        let points: usize = axes.iter().map(|(_, v)| v.len()).product();
        if points > MAX_GRID {
            self.issue(format!("{key}.vary"), format!("the grid has {points} points; accepted: at most {MAX_GRID}"));
            return None;
        }
        let grid = cartesian(&axes);
        for point in grid.iter().filter(|_| control_ok) {
            let knobs = apply(&control.knobs, point);
            if let Err(issues) = resolve(control.arch, &knobs, data) {
                let varied: Vec<&str> = point.iter().map(|(k, _)| *k).collect();
                let at = |k: Option<&str>| match k {
                    Some(k) if varied.contains(&k) => Some(format!("{key}.vary.{k}")),
                    _ => Some(format!("{key}.vary")),
                };
                // With several varied knobs, say which combination failed.
                let desc = (point.len() > 1).then(|| describe(point));
                let issues = issues.into_iter().map(|mut i| {
                    if let Some(desc) = &desc {
                        i.message = format!("with {desc}: {}", i.message);
                    }
                    i
                });
                self.knob_issues(issues.collect(), at, |s| format!("[{}]", s.name()));
                return None;
            }
        }
        Some(Intervention::Intra { name: raw.name.clone(), description: raw.description.clone(), index: i, grid })
    }
}
