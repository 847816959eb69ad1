//! Which filesystem a state folder is on. The ledger runs SQLite in WAL
//! mode, whose shared-memory index needs every process to see one page
//! cache: SQLite documents that WAL "does not work over a network
//! filesystem", and a ledger there can be corrupted silently. Cluster
//! defaults put working folders on NFS or Lustre, so a state folder on a
//! network filesystem is refused up front with the way out, instead of
//! failing later in ways nobody can trace.
//!
//! The filesystem type comes from `/proc/self/mountinfo` (the mount whose
//! point is the longest prefix of the folder's real path). Where that file
//! does not exist (not Linux) nothing is refused.

use std::path::Path;

/// Filesystem types (mountinfo's field after the separator) that are shared
/// over a network.
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "beegfs",
    "ceph",
    "glusterfs",
    "afs",
    "9p",
    "ncpfs",
    "orangefs",
    "pvfs2",
    "fuse.sshfs",
    "fuse.glusterfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.rclone",
    "fuse.beegfs",
    "fuse.cephfs",
    "fuse.juicefs",
    "fuse.lizardfs",
    "fuse.moosefs",
];

/// The mount point and type of the mount holding `path`, from the text of a
/// `/proc/self/mountinfo`.
pub fn mount_of(mountinfo: &str, path: &Path) -> Option<(String, String)> {
    let mut best: Option<(String, String)> = None;
    for line in mountinfo.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNT-POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPER-OPTIONS
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else { continue };
        let (Some(point), Some(kind)) = (fields.get(4), fields.get(sep + 1)) else { continue };
        let point = unescape(point);
        if path.starts_with(&point) && best.as_ref().is_none_or(|(b, _)| point.len() >= b.len()) {
            best = Some((point, kind.to_string()));
        }
    }
    best
}

/// mountinfo writes space, tab, newline and backslash in octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
            && let Ok(v) = u8::from_str_radix(&field[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn is_network(kind: &str) -> bool {
    NETWORK.contains(&kind)
}

/// Why `dir` cannot hold a ledger, if it is on a network filesystem
/// according to `mountinfo`.
pub fn network_refusal(mountinfo: &str, dir: &Path) -> Option<String> {
    let (point, kind) = mount_of(mountinfo, dir)?;
    is_network(&kind).then(|| {
        format!(
            "the state folder is on a network filesystem ({kind}, mounted at {point}), where SQLite's WAL journal, which the ledger \
             uses, is not safe; put the state folder on a node-local disk (for example --state /var/tmp/$USER/intervene, \
             or INTERVENE_STATE in deploy/slurm/intervene.sbatch)"
        )
    })
}

/// [`network_refusal`] for this machine's mounts; `dir` must exist.
pub fn check_local(dir: &Path) -> Option<String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let real = std::fs::canonicalize(dir).ok()?;
    network_refusal(&mountinfo, &real)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTS: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:40 / /home rw,relatime shared:5 - nfs4 fs1:/export/home rw,vers=4.2
31 22 0:41 / /scratch rw shared:6 master:2 - lustre 10.0.0.1@tcp:/scratch rw,flock
32 31 0:42 / /scratch/local\\040disk rw - xfs /dev/sdb rw
33 22 0:43 / /tmp rw,nosuid - tmpfs tmpfs rw
34 22 0:44 / /mnt/remote rw - fuse.sshfs user@host: rw
";

    #[test]
    fn the_longest_mount_point_that_holds_the_path_wins() {
        let of = |p: &str| mount_of(MOUNTS, Path::new(p)).unwrap();
        assert_eq!(of("/var/lib/x"), ("/".into(), "ext4".into()));
        assert_eq!(of("/home/ana/study/.intervene"), ("/home".into(), "nfs4".into()));
        assert_eq!(of("/scratch/ana"), ("/scratch".into(), "lustre".into()));
        // An escaped space in the mount point, and a mount inside a mount.
        assert_eq!(of("/scratch/local disk/ana"), ("/scratch/local disk".into(), "xfs".into()));
        assert_eq!(of("/tmp"), ("/tmp".into(), "tmpfs".into()));
        // A path component, not a string prefix: /homework is not under /home.
        assert_eq!(of("/homework"), ("/".into(), "ext4".into()));
    }

    #[test]
    fn network_filesystems_are_refused_with_the_type_the_mount_and_the_way_out() {
        let refused = |p: &str| network_refusal(MOUNTS, Path::new(p));
        for p in ["/home/ana/.intervene", "/scratch/ana", "/mnt/remote/state"] {
            let message = refused(p).unwrap_or_else(|| panic!("{p} should be refused"));
            assert!(message.contains("network filesystem") && message.contains("node-local"), "{message}");
        }
        let message = refused("/home/ana").unwrap();
        assert!(message.contains("(nfs4, mounted at /home)"), "{message}");
        for p in ["/var/tmp/ana", "/tmp/x", "/scratch/local disk/ana"] {
            assert_eq!(refused(p), None, "{p} is local");
        }
    }

    #[test]
    fn lines_without_the_separator_or_fields_are_ignored_and_no_mounts_mean_no_refusal() {
        assert_eq!(mount_of("", Path::new("/x")), None);
        assert_eq!(mount_of("garbage\n1 2 3\n", Path::new("/x")), None);
        assert_eq!(network_refusal("", Path::new("/x")), None);
        assert_eq!(unescape("a\\040b\\134c\\0"), "a b\\c\\0");
    }

    #[test]
    fn this_machines_temporary_folder_is_accepted() {
        // The tests' own state folders live here; CI would fail on a network /tmp.
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(check_local(dir.path()), None);
    }
}
