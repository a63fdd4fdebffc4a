#!/usr/bin/env bash
# A real one-machine SLURM cluster for tests and trials: munged, MariaDB, slurmdbd, slurmctld and
# slurmd, started directly (no systemd), their state under a temporary folder and slurm.conf in
# /etc/slurm where Debian's slurm looks by default, so plain `sbatch` and submitit find it.
# Run as root: scripts/slurm/start-cluster.sh   (stop it: scripts/slurm/stop-cluster.sh)
#
# Idempotent: a daemon whose pid file names a live process is left running. The state folder is
# $TUNEFORGE_SLURM_DIR (default: ${TMPDIR:-/tmp}/tuneforge-slurm); stop-cluster.sh stops only the
# daemons whose pid files are there.
set -euo pipefail

STATE=${TUNEFORGE_SLURM_DIR:-${TMPDIR:-/tmp}/tuneforge-slurm}
CONF_DIR=/etc/slurm
MARK="# Written by tuneforge's scripts/slurm/start-cluster.sh"
DB_PORT=${TUNEFORGE_SLURM_DB_PORT:-3307}
PACKAGES=(slurmctld slurmd slurm-client munge slurmdbd mariadb-server)

fail() { echo "error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "starting SLURM's daemons needs root: run 'sudo $0'"

# Poll a command until it succeeds, or fail with a line naming the log to read.
wait_for() {
  local what=$1 seconds=$2 log=$3
  shift 3
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || fail "$what did not come up within ${seconds}s; read $log"
    sleep 0.2
  done
}

alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_packages() {
  command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null && command -v slurmdbd >/dev/null \
    && command -v mariadbd >/dev/null && return
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${PACKAGES[@]}" >/dev/null \
    || { apt-get update -qq && apt-get install -y -qq "${PACKAGES[@]}" >/dev/null; } \
    || fail "could not install Debian's ${PACKAGES[*]}: run 'sudo apt-get install ${PACKAGES[*]}'"
}

# Our own slurm.conf and slurmdbd.conf only: a cluster configured by someone else is left alone.
check_config_is_ours() {
  local file other
  for file in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
    if [ -e "$file" ] && ! head -n1 "$file" | grep -qF "$MARK"; then
      fail "$file is not tuneforge's; this machine has a SLURM configuration of its own: use that cluster, or move the file away"
    fi
  done
  # One cluster at a time: the ports are the same.
  other=$(sed -n 's|^StateSaveLocation=\(.*\)/ctld$|\1|p' "$CONF_DIR/slurm.conf" 2>/dev/null || true)
  if [ -n "$other" ] && [ "$other" != "$STATE" ] && alive "$other/slurmctld.pid"; then
    fail "a cluster started by this script is running with its state in $other: stop it with 'TUNEFORGE_SLURM_DIR=$other $(dirname "$0")/stop-cluster.sh'"
  fi
}

start_munge() {
  alive "$STATE/munge/munged.pid" && return
  # The default socket, since slurm's clients reach slurmdbd through it whatever AuthInfo says;
  # a munged already serving it (the machine's own) is used as it is.
  munge --no-input >/dev/null 2>&1 && return
  mkdir -p "$STATE/munge" /run/munge
  chown munge:munge "$STATE/munge" /run/munge
  chmod 0755 "$STATE/munge" /run/munge
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  runuser -u munge -- munged --pid-file="$STATE/munge/munged.pid" \
    --log-file="$STATE/munge/munged.log" --seed-file="$STATE/munge/munged.seed"
  wait_for munged 20 "$STATE/munge/munged.log" munge --no-input
}

start_mariadb() {
  local sock="$STATE/mysql/mysqld.sock"
  if ! alive "$STATE/mysql/mariadbd.pid"; then
    if [ ! -d "$STATE/mysql/data/mysql" ]; then
      mkdir -p "$STATE/mysql"
      mariadb-install-db --no-defaults --user=root --datadir="$STATE/mysql/data" \
        --auth-root-authentication-method=socket >"$STATE/mysql/install.log" 2>&1 \
        || fail "MariaDB's data folder could not be created; read $STATE/mysql/install.log"
    fi
    # The child of a subshell started with setsid: it outlives this script, and owns its pid file.
    setsid mariadbd --no-defaults --user=root --datadir="$STATE/mysql/data" \
      --socket="$sock" --pid-file="$STATE/mysql/mariadbd.pid" --bind-address=127.0.0.1 \
      --port="$DB_PORT" --log-error="$STATE/mysql/mariadbd.log" --innodb-flush-log-at-trx-commit=0 \
      </dev/null >/dev/null 2>&1 &
    wait_for MariaDB 60 "$STATE/mysql/mariadbd.log" mariadb --socket="$sock" -uroot -e 'SELECT 1'
  fi
  mariadb --socket="$sock" -uroot <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL
}

write_configs() {
  local host node auth
  host=$(hostname -s)
  # The node as slurmd sees it (CPUs, sockets, cores, memory), reached on loopback.
  node=$(slurmd -C | head -n1 | sed "s/^NodeName=[^ ]*/NodeName=$host/")
  auth="AuthInfo=cred_expire=10"
  mkdir -p "$CONF_DIR" "$STATE/ctld" "$STATE/d" "$STATE/log"
  # Requeue waits for cred_expire; sched_interval=2 starts requeued and new jobs within seconds.
  # KillWait: seconds from a job's SIGTERM to its SIGKILL (submitit ignores SIGTERM), as when
  # `scontrol requeue` or a time limit ends a job.
  cat >"$CONF_DIR/slurm.conf" <<CONF
$MARK; stop-cluster.sh removes it.
ClusterName=tuneforge
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
$auth
CredType=cred/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
KillWait=5
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
  cat >"$CONF_DIR/slurmdbd.conf" <<CONF
$MARK; stop-cluster.sh removes it.
AuthType=auth/munge
$auth
DbdHost=localhost
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
CONF
  chmod 0600 "$CONF_DIR/slurmdbd.conf"
}

start_slurm() {
  if ! alive "$STATE/slurmdbd.pid"; then
    slurmdbd
  fi
  wait_for slurmdbd 60 "$STATE/log/slurmdbd.log" sacctmgr -n list cluster
  if ! sacctmgr -n -P list cluster format=cluster | grep -qx tuneforge; then
    sacctmgr -i add cluster tuneforge >/dev/null
  fi
  alive "$STATE/slurmctld.pid" || slurmctld
  alive "$STATE/slurmd.pid" || slurmd
  wait_for "the node" 60 "$STATE/log/slurmd.log and $STATE/log/slurmctld.log" node_idle
}

node_idle() { sinfo -h -N -o %T | grep -qx idle; }

install_packages
check_config_is_ours
mkdir -p "$STATE"
chmod 0755 "$STATE"  # munged runs as its own user
start_munge
start_mariadb
write_configs
start_slurm
echo "SLURM cluster 'tuneforge' is up: $(sinfo -h -N -o '%N %c CPUs %T'); state in $STATE"
