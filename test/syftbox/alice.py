"""alice's side of a call: the real syft-rpc 0.4.1 (rpc.send + future.wait).

Prints one JSON line per call: the request id and path, the status code
syft-rpc resolved, the response body's length and SHA-256, and the seconds
from send to resolution. A timeout prints {"error": "timeout"}.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

from syft_core import Client
from syft_rpc import rpc
from syft_rpc.protocol import SyftFuture, SyftResponse, SyftTimeoutError


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--body", default="hello")
    p.add_argument(
        "--body-size",
        type=int,
        default=0,
        help="send this many bytes instead of --body",
    )
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--count", type=int, default=1)
    p.add_argument(
        "--burst",
        action="store_true",
        help="send all --count calls at once, then poll them all; "
        "seconds are counted from the first send, --timeout bounds them all",
    )
    a = p.parse_args()
    client = Client.load(a.config)
    body: bytes = (b"x" * a.body_size) if a.body_size else a.body.encode()

    def send() -> SyftFuture:
        return rpc.send(url=a.url, method="POST", body=body, cache=False, client=client)

    if a.burst:
        # Every pending call is polled in each round, so each is timed when
        # it resolved: waiting on them one after another would time every
        # call behind an unanswered one at that one's timeout.
        start = time.monotonic()
        futures = [send() for _ in range(a.count)]
        pending = list(futures)
        while pending and time.monotonic() - start < a.timeout:
            still = []
            for f in pending:
                try:
                    resp = f.resolve()
                except (OSError, ValueError) as e:
                    # syft-rpc 0.4.1 checks that the request exists, then
                    # reads it: a request removed in between raises.
                    out = outcome(f, body, None, start)
                    out["error"] = f"raised: {type(e).__name__}: {e}"
                    print(json.dumps(out), flush=True)
                    continue
                if resp is None:
                    still.append(f)
                else:
                    print(json.dumps(outcome(f, body, resp, start)), flush=True)
            pending = still
            time.sleep(0.02)
        for f in pending:
            print(json.dumps(outcome(f, body, None, start)), flush=True)
        return 0
    for _ in range(a.count):
        start = time.monotonic()
        print(json.dumps(wait(send(), body, a.timeout, start)), flush=True)
    return 0


def wait(
    future: SyftFuture, sent: bytes, timeout: float, start: float
) -> dict[str, object]:
    try:
        resp = future.wait(timeout=timeout, poll_interval=0.02)
    except SyftTimeoutError:
        return outcome(future, sent, None, start)
    return outcome(future, sent, resp, start)


def outcome(
    future: SyftFuture, sent: bytes, resp: SyftResponse | None, start: float
) -> dict[str, object]:
    out: dict[str, object] = {
        "id": str(future.id),
        "request": str(future.request_path),
    }
    if resp is None:
        out["error"] = "timeout"
    else:
        got = resp.body or b""
        out.update(
            status=int(resp.status_code),
            body_len=len(got),
            body_sha256=hashlib.sha256(got).hexdigest(),
            sent_sha256=hashlib.sha256(sent).hexdigest(),
            text=got[:200].decode(errors="replace"),
        )
    out["seconds"] = time.monotonic() - start
    return out


if __name__ == "__main__":
    sys.exit(main())
