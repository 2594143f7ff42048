"""The one place that makes gRPC channels to the sidecar and reads its token.

``SyftEvents`` and ``PeriodicCleanup`` both dial through a ``Dial``, so a
sidecar started with ``--token-file`` gets the token (``token=`` or
``$SYFT_SIDECAR_TOKEN``) from every call, and TLS credentials apply alike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import grpc

from ._pb.syftsidecar.v1 import sidecar_pb2_grpc as pb_grpc
from ._session import MAX_REPLY_BYTES

ENV_TOKEN = "SYFT_SIDECAR_TOKEN"

# The reconnect backoff of gRPC's channel, and of the client's own loop.
MIN_BACKOFF = 0.1
MAX_BACKOFF = 5.0
# The largest request message the client takes: the sidecar reads request
# files up to 64 MiB (--max-request-size), so every one fits.
MAX_MESSAGE = 256 << 20
# A reply at the sidecar's limit, and the message around it.
MAX_SEND = MAX_REPLY_BYTES + (64 << 10)

Metadata = Tuple[Tuple[str, str], ...]


def channel_options() -> List[Tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", MAX_MESSAGE),
        ("grpc.max_send_message_length", MAX_SEND),
        ("grpc.initial_reconnect_backoff_ms", int(MIN_BACKOFF * 1000)),
        ("grpc.min_reconnect_backoff_ms", int(MIN_BACKOFF * 1000)),
        ("grpc.max_reconnect_backoff_ms", int(MAX_BACKOFF * 1000)),
    ]


def bearer(token: Optional[str]) -> Metadata:
    """The call metadata that carries ``token`` (``$SYFT_SIDECAR_TOKEN``
    when ``None``); none for an empty token."""
    tok = (token if token is not None else os.environ.get(ENV_TOKEN, "")).strip()
    if "\n" in tok or "\r" in tok:
        raise ValueError("token: holds a line break")
    return (("authorization", f"Bearer {tok}"),) if tok else ()


@dataclass(frozen=True)
class Dial:
    """How to reach one sidecar: its address, the token's metadata (sent
    with every call) and the channel credentials (TLS; none: plaintext)."""

    address: str
    metadata: Metadata = ()
    credentials: Optional[grpc.ChannelCredentials] = None

    @classmethod
    def to(
        cls,
        address: str,
        token: Optional[str] = None,
        credentials: Optional[grpc.ChannelCredentials] = None,
    ) -> Dial:
        return cls(address, bearer(token), credentials)

    def channel(self) -> grpc.Channel:
        if self.credentials is not None:
            return grpc.secure_channel(self.address, self.credentials, channel_options())
        return grpc.insecure_channel(self.address, options=channel_options())


def stub(channel: grpc.Channel) -> pb_grpc.SidecarServiceStub:
    return pb_grpc.SidecarServiceStub(channel)  # type: ignore[no-untyped-call]
