"""The real syft-rpc from PyPI as the peer: it sends requests and reads our responses."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from conftest import OWNER
from syft_core.url import SyftBoxURL
from syft_rpc import rpc
from syft_rpc.protocol import SyftRequest, SyftResponse


def test_send_and_wait_returns_the_echoed_body(datasite):
    datasite.start_sidecar()
    datasite.start_echo("echo")
    future = rpc.send(
        url=f"syft://{OWNER}/app_data/echo/rpc/echo",
        method="POST",
        body={"question": "ping", "n": 1},
        client=datasite.client(),
        cache=False,
    )
    resp = future.wait(timeout=20)
    assert resp.status_code == 200
    assert resp.json() == {"question": "ping", "n": 1}
    assert resp.sender == OWNER
    assert str(resp.id) == str(future.id)


def test_requests_sent_before_the_sidecar_starts_are_answered(datasite):
    client = datasite.client()
    futures = [
        rpc.send(
            url=f"syft://{OWNER}/app_data/echo/rpc/echo",
            body=f"msg {i}",
            client=client,
            cache=False,
        )
        for i in range(20)
    ]
    # Read the responses straight from disk, before the future deletes them.
    paths = [f.response_path for f in futures]
    datasite.start_sidecar()
    datasite.start_echo("echo")
    for i, f in enumerate(futures):
        resp = f.wait(timeout=20)
        assert resp.status_code == 200
        assert resp.text() == f"msg {i}"
    assert not any(p.exists() for p in paths), "syft-rpc cleans up what it read"


def test_unknown_endpoint_gets_404(datasite):
    datasite.start_sidecar()
    datasite.start_echo("echo")
    future = rpc.send(
        url=f"syft://{OWNER}/app_data/echo/rpc/nothing-here",
        client=datasite.client(),
        cache=False,
    )
    resp = future.wait(timeout=20)
    assert resp.status_code == 404


def test_expired_request_gets_419_read_by_syft_rpc(datasite):
    datasite.start_sidecar()
    datasite.start_echo("echo")
    client = datasite.client()
    url = SyftBoxURL(f"syft://{OWNER}/app_data/echo/rpc/echo")
    now = datetime.now(UTC)
    req = SyftRequest(
        sender=client.email,
        url=url,
        body=b"late",
        created=now - timedelta(minutes=2),
        expires=now - timedelta(minutes=1),
    )
    folder = url.to_local_path(client.workspace.datasites) / client.email
    folder.mkdir(parents=True, exist_ok=True)
    req.dump(folder / f"{req.id}.request")
    response_path = folder / f"{req.id}.response"
    deadline = time.monotonic() + 20
    while not response_path.exists():
        assert time.monotonic() < deadline, "no response"
        time.sleep(0.01)
    resp = SyftResponse.load(response_path)
    assert resp.status_code == 419
    assert resp.id == req.id
    assert resp.expires == req.expires
