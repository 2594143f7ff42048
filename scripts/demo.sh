#!/usr/bin/env bash
# make demo: a sidecar on a throw-away data dir, the Go echo handler, one
# request written as syft-rpc writes it, and the response printed.
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(mktemp -d /tmp/syft-sidecar-demo.XXXXXX)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"; }
trap cleanup EXIT

owner=bob@example.com sender=alice@example.com
sock="unix://$data/sidecar.sock"
bin/syft-sidecar --data-dir "$data" --email "$owner" --listen "$sock" --metrics-listen "" 2>"$data/sidecar.log" &
pids+=($!)
bin/echo --sidecar "$sock" --app echo 2>"$data/echo.log" &
pids+=($!)

dir="$data/datasites/$owner/app_data/echo/rpc/echo/$sender"
mkdir -p "$dir" "$data/.syft-tmp"
id=$(cat /proc/sys/kernel/random/uuid)
now=$(date -u +%Y-%m-%dT%H:%M:%S.%6N+00:00)
later=$(date -u -d '+15 min' +%Y-%m-%dT%H:%M:%S.%6N+00:00)
body=$(printf '{"hello":"world"}' | base64 -w0 | tr '+/' '-_')
# Written to the client's temp folder, then renamed in, as SyftBox delivers it.
printf '{"id":"%s","sender":"%s","url":"syft://%s/app_data/echo/rpc/echo","body":"%s","headers":{},"created":"%s","expires":"%s","method":"POST"}' \
  "$id" "$sender" "$owner" "$body" "$now" "$later" >"$data/.syft-tmp/$id.request"
mv "$data/.syft-tmp/$id.request" "$dir/$id.request"
echo "request  $dir/$id.request"

for _ in $(seq 1 500); do
  [ -f "$dir/$id.response" ] && break
  sleep 0.02
done
if [ ! -f "$dir/$id.response" ]; then
  echo "no response within 10s; sidecar log:" >&2
  cat "$data/sidecar.log" "$data/echo.log" >&2
  exit 1
fi
echo "response $dir/$id.response"
cat "$dir/$id.response"; echo
printf 'body     %s\n' "$(sed -E 's/.*"body":"([^"]*)".*/\1/' "$dir/$id.response" | tr '_-' '/+' | base64 -d)"
