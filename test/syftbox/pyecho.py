"""bob's echo app in Python: POST /echo answers with the request's body.

With --syft-event it is syft-event 0.4.3 itself; otherwise the same code with
one import changed serves through syft-sidecar (found from the SyftBox
config, as an app run by the SyftBox client finds it).
"""

from __future__ import annotations

import sys

from syft_core import Client

if "--syft-event" in sys.argv:
    from syft_event import Request, SyftEvents
else:
    from syft_sidecar import Request, SyftEvents  # type: ignore[assignment]

box = SyftEvents(sys.argv[1], client=Client.load())


@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""


box.run_forever()
