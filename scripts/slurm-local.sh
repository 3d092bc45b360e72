#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for rnnbench's cluster tests (pytest -m slurm) and for
# trying `hydra/launcher=slurm` before taking a study to a real cluster. Debian's SLURM (22.05):
# slurmctld and slurmd on this host, one partition `cpu` with all its cores, no accounting
# database (sacct is then unavailable: rnnbench's launcher reads job states with squeue). Run as
# root; idempotent: a second call restarts the daemons with the same configuration.
#
#   bash scripts/slurm-local.sh          # install if needed, configure, start; waits until the node is idle
#   bash scripts/slurm-local.sh stop     # stop the daemons
set -euo pipefail

stop() {
    pkill -x slurmctld 2>/dev/null || true
    pkill -x slurmd 2>/dev/null || true
    for _ in $(seq 50); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || return 0; sleep 0.2; done
}
if [[ "${1:-start}" == stop ]]; then stop; exit 0; fi
[[ $(id -u) == 0 ]] || { echo "slurm-local.sh: run as root (it installs packages and starts daemons)" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
fi

host=$(hostname -s)
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts  # slurmd finds its node by name
cpus=$(nproc)
mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))  # leave 1 GiB to the system
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/munge
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=rnnbench-local
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=10
NodeName=${host} CPUs=${cpus} RealMemory=${mem_mb} State=UNKNOWN
PartitionName=cpu Nodes=${host} Default=YES MaxTime=INFINITE State=UP
CONF

# munge: the key Debian's package made, the daemon as the munge user
[[ -s /etc/munge/munge.key ]] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null; }
chown munge:munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c /usr/sbin/munged

stop
slurmctld
slurmd
for _ in $(seq 60); do
    state=$(sinfo -h -N -o '%t' 2>/dev/null | head -1 || true)
    if [[ "$state" == idle || "$state" == mix || "$state" == alloc ]]; then
        echo "slurm-local: node ${host} (${cpus} CPUs, ${mem_mb} MB) in partition cpu is ${state}"
        exit 0
    fi
    [[ "$state" == down* || "$state" == drain* ]] && scontrol update nodename="${host}" state=resume 2>/dev/null || true
    sleep 1
done
echo "slurm-local: the node did not come up; see /var/log/slurm/slurmctld.log and slurmd.log" >&2
sinfo -N >&2 || true
exit 1
