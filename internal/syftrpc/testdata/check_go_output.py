"""Check files written by the Go syftrpc package with the real syft-rpc.

Run by TestPythonReadsGoOutput when SYFTRPC_PYTHON names a python with
syft-rpc 0.4.1 installed (pip install syft-rpc==0.4.1). Usage:

    python check_go_output.py DIR

DIR/manifest.json lists the message files Go wrote, with the field values Go
meant, and the schema cases with Go's FormatSchema output. For each message,
syft-rpc must load the file, see those values, and dump it back to the same
bytes. For each schema case, json.dumps(indent=2) of the entries must equal
Go's output. Mismatches are printed; the exit status is 1 if there are any.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

from syft_rpc.protocol import SyftRequest, SyftResponse


def main(root: Path) -> int:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    failures = []

    for m in manifest["messages"]:
        path = root / m["file"]
        cls = SyftRequest if m["kind"] == "request" else SyftResponse
        try:
            msg = cls.load(path)
        except Exception as e:  # noqa: BLE001 - report every failure
            failures.append(f"{m['file']}: load: {e}")
            continue
        body = None if m["body"] is None else base64.b64decode(m["body"])
        got = {
            "id": str(msg.id),
            "sender": msg.sender,
            "url": str(msg.url),
            "body": msg.body,
            "headers": msg.headers,
            "created": msg.created.isoformat(),
            "expires": msg.expires.isoformat(),
        }
        want = {k: m[k] for k in ("id", "sender", "url", "headers", "created", "expires")}
        want["body"] = body
        if m["kind"] == "request":
            got["method"], want["method"] = msg.method.value, m["method"]
        else:
            got["status_code"], want["status_code"] = int(msg.status_code), m["status_code"]
        for k in want:
            if got[k] != want[k]:
                failures.append(f"{m['file']}: {k} = {got[k]!r}, want {want[k]!r}")
        raw = path.read_bytes()
        dumped = msg.model_dump_json().encode("utf-8")
        if dumped != raw:
            failures.append(f"{m['file']}: syft-rpc dumps\n  {dumped!r}\nGo wrote\n  {raw!r}")

    for c in manifest["schemas"]:
        schema = {}
        for e in c["entries"]:
            schema[e["endpoint"]] = json.loads(e["json"])
        want = json.dumps(schema, indent=2)
        got = (root / c["file"]).read_text(encoding="utf-8")
        if got != want:
            failures.append(f"{c['file']}: json.dumps gives\n{want}\nGo wrote\n{got}")

    for f in failures:
        print(f)
    print(f"checked {len(manifest['messages'])} messages and {len(manifest['schemas'])} schemas, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
