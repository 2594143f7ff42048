"""The default address names the socket as gRPC parses it, on every OS."""

from pathlib import PurePosixPath, PureWindowsPath

from syft_sidecar._config import unix_target


def test_unix_target_posix() -> None:
    sock = PurePosixPath("/home/bob/SyftBox/.syft-sidecar/sidecar.sock")
    assert unix_target(sock) == "unix:///home/bob/SyftBox/.syft-sidecar/sidecar.sock"


def test_unix_target_windows() -> None:
    # unix://C:\... would be read as the authority "C:\..." and no path.
    sock = PureWindowsPath(r"C:\Users\bob\SyftBox\.syft-sidecar\sidecar.sock")
    assert unix_target(sock) == "unix:C:/Users/bob/SyftBox/.syft-sidecar/sidecar.sock"
