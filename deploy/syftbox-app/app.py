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
# run.sh has started the datasite's sidecar (or found one): the app waits for
# it rather than starting its own, which would be the app's child, and the
# SyftBox client signals all of an app's descendants when it stops the app.
box = SyftEvents(app_dir.name, client=Client.load(), spawn_sidecar=False)


@box.on_request("/echo")
def echo(req: Request) -> bytes:
    return req.body or b""


if __name__ == "__main__":
    box.run_forever()
