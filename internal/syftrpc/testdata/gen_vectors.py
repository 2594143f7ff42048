"""Generate the syft-rpc test vectors used by the Go tests in internal/syftrpc.

The files are written by the real syft-rpc and syft-event, so the Go reader and
writer are checked against the bytes Python produces, not against our reading
of its source.

Needs:  pip install syft-rpc==0.4.1 syft-event==0.4.3
Run:    python internal/syftrpc/testdata/gen_vectors.py   (from the repo root,
        or from anywhere: paths are relative to this file)

Writes:
  vectors/<name>.request | vectors/<name>.response   one file per case, as syft-rpc dumps it
  vectors/manifest.json                              the field values of every case
  schema/cases.json                                  FormatSchema inputs and json.dumps(indent=2) output

Header keys are inserted in sorted order because Go maps have none: the Go
writer sorts them, and a byte-for-byte comparison needs the same order.
"""

from __future__ import annotations

import base64
import json
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, List, Optional
from uuid import UUID

from pydantic import BaseModel, Field
from syft_rpc import rpc
from syft_rpc.protocol import SyftRequest, SyftResponse
from syft_event.types import Request

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors"
SCHEMA = HERE / "schema"

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
UTC = timezone.utc
IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))
ODD = timezone(-timedelta(hours=3, seconds=17))  # isoformat prints seconds: -03:00:17

T0 = datetime(2026, 11, 24, 10, 46, 53, 513656, tzinfo=UTC)
T0_EXP = datetime(2026, 11, 24, 11, 1, 53, 513327, tzinfo=UTC)

URL = "syft://bob@example.com/app_data/echo/rpc/echo"
SENDER = "alice@example.com"


def uid(n: int) -> UUID:
    # Deterministic, version-4 shaped ids so the fixtures never change.
    return UUID(f"4eb92bc9-2be1-4e83-9be0-{n:012x}")


def sorted_headers(h: dict[str, str]) -> dict[str, str]:
    return {k: h[k] for k in sorted(h, key=lambda s: s.encode("utf-8"))}


def unix_micro(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1)


def offset_seconds(dt: datetime) -> int:
    return int(dt.utcoffset().total_seconds())


def b64(body: Optional[bytes]) -> Optional[str]:
    return None if body is None else base64.b64encode(body).decode()


class Point(BaseModel):
    x: int
    y: float = 0.5
    label: Optional[str] = Field(default=None, description="shown as <b>label</b> & more")


def request_cases() -> List[dict[str, Any]]:
    cases = [
        dict(name="req_null_body", body=None, method="GET"),
        dict(name="req_empty_body", body=b"", method="POST"),
        dict(name="req_binary_body", body=bytes(range(256)), method="PUT"),
        dict(name="req_json_body", body=rpc.serialize({"a": 1, "b": "éx?>"}), method="POST"),
        dict(name="req_model_body", body=rpc.serialize(Point(x=3, label="p<1>")), method="POST"),
        dict(name="req_list_body", body=rpc.serialize([1, 2.5, "three", None]), method="POST"),
        dict(name="req_text_body", body=rpc.serialize("héllo wörld ✓"), method="POST"),
        dict(
            name="req_unicode_headers",
            body=b"x",
            method="PATCH",
            headers={
                "Content-Type": "application/json",
                "X-Html": "<script>alert('&amp;')</script>",
                "X-Unicode": "é 😀 \u2028 \u2029 \ufeff",
                "X-Control": "tab\tnl\ncr\rbs\bff\fnul\x00esc\x1bdel\x7f",
                "X-Quote": 'say "hi" \\ back/slash',
                "ключ": "значение",
            },
        ),
        dict(
            name="req_unicode_url",
            body=None,
            method="GET",
            url="syft://bob@example.com/app_data/echo/rpc/api/v1/échο?q=<1>&r=2",
            sender="Alice.Smith+tag@Example.COM",
        ),
        dict(
            name="req_no_micros",
            body=b"{}",
            method="POST",
            created=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
            expires=datetime(2026, 1, 3, 3, 4, 5, tzinfo=UTC),
        ),
        dict(
            name="req_small_micros",
            body=None,
            method="GET",
            created=datetime(2026, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
            expires=datetime(2026, 1, 2, 3, 4, 5, 100000, tzinfo=UTC),
        ),
        dict(
            name="req_offsets",
            body=None,
            method="DELETE",
            created=datetime(2026, 6, 1, 12, 0, 0, 250, tzinfo=IST),
            expires=datetime(2026, 6, 1, 0, 0, 0, tzinfo=PST),
        ),
        dict(
            name="req_offset_seconds",
            body=None,
            method="GET",
            created=datetime(2026, 6, 1, 12, 0, 0, tzinfo=ODD),
            expires=datetime(2026, 6, 2, 12, 0, 0, 1, tzinfo=ODD),
        ),
        dict(
            name="req_extreme_years",
            body=None,
            method="HEAD",
            created=datetime(1, 1, 1, tzinfo=UTC),
            expires=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        ),
    ]
    for i, m in enumerate(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]):
        cases.append(dict(name=f"req_method_{m.lower()}", body=m.encode(), method=m))
    return cases


