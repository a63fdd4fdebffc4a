#!/usr/bin/env bash
# Stops the one-machine SLURM cluster that start-cluster.sh started: only the daemons named by the
# pid files in its state folder, then removes that folder and its slurm.conf and slurmdbd.conf.
# Run as root: scripts/slurm/stop-cluster.sh   (nothing to stop is not an error)
set -euo pipefail

STATE=${TUNEFORGE_SLURM_DIR:-${TMPDIR:-/tmp}/tuneforge-slurm}
CONF_DIR=/etc/slurm
MARK="# Written by tuneforge's scripts/slurm/start-cluster.sh"

[ "$(id -u)" = 0 ] || { echo "error: stopping SLURM's daemons needs root: run 'sudo $0'" >&2; exit 1; }

# TERM the processes the pid files name, then poll until they are gone (KILL after the deadline).
stop() {
  local pidfile pid pids=() deadline
  for pidfile in "$@"; do
    pid=$(cat "$pidfile" 2>/dev/null) || continue  # a daemon removes its pid file as it exits
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      [ "$SECONDS" -lt "$deadline" ] || { kill -KILL "$pid" 2>/dev/null || true; break; }
      sleep 0.1
    done
  done
}

# Jobs first; then the cluster's daemons; then what they need (accounting, its database, munge).
if [ -s "$STATE/slurmctld.pid" ] && kill -0 "$(cat "$STATE/slurmctld.pid")" 2>/dev/null; then
  scancel --full --quiet --user=root 2>/dev/null || true
fi
stop "$STATE/slurmd.pid" "$STATE/slurmctld.pid"
stop "$STATE/slurmdbd.pid" "$STATE/mysql/mariadbd.pid" "$STATE/munge/munged.pid"

for file in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
  if [ -e "$file" ] && head -n1 "$file" | grep -qF "$MARK"; then
    rm -f "$file"
  fi
done
rm -rf "$STATE"
