"""Versions are exchanged at registration: the app learns the sidecar's, and
the sidecar logs the client's (it names both when it refuses a Register)."""

import subprocess

from conftest import _sidecar_bin, start

from syft_sidecar import SyftEvents
from syft_sidecar._session import CLIENT_VERSION
from syft_sidecar.testing import wait_for


def test_versions_exchanged(sidecar, make_app):
    box: SyftEvents = make_app("ver")

    @box.on_request("/v")
    def v() -> str:
        return "v"

    start(box)
    out = subprocess.run(
        [_sidecar_bin(), "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert box.sidecar_version == out.split()[1]
    assert CLIENT_VERSION.startswith("syft-sidecar-python 0.")
    wait_for(
        lambda: f'client="{CLIENT_VERSION}"' in sidecar.logs[-1].read_text(),
        "the sidecar's log of the client version",
    )
