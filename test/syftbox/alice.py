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
from syft_rpc.protocol import SyftTimeoutError


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
    a = p.parse_args()
    client = Client.load(a.config)
    body: bytes = (b"x" * a.body_size) if a.body_size else a.body.encode()
    for _ in range(a.count):
        start = time.monotonic()
        future = rpc.send(
            url=a.url, method="POST", body=body, cache=False, client=client
        )
        out: dict[str, object] = {
            "id": str(future.id),
            "request": str(future.request_path),
        }
        try:
            resp = future.wait(timeout=a.timeout, poll_interval=0.02)
        except SyftTimeoutError:
            out["error"] = "timeout"
        else:
            got = resp.body or b""
            out.update(
                status=int(resp.status_code),
                body_len=len(got),
                body_sha256=hashlib.sha256(got).hexdigest(),
                sent_sha256=hashlib.sha256(body).hexdigest(),
                text=got[:200].decode(errors="replace"),
            )
        out["seconds"] = time.monotonic() - start
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
