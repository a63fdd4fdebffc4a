#!/usr/bin/env bash
# Stops the one-machine SLURM cluster that start-cluster.sh started: only the daemons named by the
# pid files in its state folder (and the job steps they ran), then removes that folder and its
# slurm.conf and slurmdbd.conf.
# Run as root: scripts/slurm/stop-cluster.sh   (nothing to stop is not an error)
set -euo pipefail

STATE=${TUNEFORGE_SLURM_DIR:-${TMPDIR:-/tmp}/tuneforge-slurm}
CONF_DIR=/etc/slurm
MARK="# Written by tuneforge's scripts/slurm/start-cluster.sh"

[ "$(id -u)" = 0 ] || { echo "error: stopping SLURM's daemons needs root: run 'sudo $0'" >&2; exit 1; }

pid_of() { cat "$1" 2>/dev/null || true; } # a daemon removes its pid file as it exits

# TERM these processes, then poll until they are gone (KILL after the deadline).
stop() {
  local pid pids=() deadline
  for pid in "$@"; do
    [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do
      [ "$SECONDS" -lt "$deadline" ] || { kill -KILL "$pid" 2>/dev/null || true; break; }
      sleep 0.1
    done
  done
}

# Jobs first, until the controller holds none: their steps end while slurmd can hear them.
ctld=$(pid_of "$STATE/slurmctld.pid")
if [ -n "$ctld" ] && kill -0 "$ctld" 2>/dev/null; then
  scancel --full --quiet --user=root 2>/dev/null || true
  deadline=$((SECONDS + 30))
  while [ -n "$(squeue -h -o %i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.1
  done
fi
stop "$(pid_of "$STATE/slurmd.pid")" "$ctld"
# A job step whose slurmstepd outlived slurmd: this cluster's run in its state folder.
steps=()
for pid in $(pgrep -x slurmstepd || true); do
  case "$(readlink "/proc/$pid/cwd" 2>/dev/null)" in "$STATE"/*) steps+=("$pid") ;; esac
done
stop "${steps[@]}"
stop "$(pid_of "$STATE/slurmdbd.pid")" "$(pid_of "$STATE/mysql/mariadbd.pid")" \
  "$(pid_of "$STATE/munge/munged.pid")"

for file in "$CONF_DIR/slurm.conf" "$CONF_DIR/slurmdbd.conf"; do
  if [ -e "$file" ] && head -n1 "$file" | grep -qF "$MARK"; then
    rm -f "$file"
  fi
done
rm -rf "$STATE"
