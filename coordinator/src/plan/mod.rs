//! Planning: a validated [`Study`] -> arms -> jobs (arm x seed).
//!
//! Every job is fully resolved and identified by the hash of its resolved
//! specification, so a cell reached by two arms (an intra value equal to the
//! control's) or by resubmitting the study is one job. The plan's hash covers
//! its arms and job ids, so any change that changes what would run changes it.

mod buckets;
pub mod cautions;
pub mod diff;
pub mod steps;

use std::collections::HashMap;

use intervene_proto::job::{Arch, JobSpec, MutationSpec};
use intervene_proto::params::trainable_params;
use intervene_proto::tables::{CONTROL_ARM, KIND_CONTROL, KIND_INTER, KIND_INTRA, KIND_MUTATION};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use buckets::thousands;

use crate::spec::knobs::Value;
use crate::spec::resolve::{Resolved, resolve};
use crate::spec::{ArmConfig, Intervention, Issue, Sizing, SpecErrors, SpecWarnings, Study};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub study: String,
    pub seeds: Vec<u64>,
    pub outcomes: Vec<String>,
    pub max_attempts: u32,
    /// Hash of the arms and their job ids: equal plans run the same jobs.
    pub spec_hash: String,
    pub arms: Vec<Arm>,
    /// Unique jobs, in the order arms first reach them.
    pub jobs: Vec<PlannedJob>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Arm {
    pub name: String,
    /// None for the control arm.
    pub intervention: Option<String>,
    /// One of the `tables::KIND_*` names.
    pub kind: String,
    /// The arm this arm's effect is measured against.
    pub compare_to: Option<String>,
    pub bucket: Option<String>,
    pub arch: Arch,
    pub params: u64,
    /// What differs from the control: the varied knobs, the mutation, or an
    /// inter arm's arch with the knobs its overrides change (with its
    /// size knob inside a bucket). Empty for the control.
    pub changed: Vec<(String, String)>,
    /// (seed, job id), one per study seed.
    pub jobs: Vec<(u64, String)>,
}

impl Arm {
    pub fn changed_text(&self) -> String {
        self.changed.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedJob {
    pub id: String,
    pub spec: JobSpec,
    /// Every arm that runs this job.
    pub arms: Vec<String>,
}

impl Plan {
    pub fn job(&self, id: &str) -> Option<&PlannedJob> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn arm(&self, name: &str) -> Option<&Arm> {
        self.arms.iter().find(|a| a.name == name)
    }
}

/// Expand a study into arms and jobs. Errors (an architecture that cannot
/// land in a bucket) are located in the study file.
pub fn plan(study: &Study) -> Result<Plan, SpecErrors> {
    let mut b = Builder { study, arms: Vec::new(), jobs: Vec::new(), index: HashMap::new(), issues: Vec::new() };
    let control = resolve(study.control.arch, &study.control.knobs, &study.data)
        .map_err(|_| study.source.locate(vec![Issue::new("model", "the control configuration does not resolve")]))?;
    b.control(&control);
    for iv in &study.interventions {
        match iv {
            Intervention::Intra { name, grid, .. } => b.intra(iv, name, grid),
            Intervention::Inter { name, reference, sizing: None, configs, .. } => {
                b.inter_unsized(iv, name, *reference, configs)
            }
            Intervention::Inter { name, archs, reference, sizing: Some(sizing), configs, .. } => {
                b.inter_bucketed(iv, name, archs, *reference, sizing, configs)
            }
            Intervention::Mutation { name, levels, .. } => b.mutation(name, levels, &control),
        }
    }
    if !b.issues.is_empty() {
        return Err(study.source.locate(b.issues));
    }
    let spec_hash = hash_arms(study, &b.arms);
    let plan = Plan {
        study: study.name.clone(),
        seeds: study.seeds.clone(),
        outcomes: study.outcomes.clone(),
        max_attempts: study.max_attempts,
        spec_hash,
        arms: b.arms,
        jobs: b.jobs,
    };
    let issues = steps::warmup_errors(study, &plan);
    if !issues.is_empty() {
        return Err(study.source.locate(issues));
    }
    Ok(plan)
}

/// What a valid plan probably gets wrong (a schedule longer than the run, a
/// model too large for any machine, a mutated test split),
/// located in the study file; empty when nothing is.
pub fn warnings(study: &Study, plan: &Plan) -> SpecWarnings {
    let mut issues = steps::sampling_warnings(study, plan);
    issues.extend(cautions::size_warnings(study, plan));
    issues.extend(cautions::test_split_warnings(study));
    SpecWarnings(study.source.locate(issues).0)
}

struct ArmDraft {
    name: String,
    intervention: Option<String>,
    kind: &'static str,
    compare_to: Option<String>,
    bucket: Option<String>,
    changed: Vec<(String, String)>,
    resolved: Resolved,
    mutation: Option<MutationSpec>,
}

struct Builder<'s> {
    study: &'s Study,
    arms: Vec<Arm>,
    jobs: Vec<PlannedJob>,
    /// job id -> index in `jobs`
    index: HashMap<String, usize>,
    issues: Vec<Issue>,
}

impl Builder<'_> {
    /// The control arm: nothing changed (the ARCH and PARAMS columns show
    /// what it is).
    fn control(&mut self, control: &Resolved) {
        self.add(ArmDraft {
            name: CONTROL_ARM.into(),
            intervention: None,
            kind: KIND_CONTROL,
            compare_to: None,
            bucket: None,
            changed: Vec::new(),
            resolved: control.clone(),
            mutation: None,
        });
    }

