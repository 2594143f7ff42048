"""Bodies byte-identical to syft-rpc's serialize, with and without pydantic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from pydantic import BaseModel
from syft_rpc.rpc import serialize as syft_rpc_serialize

from syft_sidecar import _serialize


class M(BaseModel):
    a: int
    b: str = "ü"


@dataclass
class D:
    x: int
    y: list


VALUES: list[Any] = [
    None,
    b"\x00raw",
    "text ü",
    "",
    {"a": 1, "b": [1, 2.5, None, True], "c": {"d": "ü €"}},
    {},
    M(a=1),
    D(x=1, y=[1, "a"]),
    [1, "two", 3.0],
    (1, 2),
    1.5,
    7,
    True,
]


@pytest.mark.parametrize("value", VALUES, ids=[type(v).__name__ for v in VALUES])
def test_as_syft_rpc(value):
    assert _serialize.serialize(value) == syft_rpc_serialize(value)


@pytest.mark.parametrize(
    "value", [v for v in VALUES if isinstance(v, dict) or type(v) is D], ids=str
)
def test_without_pydantic(value, monkeypatch):
    expected = syft_rpc_serialize(value)
    monkeypatch.setattr(_serialize, "_GenericModel", None)
    assert _serialize.serialize(value) == expected
