#!/usr/bin/env bash
# Proves .ci/run on a fresh machine state, on this machine: takes away what
# .ci/run installs, then runs it in a fresh clone of HEAD with empty Go, pip,
# npm and test caches, as CI does on a new machine. Changes the machine (as root):
#   - purges the Debian packages that scripts/apt-install.sh installed here
#     (it keeps a log of them), with what they pulled in;
#   - uninstalls buf from npm's global folder and removes the containers.conf
#     that deploy/docker/podman-setup.sh writes.
# Usage: scripts/ci-fresh.sh --yes [log file]
set -euo pipefail
[ "${1:-}" = --yes ] || { echo "usage: $0 --yes [log]   (purges packages; see the header)" >&2; exit 2; }
log=${2:-/tmp/ci-fresh.log}
repo=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
export DEBIAN_FRONTEND=noninteractive

installed=/var/lib/syft-sidecar/apt-installed
if [ -s "$installed" ]; then
  # shellcheck disable=SC2046
  apt-get -o DPkg::Lock::Timeout=600 purge -y -qq --autoremove $(sort -u "$installed") >/dev/null
  rm -f "$installed"
fi
npm uninstall -g --silent @bufbuild/buf >/dev/null 2>&1 || true
if grep -qs 'runtime = "runc"' /etc/containers/containers.conf; then
  rm -f /etc/containers/containers.conf
fi
for tool in protoc promtool prometheus podman buf; do
  if command -v "$tool" >/dev/null; then
    echo "ci-fresh: $tool is still here ($(command -v "$tool")): not a fresh state" >&2
    exit 1
  fi
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/repo"
echo "ci-fresh: running .ci/run in $work/repo (log: $log)"
start=$SECONDS
(
  cd "$work/repo"
  # XDG_CACHE_HOME holds what tests cache for later runs, such as the
  # SyftBox binaries test/syftbox builds.
  export CI=true GOMODCACHE="$work/gomod" GOCACHE="$work/gocache" \
    PIP_CACHE_DIR="$work/pip" npm_config_cache="$work/npm" XDG_CACHE_HOME="$work/cache"
  bash .ci/run
) >"$log" 2>&1 && rc=0 || rc=$?
echo "ci-fresh: .ci/run exited $rc after $((SECONDS - start)) s"
tail -n 15 "$log"
# The module cache is read-only on disk; make it removable.
chmod -R u+w "$work" 2>/dev/null || true
exit "$rc"
