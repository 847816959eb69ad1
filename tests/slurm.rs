//! deploy/slurm/intervene.sbatch on a real Slurm: the single-node cluster of
//! deploy/slurm/local-cluster.sh (slurmctld, slurmd and munge on loopback),
//! which scripts/test.sh starts and names in INTERVENE_SLURM_CONF. Three
//! allocations of one study, each through `sbatch` of the unchanged template:
//!
//! 1. stopped as the time limit does (`--signal=B:TERM@120`: SIGTERM to the
//!    batch shell only), while a job is in flight;
//! 2. stopped with a plain `scancel` (SIGTERM to every process at once);
//! 3. run to the end with real training.
//!
//! Every stop must give the lease back (released, not failed or left to
//! expire), and the last allocation must resume the study and finish every
//! job exactly once, with its tables exported.
//!
//! Without INTERVENE_SLURM_CONF the test says so and passes, unless
//! INTERVENE_REQUIRE_TOOLS is set (as .ci/run does): then it fails.

mod fleet_support;
mod tools_support;

use fleet_support::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use tools_support::not_run;

fn slurm_conf() -> Option<PathBuf> {
    let conf = std::env::var_os("INTERVENE_SLURM_CONF").map(PathBuf::from);
    if conf.is_none() {
        not_run(
            "the Slurm test needs a cluster and INTERVENE_SLURM_CONF is not set: scripts/test.sh starts one with \
             deploy/slurm/local-cluster.sh start",
        );
    }
    conf
}

struct Cluster {
    conf: PathBuf,
    root: PathBuf,
}

impl Cluster {
    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf);
        c
    }

    fn run(&self, program: &str, args: &[&str]) -> String {
        let out = self.cmd(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `sbatch` of the template; the Slurm job id.
    fn submit(&self, dir: &Path, study: &Path, port: u16, worker_args: &str) -> String {
        let template = self.root.join("deploy/slurm/intervene.sbatch");
        let out = self
            .cmd("sbatch")
            .current_dir(dir)
            .args(["--parsable", "--output", dir.join("slurm-%j.out").to_str().unwrap()])
            .arg(&template)
            .arg(study)
            .env("INTERVENE_BIN", BIN)
            .env("INTERVENE_TOKEN", TOKEN)
            .env("INTERVENE_STATE", dir.join("state"))
            .env("INTERVENE_WORKER_DIR", dir.join("worker"))
            .env("INTERVENE_RESULTS", dir.join("exported"))
            .env("INTERVENE_PORT", port.to_string())
            .env("INTERVENE_DEVICE", "cpu")
            .env("INTERVENE_WORKER_ARGS", worker_args)
            .env("INTERVENE_LOG", "info")
            .env_remove("INTERVENE_COORDINATOR")
            .output()
            .expect("sbatch");
        assert!(out.status.success(), "sbatch: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap().to_string()
    }

    fn gone(&self, job: &str) -> bool {
        self.run("squeue", &["-h", "-j", job, "-o", "%i"]).is_empty()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn in_flight(state: &Path) -> i64 {
    Ledger::open(state).map_or(0, |l| l.count("SELECT COUNT(*) FROM attempts WHERE outcome IS NULL"))
}

fn output(dir: &Path, job: &str) -> String {
    std::fs::read_to_string(dir.join(format!("slurm-{job}.out"))).unwrap_or_default()
}

#[test]
fn the_sbatch_template_stops_cleanly_resumes_and_finishes_every_job_once() {
    let Some(conf) = slurm_conf() else { return };
    let cluster = Cluster { conf, root: PathBuf::from(env!("CARGO_MANIFEST_DIR")) };
    let deadline = Deadline::after(420);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // 2 arms x 1 seed = 2 jobs; one CPU worker runs them one at a time.
    let study = study(dir, "slurm", 1, 32);
    let state = dir.join("state");
    let port = free_port();

    let mut released = 0;
    for (stop, how) in [(&["--batch", "--signal=TERM"][..], "time limit"), (&[][..], "scancel")] {
        // Jobs that train (fake) for a minute: in flight when the signal comes.
        let job = cluster.submit(dir, &study, port, "--fake-train 60");
        deadline.wait_for(&format!("a job in flight ({how})"), || in_flight(&state) == 1);
        let mut args: Vec<&str> = stop.to_vec();
        args.push(&job);
        cluster.run("scancel", &args);
        deadline.wait_for(&format!("the allocation to end ({how})"), || cluster.gone(&job));
        released += 1;
        let l = Ledger::open(&state).unwrap();
        let log = output(dir, &job);
        assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'released'"), released, "{how}:\n{log}");
        assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome IS NULL"), 0, "{how}: none left open:\n{log}");
        assert_eq!(l.count("SELECT COALESCE(SUM(failures), 0) FROM jobs"), 0, "{how}: a release is no failure:\n{log}");
        assert_eq!(succeeded(&state, "slurm", 1), 0, "{how}:\n{log}");
    }

    // The next allocation resumes the study and trains for real.
    let job = cluster.submit(dir, &study, port, "");
    deadline.wait_for("the last allocation to end", || cluster.gone(&job));
    let log = output(dir, &job);
    assert!(log.contains("result tables in"), "{log}");
    assert_eq!(succeeded(&state, "slurm", 1), 2, "{log}");
    assert_recorded_once(&state, "slurm", 1, 2, 1);
    let l = Ledger::open(&state).unwrap();
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome = 'succeeded'"), 2, "{log}");
    assert_eq!(l.count("SELECT COUNT(*) FROM attempts WHERE outcome NOT IN ('succeeded', 'released')"), 0, "{log}");
    for table in ["runs", "examples", "curves"] {
        assert!(dir.join("exported").join(format!("{table}.parquet")).is_file(), "{table} exported:\n{log}");
    }
    // The steps stopped on their own: nothing of this cluster's is still running.
    let steps = cluster.run("squeue", &["-h", "-s", "-o", "%i"]);
    assert!(steps.is_empty(), "steps left: {steps}");
}
