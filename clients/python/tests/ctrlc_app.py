"""An app run as its own process by test_ctrl_c: run_forever() until SIGINT."""

import logging
import sys
import time
from pathlib import Path

from syft_core import Client

from syft_sidecar import SyftEvents

config, addr, folder = sys.argv[1], sys.argv[2], Path(sys.argv[3])
logging.basicConfig(filename=folder / "log", level=logging.INFO)
box = SyftEvents("ctrlc", client=Client.load(config), sidecar=addr)


@box.on_request("/job")
def job() -> str:
    (folder / "entered").touch()
    while not (folder / "release").exists():  # the test says when to finish
        time.sleep(0.005)
    return "finished"


box.run_forever()
print("exited cleanly", flush=True)
