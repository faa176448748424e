#!/bin/bash
# Runs a real systemd-journald in its own mount namespace, so it needs no systemd as PID 1 and
# leaves the host's /run and /var/log untouched. Root only.
#   journald-ns.sh            start it; prints the journald pid once its native socket exists
#   kill -TERM <pid>          stop it (the namespace and its tmpfs vanish with it)
# From the host: /proc/<pid>/root/run/systemd/journal/{socket,stdout} and
# journalctl --directory=/proc/<pid>/root/run/log/journal
# No --pid for unshare: journald must see its clients' real pids (it refuses pid-0 stdout streams).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != --inside ]; then
  setsid unshare --mount --propagation private "$0" --inside >/dev/null 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 200); do
    if [ -S "/proc/$pid/root/run/systemd/journal/socket" ] && [ -S "/proc/$pid/root/run/systemd/journal/stdout" ]; then
      echo "$pid"
      exit 0
    fi
    kill -0 "$pid" 2>/dev/null || { echo "journald exited during start" >&2; exit 1; }
    sleep 0.05
  done
  kill -TERM "$pid" 2>/dev/null || true
  echo "journald did not create its sockets" >&2
  exit 1
fi
mkdir -p /run/systemd /run/log /var/log/journal
mount -t tmpfs -o mode=755 tmpfs /run/systemd
mount -t tmpfs -o mode=755 tmpfs /run/log
mount -t tmpfs -o mode=755 tmpfs /var/log/journal
mkdir -p /run/systemd/journal /run/log/journal
mount --bind "$here/journald.conf" /etc/systemd/journald.conf
if [ -d /etc/systemd/journald.conf.d ]; then
  empty=$(mktemp -d)
  mount --bind "$empty" /etc/systemd/journald.conf.d
fi
exec /lib/systemd/systemd-journald