    /// One arm per grid point of an [[intra]], against the control.
    fn intra(&mut self, iv: &Intervention, name: &str, grid: &[Vec<(&'static str, Value)>]) {
        let study = self.study;
        for point in grid {
            let knobs = crate::spec::apply_point(&study.control.knobs, point);
            let Ok(resolved) = resolve(study.control.arch, &knobs, &study.data) else {
                self.issues.push(Issue::new(iv.key(), "a grid point does not resolve"));
                continue;
            };
            let label: Vec<String> = point.iter().map(|(k, v)| format!("{k}={v}")).collect();
            self.add(ArmDraft {
                name: format!("{name}/{}", label.join(",")),
                intervention: Some(name.to_string()),
                kind: KIND_INTRA,
                compare_to: Some(CONTROL_ARM.into()),
                bucket: None,
                changed: point.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                resolved,
                mutation: None,
            });
        }
    }

    /// An [[inter]] without buckets: every arch at the same hyperparameters,
    /// each against the reference arch.
    fn inter_unsized(&mut self, iv: &Intervention, name: &str, reference: Arch, configs: &[ArmConfig]) {
        for config in configs {
            let Ok(resolved) = resolve(config.arch, &config.knobs, &self.study.data) else {
                self.issues.push(Issue::new(iv.key(), format!("arch {} does not resolve", config.arch)));
                continue;
            };
            let reference_arm = format!("{name}/{reference}");
            let arm_name = format!("{name}/{}", config.arch);
            // The arch and the knobs its overrides set to other values than
            // the control's (e.g. `bidirectional=false`), not the ones it shares.
            let mut changed = vec![("arch".to_string(), config.arch.to_string())];
            let control = &self.study.control.knobs;
            changed.extend(
                config
                    .knobs
                    .iter()
                    .filter(|(k, v)| control.get(*k) != Some(v))
                    .map(|(k, v)| (k.to_string(), v.to_string())),
            );
            self.add(ArmDraft {
                compare_to: (arm_name != reference_arm).then_some(reference_arm),
                name: arm_name,
                intervention: Some(name.to_string()),
                kind: KIND_INTER,
                bucket: None,
                changed,
                resolved,
                mutation: None,
            });
        }
    }

    /// An [[inter]] with buckets: each arch sized into each bucket, against
    /// the reference arch of the same bucket.
    fn inter_bucketed(
        &mut self,
        iv: &Intervention,
        name: &str,
        archs: &[Arch],
        reference: Arch,
        sizing: &Sizing,
        configs: &[ArmConfig],
    ) {
        for bucket in &sizing.buckets {
            for arch in archs {
                let (Some(config), Some((_, knob))) =
                    (configs.iter().find(|c| c.arch == *arch), sizing.size_by.iter().find(|(a, _)| a == arch))
                else {
                    continue;
                };
                let sized = match buckets::solve(config, knob, bucket, &self.study.data) {
                    Ok(sized) => sized,
                    Err(msg) => {
                        self.issues.push(Issue::new(format!("{}.buckets.{}", iv.key(), bucket.name), msg));
                        continue;
                    }
                };
                let reference_arm = format!("{name}/{}/{}", bucket.name, reference);
                let arm_name = format!("{name}/{}/{}", bucket.name, arch);
                self.add(ArmDraft {
                    compare_to: (arm_name != reference_arm).then_some(reference_arm),
                    name: arm_name,
                    intervention: Some(name.to_string()),
                    kind: KIND_INTER,
                    bucket: Some(bucket.name.clone()),
                    changed: vec![("arch".into(), arch.to_string()), (knob.to_string(), sized.value.to_string())],
                    resolved: sized.resolved,
                    mutation: None,
                });
            }
        }
    }

    /// One arm per level of a [[mutation]]: the control's model on mutated
    /// data, against the control.
    fn mutation(&mut self, name: &str, levels: &[MutationSpec], control: &Resolved) {
        for m in levels {
            let mut changed = vec![("op".to_string(), m.op.name().to_string())];
            let arm_name = match m.op.level() {
                Some((param, value)) => {
                    changed.push((param.to_string(), value.to_string()));
                    format!("{name}/{param}={value}")
                }
                None => name.to_string(),
            };
            changed.push(("side".into(), format!("{:?}", m.side).to_lowercase()));
            let splits: Vec<String> = m.splits.iter().map(|s| format!("{s:?}").to_lowercase()).collect();
            changed.push(("splits".into(), splits.join("+")));
            self.add(ArmDraft {
                name: arm_name,
                intervention: Some(name.to_string()),
                kind: KIND_MUTATION,
                compare_to: Some(CONTROL_ARM.into()),
                bucket: None,
                changed,
                resolved: control.clone(),
                mutation: Some(m.clone()),
            });
        }
    }

    fn add(&mut self, d: ArmDraft) {
        let r = &d.resolved;
        let params = trainable_params(&r.model, r.data.source_vocab_size, r.data.target_vocab_size);
        let mut jobs = Vec::with_capacity(self.study.seeds.len());
        for &seed in &self.study.seeds {
            let spec = JobSpec {
                data: r.data.clone(),
                mutation: d.mutation.clone(),
                model: r.model.clone(),
                train: r.train.clone(),
                decode: r.decode.clone(),
                seed,
            };
            let id = spec.id();
            match self.index.get(&id) {
                Some(&i) => self.jobs[i].arms.push(d.name.clone()),
                None => {
                    self.index.insert(id.clone(), self.jobs.len());
                    self.jobs.push(PlannedJob { id: id.clone(), spec, arms: vec![d.name.clone()] });
                }
            }
            jobs.push((seed, id));
        }
        self.arms.push(Arm {
            name: d.name,
            intervention: d.intervention,
            kind: d.kind.to_string(),
            compare_to: d.compare_to,
            bucket: d.bucket,
            arch: r.model.arch(),
            params,
            changed: d.changed,
            jobs,
        });
    }
}

fn hash_arms(study: &Study, arms: &[Arm]) -> String {
    #[derive(Serialize)]
    struct Canonical<'a> {
        name: &'a str,
        outcomes: &'a [String],
        max_attempts: u32,
        arms: Vec<(&'a str, &'a str, &'a Option<String>, &'a Option<String>, &'a [(u64, String)])>,
    }
    let c = Canonical {
        name: &study.name,
        outcomes: &study.outcomes,
        max_attempts: study.max_attempts,
        arms: arms
            .iter()
            .map(|a| (a.name.as_str(), a.kind.as_str(), &a.compare_to, &a.bucket, a.jobs.as_slice()))
            .collect(),
    };
    let json = serde_json::to_string(&c).expect("plain data serialises");
    let mut h = Sha256::new();
    h.update(b"intervene-plan-v1\n");
    h.update(json.as_bytes());
    hex::encode(h.finalize())
}
