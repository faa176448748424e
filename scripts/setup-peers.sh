#!/usr/bin/env bash
# Installs the real peers the interop tests talk to (Debian 12, run as root).
# Outside CI a peer that cannot be installed makes its tests skip with the reason in their title;
# under CI=true the tests fail instead.
set -u
peers=(systemd util-linux systemd-journal-remote systemd-container)
missing=()
for p in "${peers[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup-peers: not root, cannot install: ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
