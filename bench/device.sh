#!/bin/sh
# Issue 15's figures on a machine with more cores than this one, in one
# command: 100,000 pending with the sidecar and the Go echo, then the floor,
# pinned with taskset to 1, 2, 4, 8 and 16 CPUs (as many as there are),
# three rounds, with the sidecar's lock contention profile of each run;
# then one request at a time beside the floor and the relay over gRPC.
# The machine needs no Go: `make bench-device` builds the binaries here.
#
# Run: make bench-device, then, from the repository root on that machine,
#   sh bench/device.sh            (the device tool: carry bin/device, timeout 480 s)
# It writes machine.txt, pending.txt, latency.txt and mutex/ under $OUT
# (bin/device-out when unset). Read a profile here with
#   go tool pprof -top bin/device/syft-sidecar OUT/mutex/mutex-N-sidecar-cpus0-15.pb.gz
# About 3 minutes on 16 cores. N and ROUNDS change the 100,000 and the 3
# (N=5000 ROUNDS=1 sh bench/device.sh tries it here).

set -eu
bin=bin/device
out=${OUT:-bin/device-out}
n=${N:-100000}
rounds=${ROUNDS:-3}
for f in syft-sidecar echo floor hotpath; do
	[ -x "$bin/$f" ] || { echo "bench/device.sh: no $bin/$f: run make bench-device first" >&2; exit 2; }
done
command -v taskset >/dev/null || { echo "bench/device.sh: taskset (util-linux) not found" >&2; exit 2; }
mkdir -p "$out/mutex"

cores=$(nproc)
lists=0
for c in 2 4 8 16; do
	[ "$c" -le "$cores" ] && lists="$lists 0-$((c - 1))"
done
{
	echo "cores: $cores; CPU lists: $lists"
	grep -m1 'model name' /proc/cpuinfo || true
	uname -srm
	echo "load: $(cat /proc/loadavg)"
	df -h /dev/shm | tail -1
} > "$out/machine.txt"
cat "$out/machine.txt"

"$bin/hotpath" -bin "$bin" -root /dev/shm -mode pending -n "$n" -rounds "$rounds" \
	-cpus "$lists" -only sidecar,floor -mutexprofile "$out/mutex" 2>&1 | tee "$out/pending.txt"
"$bin/hotpath" -bin "$bin" -root /dev/shm -mode latency -n 2000 -rounds "$rounds" \
	-cpus - -only sidecar,floor,relay-grpc 2>&1 | tee "$out/latency.txt"
