#!/bin/sh
# A SyftBox app served through syft-sidecar. The SyftBox client runs this file
# as {data_dir}/apps/<name>/run.sh, with SYFTBOX_CLIENT_CONFIG_PATH,
# SYFTBOX_APP_ID, SYFTBOX_APP_DIR and SYFTBOX_APP_PORT set and PATH rebuilt
# from the system's plus $SYFTBOX_EXTRA_PATH.
#
# One sidecar serves a datasite and every app in it. This script starts one
# and moves on: if a sidecar already serves the datasite (its socket, derived
# from the same SyftBox config, answers), the new one exits at once and the
# handler below uses the one that runs. The sidecar must outlive the app that
# happened to start it, and the client stops an app by signalling its process
# group and every descendant: so it is started from a subshell that exits at
# once (the sidecar is handed to init, no descendant of the app) and in a
# session of its own (setsid, out of the app's group). Stop it with SIGTERM,
# which drains in-flight replies.
set -eu

: "${SYFTBOX_CLIENT_CONFIG_PATH:?run by the SyftBox client, or set SYFTBOX_CLIENT_CONFIG_PATH}"
sidecar=${SYFT_SIDECAR_BIN:-syft-sidecar}
python=${SYFT_APP_PYTHON:-python3}
log=${SYFT_SIDECAR_LOG:-$HOME/.syftbox/logs/syft-sidecar.log}

cd "$(dirname "$0")"
mkdir -p "$(dirname "$log")"
# --metrics-listen "": no port of its own by default, so a second start can
# only lose to the first on the socket.
(setsid "$sidecar" --config "$SYFTBOX_CLIENT_CONFIG_PATH" --metrics-listen "" \
  ${SYFT_SIDECAR_ARGS:-} </dev/null >>"$log" 2>&1 &)

# The handler finds the sidecar from the same config and waits for it (30 s).
exec "$python" app.py
