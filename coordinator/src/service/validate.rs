//! Request validation: every field a client sends is checked before it
//! reaches the scheduler, and a bad one is refused with InvalidArgument
//! naming the field, the value and what is accepted.

use intervene_proto::device::Device;
use intervene_proto::pb;
use tonic::Status;

use crate::datasets::is_hash;

/// The longest free-text field accepted (names, reasons, versions).
pub const MAX_TEXT: usize = 4096;
/// The largest study file accepted.
pub const MAX_SPEC_BYTES: usize = 1 << 20;
/// The longest a Lease call may ask to wait.
pub const MAX_WAIT_MS: u32 = 60_000;

pub fn invalid(field: &str, message: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {message}"))
}

/// Shows a client-supplied value in an error, shortened.
pub fn shown(value: &str) -> String {
    let mut v: String = value.chars().take(80).collect();
    if value.chars().count() > 80 {
        v.push_str("...");
    }
    format!("`{}`", v.escape_debug())
}

pub fn text(field: &str, value: &str, required: bool) -> Result<(), Status> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if value.len() > MAX_TEXT {
        return Err(invalid(field, format!("is {} bytes long; at most {MAX_TEXT} are accepted", value.len())));
    }
    Ok(())
}

pub fn worker_id(value: &str) -> Result<(), Status> {
    let ok = value.len() == 18
        && value.starts_with("w-")
        && value[2..].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "worker_id",
            format!("{} is not a worker id (expected `w-` and 16 hex digits, as Register returns)", shown(value)),
        ))
    }
}

/// A study name as study files allow it.
pub fn study_name(field: &str, value: &str) -> Result<(), Status> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("{} is not a study name (letters, digits, `-`, `_`, `.`; at most 128)", shown(value)),
        ))
    }
}

/// `NAME` or `NAME@VERSION`.
pub fn study_ref(value: &str) -> Result<(), Status> {
    match value.rsplit_once('@') {
        Some((name, version)) => {
            study_name("study", name)?;
            match version.parse::<u32>() {
                Ok(v) if v >= 1 => Ok(()),
                _ => Err(invalid("study", format!("{}: the version after `@` must be a number >= 1", shown(value)))),
            }
        }
        None => study_name("study", value),
    }
}

pub fn version(value: u32) -> Result<(), Status> {
    if value == 0 { Err(invalid("study_version", "0 is not a version (versions start at 1)")) } else { Ok(()) }
}

pub fn job_id(value: &str) -> Result<(), Status> {
    if is_hash(value) {
        Ok(())
    } else {
        Err(invalid("job_id", format!("{} is not a job id (64 lowercase hex digits)", shown(value))))
    }
}

pub fn attempt(value: u32) -> Result<(), Status> {
    if value == 0 { Err(invalid("attempt", "0 is not an attempt (attempts start at 1)")) } else { Ok(()) }
}

/// The fields that name one attempt of one job, which Heartbeat, Complete
/// and Fail all carry.
pub fn job_attempt(worker: &str, study: &str, study_version: u32, job: &str, attempt_no: u32) -> Result<(), Status> {
    worker_id(worker)?;
    study_name("study", study)?;
    version(study_version)?;
    job_id(job)?;
    attempt(attempt_no)
}

pub fn wait_ms(value: u32) -> Result<(), Status> {
    if value > MAX_WAIT_MS {
        Err(invalid("wait_ms", format!("{value} is above the maximum of {MAX_WAIT_MS}")))
    } else {
        Ok(())
    }
}

/// A device name in the one grammar of `intervene_proto::device`.
pub fn device(value: &str) -> Result<(), Status> {
    value.parse::<Device>().map(|_| ()).map_err(|e| invalid("capabilities.device", e.to_string()))
}

pub fn capabilities(c: Option<&pb::Capabilities>) -> Result<(), Status> {
    let c = c.ok_or_else(|| invalid("capabilities", "missing"))?;
    device(&c.device)?;
    for (field, value) in [
        ("capabilities.hostname", &c.hostname),
        ("capabilities.gpu_name", &c.gpu_name),
        ("capabilities.torch_version", &c.torch_version),
        ("capabilities.cuda_version", &c.cuda_version),
        ("capabilities.intervene_version", &c.intervene_version),
        ("capabilities.determinism", &c.determinism),
    ] {
        text(field, value, false)?;
    }
    Ok(())
}

