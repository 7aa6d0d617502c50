#!/usr/bin/env bash
# Start the Docker engine when it is not running (these hosts have no systemd as PID 1).
set -euo pipefail
if docker info >/dev/null 2>&1; then
  exit 0
fi
if ! command -v dockerd >/dev/null 2>&1; then
  echo "dockerd is missing: run scripts/install-system.sh first." >&2
  exit 1
fi
echo "starting dockerd (log: /var/log/dockerd.log)"
# Its own session: it outlives the shell (and process group) that started it.
setsid nohup dockerd >/var/log/dockerd.log 2>&1 &
for _ in $(seq 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not come up in 60 s; see /var/log/dockerd.log" >&2
exit 1
