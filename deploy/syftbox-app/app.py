"""An echo app in syft-event's API, served through syft-sidecar.

POST syft://{owner}/app_data/{app}/rpc/echo answers with the request's
body. The app's name is its folder's name under {data_dir}/apps/.
"""

from __future__ import annotations

import os
from pathlib import Path

from syft_core import Client
from syft_sidecar import Request, SyftEvents

app_dir = Path(os.environ.get("SYFTBOX_APP_DIR", Path(__file__).resolve().parent))
box = SyftEvents(app_dir.name, client=Client.load())


@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""


if __name__ == "__main__":
    box.run_forever()
