#!/usr/bin/env bash
# Installs the named Debian packages that are not installed yet, as root.
# Runs `apt-get update` before installing, and waits (up to 10 minutes) for
# another apt or dpkg holding its lock, as on a machine that is still running
# its own updates at boot: apt fails at once on a held lock otherwise.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
INSTALLED_LOG=/var/lib/syft-sidecar/apt-installed

missing=()
for pkg in "$@"; do
  if ! dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "apt-install: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi

# DPkg::Lock::Timeout makes apt wait for dpkg's frontend lock; the loop covers
# the locks it does not wait for (the package lists during update).
apt_get() {
  local deadline=$((SECONDS + 600)) err
  err=$(mktemp)
  while :; do
    if apt-get -o DPkg::Lock::Timeout=60 "$@" 2>"$err"; then
      rm -f "$err"
      return 0
    fi
    if grep -qiE 'could not get lock|unable to lock|unable to acquire' "$err" && [ $SECONDS -lt $deadline ]; then
      echo "apt-install: waiting for apt's lock" >&2
      sleep 5
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return 1
  done
}

echo "apt-install: ${missing[*]}"
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# What this machine did not have, for scripts/ci-fresh.sh to take away again.
mkdir -p "$(dirname "$INSTALLED_LOG")"
printf '%s\n' "${missing[@]}" >>"$INSTALLED_LOG"