def response_cases() -> List[dict[str, Any]]:
    cases = [
        dict(name="resp_null_body", body=None, status_code=200),
        dict(name="resp_empty_body", body=b"", status_code=204),
        dict(name="resp_binary_body", body=bytes(range(255, -1, -1)), status_code=200),
        dict(name="resp_json_body", body=rpc.serialize({"ok": True, "n": [1, 2]}), status_code=201),
        dict(name="resp_bad_request", body=rpc.serialize("Error loading request: <bad> & worse"), status_code=400),
        dict(name="resp_forbidden", body=b"forbidden", status_code=403),
        dict(name="resp_not_found", body=b"no handler", status_code=404),
        dict(name="resp_expired", body=b"Request expired", status_code=419),
        dict(name="resp_client_closed", body=None, status_code=499),
        dict(name="resp_server_error", body=b"Internal server error. Please try again later.", status_code=500),
        dict(name="resp_timeout", body=None, status_code=504),
        dict(name="resp_continue", body=None, status_code=100),
        dict(
            name="resp_headers_offsets",
            body=b"\x00\xff",
            status_code=200,
            headers={"Content-Type": "application/octet-stream", "X-Note": "a<b>&c \u2028"},
            created=datetime(2026, 6, 1, 12, 0, 0, 999999, tzinfo=IST),
            expires=datetime(2026, 6, 1, 0, 0, 0, tzinfo=PST),
        ),
    ]
    return cases


