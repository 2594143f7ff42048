"""syft-crypto's X3DH payloads, as syft-event 0.4.3 and syft-rpc 0.4.1 use them."""

from __future__ import annotations

import importlib.util
import json
import logging
from typing import Any, Optional

from ._serialize import serialize
from .types import Request

log = logging.getLogger("syft_sidecar")

# syft-crypto is imported when a payload is first decrypted or encrypted:
# with what it imports (cryptography, jwcrypto, loguru) it is a third of the
# client's import time, which an app that never encrypts would pay at every
# start.
AVAILABLE = importlib.util.find_spec("syft_crypto") is not None


def maybe_encrypted(body: Optional[bytes]) -> bool:
    """Cheap check before the real parse: could this be an EncryptedPayload?"""
    return AVAILABLE and bool(body) and b'"receiver"' in body  # type: ignore[operator]


def decrypt_request(req: Request, client: Any) -> Request:
    """Decrypt a payload addressed to the owner, as syft-event's
    ``_process_encrypted_request``: the body replaced, ``X-Syft-Decrypted``
    and ``X-Syft-Original-Sender`` headers added. Anything else is returned
    unchanged."""
    if not req.body or not maybe_encrypted(req.body):
        return req
    from pydantic import ValidationError
    from syft_crypto import EncryptedPayload, decrypt_message

    try:
        payload = EncryptedPayload.model_validate_json(req.body.decode())
        if payload.receiver != client.email:
            log.debug("encrypted request not for us (intended for %s)", payload.receiver)
            return req
        req.body = decrypt_message(payload, client=client).encode()
        req.headers = req.headers or {}
        req.headers["X-Syft-Decrypted"] = "true"
        req.headers["X-Syft-Original-Sender"] = payload.sender
        return req
    except (json.JSONDecodeError, ValidationError, UnicodeDecodeError):
        return req
    except Exception as e:
        log.warning("decrypt request %s: %s: %s", req.id, type(e).__name__, e or "(empty)")
        return req


def encrypt_body(obj: Any, recipient: str, client: Any) -> Optional[bytes]:
    """syft-rpc's ``serialize(obj, encrypt=True, recipient=..., client=...)``."""
    data = serialize(obj)
    if data is None:
        return None
    if not AVAILABLE:
        raise RuntimeError("encrypt_reply=True needs syft-crypto: pip install syft-crypto")
    from syft_crypto import encrypt_message
    from syft_crypto.x3dh_bootstrap import ensure_bootstrap

    client = ensure_bootstrap(client)
    payload = encrypt_message(message=data.decode(), to=recipient, client=client, verbose=True)
    out: bytes = payload.model_dump_json().encode()
    return out
