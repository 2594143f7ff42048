#!/usr/bin/env bash
# Makes Debian's podman usable here for make image and test/deploy: installs
# podman and runc when missing (root, apt), and writes a containers.conf that
# picks runc (crun is not what Debian's podman gets here) and gives containers
# open-file and process limits they can actually have, if no such file exists.
# Safe to run again; it changes nothing that is already there.
set -euo pipefail

if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "podman-setup: podman or runc missing; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends podman runc >/dev/null
fi

conf=/etc/containers/containers.conf
if [ ! -e "$conf" ]; then
  mkdir -p "$(dirname "$conf")"
  cat >"$conf" <<'CONF'
[engine]
runtime = "runc"

[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
CONF
fi
