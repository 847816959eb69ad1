//! SQL over a study's job files as written to disk.

use intervene_analysis::StudyResults;
use intervene_analysis::query::run_sql;
use intervene_analysis::simulate::Simulation;

#[test]
fn count_star_over_many_job_files() {
    let dir = tempfile::tempdir().unwrap();
    let sim = Simulation::realistic("files", vec![1, 2], 30, 4);
    sim.write(dir.path()).unwrap();
    let tables = StudyResults::locate(dir.path(), "files", None).unwrap().load().unwrap();
    // A bare count(*) takes polars' row-count shortcut; over a union of
    // scans that shortcut needs a u128 cast this build does not have.
    let df = run_sql(&tables, "SELECT count(*) AS n FROM examples").unwrap();
    let n = df.column("n").unwrap().get(0).unwrap().extract::<u64>().unwrap();
    assert_eq!(n, 9 * 2 * 30);
    let df = run_sql(&tables, "SELECT count(*) AS n FROM runs WHERE arm = 'control'").unwrap();
    assert_eq!(df.column("n").unwrap().get(0).unwrap().extract::<u64>().unwrap(), 2);
}
