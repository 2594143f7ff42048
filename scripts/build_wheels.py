"""Builds the Python client's platform wheels, each carrying the sidecar.

As ruff and uv ship their binaries: the Go binary goes into the wheel's
``{dist}.data/scripts/``, which pip installs beside the interpreter as the
``syft-sidecar`` command, so ``pip install syft-sidecar`` brings a sidecar
the client can start. The Python code is the same in every wheel; only the
binary and the platform tag differ. Uses the ``wheel`` package (PyPA) to
unpack and repack, which rewrites RECORD with the new file's hash.

    python scripts/build_wheels.py [--out dist] [--target linux/amd64 ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLIENT = ROOT / "clients" / "python"

# GOOS/GOARCH -> the wheel platform tags the static binary runs on. The
# binary is built with CGO_ENABLED=0, so it needs no libc: any glibc or musl
# Linux. Go 1.26 runs on macOS 12 and later.
TARGETS = {
    "linux/amd64": [
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "musllinux_1_1_x86_64",
    ],
    "linux/arm64": [
        "manylinux_2_17_aarch64",
        "manylinux2014_aarch64",
        "musllinux_1_1_aarch64",
    ],
    "darwin/amd64": ["macosx_12_0_x86_64"],
    "darwin/arm64": ["macosx_12_0_arm64"],
    "windows/amd64": ["win_amd64"],
}


def run(*args: str, **kw) -> None:
    subprocess.run(args, check=True, **kw)


def version() -> str:
    out = subprocess.run(
        ["git", "describe", "--tags", "--always", "--dirty"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip() or "dev"


def build_binary(target: str, out: Path) -> None:
    goos, goarch = target.split("/")
    env = dict(os.environ, CGO_ENABLED="0", GOOS=goos, GOARCH=goarch)
    ldflags = f"-s -w -X main.version={version()}"
    run(
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        ldflags,
        "-o",
        str(out),
        "./cmd/syft-sidecar",
        cwd=ROOT,
        env=env,
    )


def pure_wheel(work: Path) -> Path:
    # A copy, so that setuptools leaves no build/ or egg-info in the tree.
    src = work / "client"
    shutil.copytree(
        CLIENT, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "tests")
    )
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "-q",
        "--no-deps",
        "--disable-pip-version-check",
        "-w",
        str(work),
        str(src),
    )
    (whl,) = work.glob("syft_sidecar-*-py3-none-any.whl")
    return whl


def platform_wheel(pure: Path, target: str, work: Path, out: Path) -> Path:
    unpacked = work / target.replace("/", "-")
    run(sys.executable, "-m", "wheel", "unpack", "-d", str(unpacked), str(pure))
    (tree,) = unpacked.iterdir()
    dist = tree.name  # syft_sidecar-0.1.0
    scripts = tree / f"{dist}.data" / "scripts"
    scripts.mkdir(parents=True)
    exe = "syft-sidecar.exe" if target.startswith("windows/") else "syft-sidecar"
    build_binary(target, scripts / exe)
    (scripts / exe).chmod(0o755)

    meta = tree / f"{dist}.dist-info" / "WHEEL"
    lines = [
        ln
        for ln in meta.read_text().splitlines()
        if ln.strip() and not ln.startswith(("Tag:", "Root-Is-Purelib:"))
    ]
    # The wheel holds a binary: not pure, and installed only where it runs.
    lines.append("Root-Is-Purelib: false")
    lines += [f"Tag: py3-none-{plat}" for plat in TARGETS[target]]
    meta.write_text("\n".join(lines) + "\n")

    before = set(out.glob("*.whl"))
    run(sys.executable, "-m", "wheel", "pack", "-d", str(out), str(tree))
    (whl,) = set(out.glob("*.whl")) - before
    return whl


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "dist")
    ap.add_argument(
        "--target",
        action="append",
        choices=sorted(TARGETS),
        help="GOOS/GOARCH; every one when not given",
    )
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pure = pure_wheel(work)
        for target in a.target or sorted(TARGETS):
            old = [
                p
                for p in a.out.glob("syft_sidecar-*.whl")
                if any(plat in p.name for plat in TARGETS[target])
            ]
            for p in old:
                p.unlink()
            print(platform_wheel(pure, target, work, a.out).name)


if __name__ == "__main__":
    main()
