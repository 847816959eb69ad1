#!/usr/bin/env bash
# A real single-node Slurm on loopback, for trying deploy/slurm/intervene.sbatch
# and for its end-to-end test (tests/slurm.rs):
#
#   deploy/slurm/local-cluster.sh start   # install if missing, start, wait until the node is idle
#   deploy/slurm/local-cluster.sh env     # the line to source: export SLURM_CONF=...
#   deploy/slurm/local-cluster.sh running # exit 0 when its slurmctld is up
#   deploy/slurm/local-cluster.sh stop    # cancel its jobs, stop its daemons
#
# Everything lives under $INTERVENE_SLURM_DIR (default /tmp/intervene-slurm):
# the configuration, a munge key and socket of its own, state, spool, logs
# and pid files. It uses ports 16817/16818, not Slurm's defaults, and a munge
# socket of its own, so a Slurm or munge already on the machine is left
# alone; `stop` signals only the daemons whose pid files it wrote.
#
# Debian's slurm-wlm 22.05 and munge are installed with apt-get when missing
# (root only); without them and without root, `start` says so and exits 2.
# Daemons run as root (slurmd must), so `start` needs root either way.
set -euo pipefail

DIR="${INTERVENE_SLURM_DIR:-/tmp/intervene-slurm}"
CONF="$DIR/slurm.conf"
NODE="$(hostname -s)"
PACKAGES=(slurmctld slurmd slurm-client munge)

die() {
    echo "local-cluster: $*" >&2
    exit "${2:-1}"
}

have_slurm() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null &&
        command -v munged >/dev/null
}

install_slurm() {
    have_slurm && return 0
    [[ $EUID -eq 0 ]] || die "Slurm is not installed and installing it needs root (apt-get install ${PACKAGES[*]})" 2
    command -v apt-get >/dev/null || die "Slurm is not installed and there is no apt-get to install ${PACKAGES[*]}" 2
    echo "local-cluster: installing ${PACKAGES[*]}"
    # The packages' own services must not start: this script runs its own.
    local policy=/usr/sbin/policy-rc.d created=""
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created=1
    fi
    local rc=0
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${PACKAGES[@]}"; } >"${TMPDIR:-/tmp}/intervene-slurm-apt.log" 2>&1 || rc=$?
    [[ -n $created ]] && rm -f "$policy"
    ((rc == 0)) || die "apt-get install ${PACKAGES[*]} failed (log: ${TMPDIR:-/tmp}/intervene-slurm-apt.log)" 2
}

# The pid in FILE when that process is alive.
alive() {
    local pid
    [[ -s $1 ]] || return 1
    pid="$(cat "$1")"
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

write_config() {
    mkdir -p "$DIR"/{ctld,spool,log,munge}
    chmod 700 "$DIR/munge"
    if [[ ! -s $DIR/munge/munge.key ]]; then
        (umask 077 && head -c 1024 /dev/urandom >"$DIR/munge/munge.key")
    fi
    local cpus memory
    cpus="$(nproc)"
    # Slurm refuses a node that has less memory than it is said to have.
    memory="$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)"
    cat >"$CONF" <<EOF
# Written by deploy/slurm/local-cluster.sh: one node on loopback.
ClusterName=intervene-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket.2
# No cgroups inside containers: plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
# How long after SIGTERM a cancelled step's processes get SIGKILL.
KillWait=30
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
    install_slurm
    [[ $EUID -eq 0 ]] || die "starting slurmd needs root" 2
    write_config
    export SLURM_CONF="$CONF"
    if ! alive "$DIR/munged.pid"; then
        munged --force --socket="$DIR/munge/munge.socket.2" --key-file="$DIR/munge/munge.key" \
            --pid-file="$DIR/munged.pid" --log-file="$DIR/log/munged.log" --seed-file="$DIR/munge/munged.seed"
    fi
    alive "$DIR/slurmctld.pid" || slurmctld -f "$CONF"
    alive "$DIR/slurmd.pid" || slurmd -f "$CONF"
    local state=""
    for _ in $(seq 1 60); do
        state="$(sinfo -h -N -n "$NODE" -o '%T' 2>/dev/null || true)"
        case "$state" in
            idle | mixed | allocated) break ;;
            down* | drain* | *'*') scontrol update nodename="$NODE" state=resume 2>/dev/null || true ;;
        esac
        sleep 1
    done
    case "$state" in
        idle | mixed | allocated) ;;
        *) die "node $NODE did not come up (state '${state:-none}'); logs in $DIR/log" ;;
    esac
    echo "local-cluster: node $NODE is $state; export SLURM_CONF=$CONF"
}

stop() {
    if [[ -f $CONF ]] && alive "$DIR/slurmctld.pid"; then
        export SLURM_CONF="$CONF"
        # Every job on this private cluster was submitted to it on purpose.
        squeue -h -o %i 2>/dev/null | xargs -r scancel 2>/dev/null || true
        for _ in $(seq 1 60); do
            [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
            sleep 1
        done
    fi
    local name pid
    for name in slurmd slurmctld munged; do
        alive "$DIR/$name.pid" || continue
        pid="$(cat "$DIR/$name.pid")"
        kill -TERM "$pid"
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
    done
    echo "local-cluster: stopped"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    running) alive "$DIR/slurmctld.pid" ;;
    *) die "usage: $0 start|stop|env" 64 ;;
esac
