"""The client installed beside Flower: flwr 1.23.0 (what syft-flwr 0.4.3
requires) pins protobuf<5, so the client's stubs must run on that runtime in
the same process as Flower's own generated code. make test runs this in a
venv of its own with flwr installed (Makefile: test-python-range)."""

from importlib.metadata import version

import pytest
from conftest import start

from syft_sidecar import SyftEvents

pytestmark = pytest.mark.flwr


def test_answers_beside_flwr(datasite, make_app):
    # Flower's generated messages register in the same descriptor pool.
    from flwr.proto import fleet_pb2, transport_pb2

    assert version("flwr") == "1.23.0"
    assert int(version("protobuf").split(".")[0]) < 5, "flwr 1.23.0 should hold protobuf below 5"

    box: SyftEvents = make_app("fl")

    @box.on_request("/round")
    def round_(n: int) -> dict:
        msg = transport_pb2.Scalar(sint64=n)
        return {"round": msg.sint64 + 1, "fleet": fleet_pb2.DESCRIPTOR.package}

    start(box)
    resp = datasite.call("fl", "/round", 41)
    assert resp.status_code == 200, resp.body
    assert resp.json() == {"round": 42, "fleet": "flwr.proto"}
