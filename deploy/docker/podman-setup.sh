#!/usr/bin/env bash
# Makes Debian's podman usable here for make image and test/deploy: installs
# podman and runc when missing (root, apt), and writes a containers.conf that
# picks runc (crun is not what Debian's podman gets here) and gives containers
# open-file and process limits they can actually have, if no such file exists.
# Safe to run again; it changes nothing that is already there.
set -euo pipefail

"$(dirname "$0")/../../scripts/apt-install.sh" podman runc

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
