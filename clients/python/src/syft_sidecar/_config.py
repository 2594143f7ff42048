"""The SyftBox config and the sidecar's default address.

Found exactly as the sidecar finds it (syftconfig/ in the Go module): the file from
``$SYFTBOX_CLIENT_CONFIG_PATH``, else ``~/.syftbox/config.json``; then
``$SYFTBOX_EMAIL`` / ``$SYFTBOX_DATA_DIR``. The default address is
``unix://{data_dir}/.syft-sidecar/sidecar.sock`` (on Windows
``unix:C:/.../sidecar.sock``); ``$SYFT_SIDECAR_ADDR`` comes before it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePath, PureWindowsPath
from typing import Any, Optional

ENV_CONFIG_PATH = "SYFTBOX_CLIENT_CONFIG_PATH"
ENV_EMAIL = "SYFTBOX_EMAIL"
ENV_DATA_DIR = "SYFTBOX_DATA_DIR"
ENV_SIDECAR_ADDR = "SYFT_SIDECAR_ADDR"
STATE_DIR_NAME = ".syft-sidecar"
SOCKET_NAME = "sidecar.sock"

_EMAIL_RE = re.compile(r"^[a-zA-Z0-9_.+-]+@[a-zA-Z0-9-]+\.[a-zA-Z0-9-.]+$")


class ConfigError(RuntimeError):
    """No SyftBox config could be found or read."""


class LocalClient:
    """The part of syft-core's ``Client`` that SyftEvents uses, for apps
    without syft-core."""

    def __init__(self, email: str, data_dir: Path, config_path: Optional[Path] = None) -> None:
        self.email = email
        self.data_dir = data_dir
        self.config_path = config_path

    @property
    def datasites(self) -> Path:
        return self.data_dir / "datasites"

    @property
    def my_datasite(self) -> Path:
        return self.datasites / self.email

    def app_data(self, app_name: str, datasite: Optional[str] = None) -> Path:
        return self.datasites / (datasite or self.email) / "app_data" / app_name

    def __repr__(self) -> str:
        return f"LocalClient(email={self.email!r}, data_dir={str(self.data_dir)!r})"


def _expand_home(p: str) -> str:
    if p == "~" or p.startswith("~/"):
        return str(Path.home()) + p[1:]
    return p


def load_config() -> LocalClient:
    """The SyftBox config, resolved as the sidecar resolves it."""
    email = data_dir = ""
    path_s = os.environ.get(ENV_CONFIG_PATH, "")
    explicit = path_s != ""
    if not path_s:
        try:
            path_s = str(Path.home() / ".syftbox" / "config.json")
        except RuntimeError:
            path_s = ""
    found: Optional[Path] = None
    if path_s:
        try:
            raw = Path(_expand_home(path_s)).read_bytes()
        except FileNotFoundError:
            if explicit:
                raise ConfigError(f"read syftbox config: {path_s} does not exist") from None
        except OSError as e:
            raise ConfigError(f"read syftbox config: {e}") from e
        else:
            try:
                f: Any = json.loads(raw)
            except ValueError as e:
                raise ConfigError(f"parse syftbox config {path_s}: {e}") from e
            if not isinstance(f, dict):
                raise ConfigError(f"parse syftbox config {path_s}: not a JSON object")
            email = str(f.get("email") or "")
            data_dir = str(f.get("data_dir") or f.get("sync_folder") or "")
            found = Path(path_s)
    email = os.environ.get(ENV_EMAIL) or email
    data_dir = os.environ.get(ENV_DATA_DIR) or data_dir
    if not email and not data_dir:
        raise ConfigError(
            f"no syftbox config: pass client=, or set {ENV_CONFIG_PATH}, "
            f"or {ENV_EMAIL} and {ENV_DATA_DIR}"
        )
    if not email:
        raise ConfigError(f"no syftbox config: no email: set {ENV_EMAIL}")
    if not data_dir:
        raise ConfigError(f"no syftbox config: no data dir: set {ENV_DATA_DIR}")
    email = email.strip().lower()
    if not _EMAIL_RE.match(email):
        raise ConfigError(f"invalid email {email!r}")
    return LocalClient(email, Path(os.path.abspath(_expand_home(data_dir))), found)


def load_client() -> Any:
    """syft-core's ``Client.load()`` when syft-core is installed, else the
    config found as the sidecar finds it."""
    try:
        from syft_core import Client
    except ImportError:
        return load_config()
    return Client.load()


def client_data_dir(client: Any) -> Optional[Path]:
    """The data dir of a syft-core ``Client`` or a ``LocalClient``."""
    if isinstance(client, LocalClient):
        return client.data_dir
    config = getattr(client, "config", None)
    d = getattr(config, "data_dir", None)
    if d is not None:
        return Path(os.path.abspath(os.path.expanduser(str(d))))
    datasites = getattr(client, "datasites", None)
    if datasites is not None:
        return Path(os.path.abspath(str(datasites))).parent
    return None


def default_address(data_dir: Path) -> str:
    return unix_target(data_dir / STATE_DIR_NAME / SOCKET_NAME)


def unix_target(sock: PurePath) -> str:
    """The gRPC target of the unix socket at the absolute path ``sock``.

    On Windows ``unix:C:/path``, as the sidecar's own default: gRPC reads
    ``unix://C:\\path`` as an authority and a path, and finds no socket.
    """
    if isinstance(sock, PureWindowsPath):
        return "unix:" + sock.as_posix()
    return "unix://" + str(sock)


def normalize_address(addr: str) -> str:
    """A gRPC target: ``/path`` becomes ``unix:///path``; ``tcp://`` is dropped."""
    if addr.startswith("/"):
        return "unix://" + addr
    if addr.startswith("tcp://"):
        return addr[len("tcp://") :]
    return addr


def resolve_address(sidecar: Optional[str], client: Any, client_given: bool) -> str:
    """``sidecar``, else ``$SYFT_SIDECAR_ADDR``, else the default address of
    the SyftBox config (the given client's, or the one found as the sidecar
    finds it)."""
    if sidecar:
        return normalize_address(sidecar)
    env = os.environ.get(ENV_SIDECAR_ADDR)
    if env:
        return normalize_address(env)
    if client_given:
        d = client_data_dir(client)
        if d is not None:
            return default_address(d)
    return default_address(load_config().data_dir)