def write_messages() -> None:
    VECTORS.mkdir(parents=True, exist_ok=True)
    for old in VECTORS.iterdir():
        old.unlink()
    manifest = []
    n = 0
    for kind, cases in (("request", request_cases()), ("response", response_cases())):
        for c in cases:
            n += 1
            fields = dict(
                id=uid(n),
                sender=c.get("sender", SENDER if kind == "request" else "bob@example.com"),
                url=c.get("url", URL),
                body=c["body"],
                headers=sorted_headers(c.get("headers", {})),
                created=c.get("created", T0),
                expires=c.get("expires", T0_EXP),
            )
            if kind == "request":
                msg = SyftRequest(method=c["method"], **fields)
            else:
                msg = SyftResponse(status_code=c["status_code"], **fields)
            fname = f"{c['name']}.{kind}"
            msg.dump(VECTORS / fname)
            # Read back with syft-rpc itself. Offsets with seconds are the one
            # thing it writes but cannot read (pydantic parses only +HH:MM);
            # the Go reader accepts them, so the case stays.
            python_loads = c["name"] != "req_offset_seconds"
            if python_loads:
                back = (SyftRequest if kind == "request" else SyftResponse).load(VECTORS / fname)
                assert back.id == fields["id"] and back.body == fields["body"], fname
            entry = dict(
                name=c["name"],
                kind=kind,
                file=fname,
                id=str(fields["id"]),
                sender=fields["sender"],
                url=fields["url"],
                body=b64(fields["body"]),
                headers=fields["headers"],
                created=fields["created"].isoformat(),
                created_unix_micro=unix_micro(fields["created"]),
                created_offset_seconds=offset_seconds(fields["created"]),
                expires=fields["expires"].isoformat(),
                expires_unix_micro=unix_micro(fields["expires"]),
                expires_offset_seconds=offset_seconds(fields["expires"]),
                python_loads=python_loads,
            )
            if kind == "request":
                entry["method"] = c["method"]
            else:
                entry["status_code"] = c["status_code"]
            manifest.append(entry)
    (VECTORS / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# Handlers as a syft-event app declares them. They live at module level
# because generate_schema resolves the string annotations (see the
# __future__ import) against the module's globals.
class User(BaseModel):
    """A user of the app."""

    name: str = Field(description="Full name, e.g. \"Zoë\" <zoe@example.com>")
    age: Optional[int] = None
    tags: List[str] = []
    score: float = 1.0


class Reply(BaseModel):
    ok: bool
    users: List[User]


def echo(body: dict) -> dict:
    """Echo the body back. ✓"""
    return body


def create_user(user: User, notify: bool = False) -> Reply:
    """Create a user.

    Returns the users after the change.
    """
    raise NotImplementedError


def raw(req: Request):
    return None


def many(a: int, b: float = 1.5, c: Optional[str] = None, d: List[int] = [], e: Any = None) -> List[User]:
    return []


def schema_cases() -> List[dict[str, Any]]:
    from syft_event.schema import generate_schema

    handlers = [("/echo", echo), ("/users/create", create_user), ("/raw", raw), ("/api/v1/many", many)]

    cases = []
    # What syft-event publishes for real handlers: each entry as a handler
    # would send it over gRPC (compact json.dumps, ensure_ascii off).
    entries = [dict(endpoint=ep, json=json.dumps(generate_schema(f), ensure_ascii=False)) for ep, f in handlers]
    cases.append(dict(name="syft_event_handlers", entries=entries))
    # The same with pretty-printed, ASCII-escaped input: the output must not depend on the input's formatting.
    entries = [dict(endpoint=ep, json=json.dumps(generate_schema(f), indent=4)) for ep, f in handlers]
    cases.append(dict(name="syft_event_handlers_pretty_input", entries=entries))
    cases.append(dict(name="empty", entries=[]))
    cases.append(dict(name="empty_entry", entries=[dict(endpoint="/ping", json="")]))
    cases.append(
        dict(
            name="numbers",
            entries=[
                dict(
                    endpoint="/n",
                    json='{"i":1,"neg":-7,"z":0,"nz":-0,"big":123456789012345678901234567890,'
                    '"f":1.0,"f2":1.50,"e":1e5,"e2":1E-5,"e3":2.5e-7,"small":0.0001,"tiny":1.5e-300,'
                    '"e16":1e16,"e15":1e15,"long":123456789.123456789,"nf":-0.0,"third":0.3333333333333333333,'
                    '"inf":1e400,"ninf":-1e400,"x":12345678901234567.0}',
                )
            ],
        )
    )
    cases.append(
        dict(
            name="strings_and_nesting",
            entries=[
                dict(
                    endpoint="/s",
                    json='{"a":"\\u00e9 😀 \\u2028 <>& \\"q\\" \\\\ / \\t\\n\\r\\b\\f \\u0000\\u001b\\u007f","nested":'
                    '{"l":[[],{},[1,[2,{"k":[]}]],true,false,null],"e":{}},"ünï":"ключ"}',
                ),
                dict(endpoint="/dup", json='{"a":1,"b":2,"a":3}'),
            ],
        )
    )
    cases.append(
        dict(
            name="duplicate_endpoints",
            entries=[
                dict(endpoint="/a", json='{"v":1}'),
                dict(endpoint="/b", json='{"v":2}'),
                dict(endpoint="/a", json='{"v":3}'),
            ],
        )
    )
    for c in cases:
        schema = {}
        for e in c["entries"]:
            schema[e["endpoint"]] = (
                json.loads(e["json"]) if e["json"].strip() else {"description": None, "args": {}, "returns": "any"}
            )
        c["want"] = json.dumps(schema, indent=2)
    return cases


def write_schema() -> None:
    SCHEMA.mkdir(parents=True, exist_ok=True)
    (SCHEMA / "cases.json").write_text(json.dumps(schema_cases(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    write_messages()
    write_schema()
    print(f"wrote {VECTORS} and {SCHEMA}", file=sys.stderr)
