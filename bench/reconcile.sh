#!/bin/bash
# What a reconcile rescan costs the sidecar when its folders hold answered
# requests: N request/response pairs (100,000 by default) in one sender's
# folder on tmpfs, the sidecar with --reconcile-interval 2s and the Go echo
# registered, and the sidecar's CPU (user and system, /proc/PID/stat) over
# the 20 s from 3 s after the handler started: ten rescans.
#
#   bench/reconcile.sh [SIDECAR [N]]     (make bench-build first)
set -euo pipefail
bin=${1:-bin/syft-sidecar}
n=${2:-100000}
echo=$(dirname "$0")/../bin/echo
d=$(mktemp -d /dev/shm/reconcile.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; rm -rf "$d"' EXIT
owner=bob@example.com
dir=$d/datasites/$owner/app_data/echo/rpc/echo/alice@example.com
mkdir -p "$dir"
python3 - "$dir" "$n" <<'PY'
import os, sys, uuid
d, n = sys.argv[1], int(sys.argv[2])
for _ in range(n):
    u = str(uuid.uuid4())
    for ext in (".request", ".response"):
        with open(os.path.join(d, u + ext), "w") as f:
            f.write("{}")
PY
"$bin" --data-dir "$d" --email "$owner" --listen "unix://$d/s.sock" --metrics-listen "" \
	--log-level error --reconcile-interval 2s &
sidecar=$!
for _ in $(seq 500); do [ -S "$d/s.sock" ] && break; sleep 0.01; done
"$echo" --sidecar "unix://$d/s.sock" --app echo 2>/dev/null &
sleep 3
cpu() { awk '{print $14 + $15}' "/proc/$sidecar/stat"; }
a=$(cpu)
sleep 20
b=$(cpu)
echo "$bin: $(( (b - a) * 10 )) ms of CPU in 20 s, $n answered requests, a rescan every 2 s"