pub fn progress(p: Option<&pb::Progress>) -> Result<(), Status> {
    let Some(p) = p else { return Ok(()) };
    if pb::Phase::try_from(p.phase).is_err() {
        return Err(invalid("progress.phase", format!("{} is not a phase (0 to 3)", p.phase)));
    }
    if p.epochs > 0 && p.epoch > p.epochs {
        return Err(invalid("progress.epoch", format!("{} is beyond progress.epochs = {}", p.epoch, p.epochs)));
    }
    Ok(())
}

pub fn failure_kind(value: i32) -> Result<pb::FailureKind, Status> {
    match pb::FailureKind::try_from(value) {
        Ok(pb::FailureKind::Unspecified) | Err(_) => Err(invalid(
            "kind",
            format!("{value} is not a failure kind (1 retryable, 2 fatal, 3 released, 4 unavailable)"),
        )),
        Ok(k) => Ok(k),
    }
}

/// The outcomes a result must carry, each a finite number.
pub fn result(r: Option<&pb::JobResult>) -> Result<&pb::JobResult, Status> {
    let r = r.ok_or_else(|| invalid("result", "missing"))?;
    let m = r.metrics.as_ref().ok_or_else(|| invalid("result.metrics", "missing"))?;
    for (field, v) in [
        ("result.metrics.bleu", m.bleu),
        ("result.metrics.codexglue_bleu", m.codexglue_bleu),
        ("result.metrics.token_accuracy", m.token_accuracy),
        ("result.metrics.exact_match", m.exact_match),
        ("result.metrics.syntax_valid", m.syntax_valid.unwrap_or(0.0)),
        ("result.metrics.bleu_vocab", m.bleu_vocab.unwrap_or(0.0)),
    ] {
        if !v.is_finite() {
            return Err(invalid(field, format!("{v} is not a finite number")));
        }
    }
    for (i, e) in r.examples.iter().enumerate() {
        if e.example_id.is_empty() {
            return Err(invalid(&format!("result.examples[{i}].example_id"), "is empty"));
        }
    }
    Ok(r)
}

pub fn dataset_hash(value: &str) -> Result<(), Status> {
    if is_hash(value) {
        Ok(())
    } else {
        Err(invalid("dataset_hash", format!("{} is not a data set hash (64 lowercase hex digits)", shown(value))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(r: Result<(), Status>) -> String {
        let s = r.unwrap_err();
        assert_eq!(s.code(), tonic::Code::InvalidArgument);
        s.message().to_string()
    }

    #[test]
    fn bad_fields_are_named_with_their_value() {
        assert_eq!(
            message(worker_id("nope")),
            "worker_id: `nope` is not a worker id (expected `w-` and 16 hex digits, as Register returns)"
        );
        assert!(message(job_id("xyz")).starts_with("job_id: `xyz`"));
        assert!(message(attempt(0)).starts_with("attempt: 0"));
        assert!(message(wait_ms(70_000)).contains("70000 is above the maximum of 60000"));
        assert!(message(device("gpu")).starts_with("capabilities.device: `gpu`"));
        assert!(message(study_ref("a@x")).contains("version after `@`"));
        assert!(message(study_name("study", "has space")).contains("`has space`"));
        assert!(failure_kind(0).is_err());
        assert!(failure_kind(9).is_err());
        assert_eq!(failure_kind(3).unwrap(), pb::FailureKind::Released);
        let long = "x".repeat(200);
        assert!(shown(&long).ends_with("...`"));
    }

    #[test]
    fn good_values_pass() {
        worker_id("w-0123456789abcdef").unwrap();
        job_id(&"0".repeat(64)).unwrap();
        study_ref("quick-start.v2@3").unwrap();
        device("cuda:1").unwrap();
        device("cuda").unwrap();
        progress(Some(&pb::Progress { phase: 2, epoch: 1, epochs: 3, ..Default::default() })).unwrap();
    }

    #[test]
    fn results_need_finite_outcomes() {
        let mut r = pb::JobResult { metrics: Some(pb::RunMetrics::default()), ..Default::default() };
        result(Some(&r)).unwrap();
        r.metrics.as_mut().unwrap().bleu = f64::NAN;
        assert!(result(Some(&r)).unwrap_err().message().starts_with("result.metrics.bleu: NaN"));
        assert!(result(None).is_err());
    }
}
