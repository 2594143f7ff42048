"""auto_decrypt and encrypt_reply with syft-crypto, as syft-event 0.4.3 does."""

from __future__ import annotations

import json

import pytest
from conftest import OWNER, SENDER, start
from syft_crypto import EncryptedPayload, decrypt_message, x3dh_bootstrap

from syft_sidecar import Request


@pytest.fixture
def keys(datasite, monkeypatch):
    # syft-crypto asks the SyftBox server for DID documents first; the tests
    # are offline and read the local (shared) datasites instead.
    monkeypatch.setattr(x3dh_bootstrap, "_fetch_did_from_server", lambda *a: None)
    assert x3dh_bootstrap.bootstrap_user(datasite.owner, force=True)
    assert x3dh_bootstrap.bootstrap_user(datasite.sender, force=True)


def test_auto_decrypt_and_encrypt_reply(datasite, make_app, keys):
    box = make_app("crypto")

    @box.on_request("/open")
    def opened(req: Request) -> dict:
        return {"body": req.text(), "headers": req.headers}

    @box.on_request("/sealed", encrypt_reply=True)
    def sealed(text: str) -> str:
        return f"sealed {text}"

    @box.on_request("/raw", auto_decrypt=False)
    def raw(req: Request) -> bytes:
        return req.body or b""

    start(box)
    r = datasite.call("crypto", "/open", "top secret", encrypt=True)
    assert r.status_code == 200
    got = json.loads(r.body)
    assert got["body"] == "top secret"
    assert got["headers"]["X-Syft-Decrypted"] == "true"
    assert got["headers"]["X-Syft-Original-Sender"] == SENDER

    r = datasite.call("crypto", "/sealed", "note", encrypt=True)
    assert r.status_code == 200
    payload = EncryptedPayload.model_validate_json(r.body)
    assert (payload.sender, payload.receiver) == (OWNER, SENDER)
    assert decrypt_message(payload, client=datasite.sender) == "sealed note"

    # auto_decrypt=False: the handler gets the payload as it came.
    r = datasite.call("crypto", "/raw", "x", encrypt=True)
    assert EncryptedPayload.model_validate_json(r.body).receiver == OWNER

    # A plain request to an auto_decrypt endpoint is left alone.
    r = datasite.call("crypto", "/open", "plain")
    assert json.loads(r.body) == {"body": "plain", "headers": {}}
