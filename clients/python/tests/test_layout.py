"""The package's shape: no import circle between its modules (counting the
imports inside functions and under TYPE_CHECKING, which hide one), and one
module that makes gRPC channels and reads the token."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set

import pytest

PKG = Path(__file__).resolve().parents[1] / "src" / "syft_sidecar"
NAME = "syft_sidecar"


def _sources() -> Dict[str, Path]:
    """Module name -> file, without the generated stubs."""
    out = {}
    for f in sorted(PKG.glob("*.py")):
        mod = NAME if f.stem == "__init__" else f"{NAME}.{f.stem}"
        out[mod] = f
    return out


def _imports(mod: str, path: Path, known: Set[str]) -> Set[str]:
    """The package's modules that ``mod`` imports, anywhere in its file."""
    package = mod if path.stem == "__init__" else mod.rsplit(".", 1)[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            # "from . import _crypto" imports the module _crypto.
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    found.add(f"{target}.{alias.name}")
            if target in known:
                found.add(target)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in known}
    found.discard(mod)
    return found


def _graph() -> Dict[str, Set[str]]:
    src = _sources()
    return {m: _imports(m, p, set(src)) for m, p in src.items()}


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One import circle among the modules (the package's __init__ aside,
    which imports the rest by design), or [] when there is none."""
    mods = {m: deps - {NAME} for m, deps in graph.items() if m != NAME}
    state: Dict[str, int] = {}  # 1: on the path, 2: done
    path: List[str] = []

    def visit(m: str) -> List[str]:
        state[m] = 1
        path.append(m)
        for d in sorted(mods.get(m, ())):
            if state.get(d) == 1:
                return [*path[path.index(d) :], d]
            if d not in state:
                found = visit(d)
                if found:
                    return found
        path.pop()
        state[m] = 2
        return []

    for m in sorted(mods):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return []


def test_the_walk_sees_imports():
    g = _graph()
    assert f"{NAME}._calls" in g[f"{NAME}._server"]
    assert f"{NAME}._crypto" in g[f"{NAME}._calls"]  # "from . import _crypto"
    assert f"{NAME}._session" in g[f"{NAME}._connection"]


def test_no_import_circle():
    assert _cycle(_graph()) == []


def test_the_check_finds_a_circle():
    g = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": set()}
    assert _cycle(g) == ["p.a", "p.b", "p.c", "p.a"]


@pytest.mark.parametrize("needle", ["insecure_channel(", "secure_channel(", '"SYFT_SIDECAR_TOKEN"'])
def test_one_module_dials(needle: str):
    where = sorted(p.name for p in PKG.glob("*.py") if needle in p.read_text())
    assert where == ["_channel.py"]


def test_crypto_imported_on_first_use():
    """syft-crypto (with cryptography, jwcrypto, loguru) is a third of the
    client's import time: an app that never encrypts does not pay it."""
    code = "import sys, syft_sidecar; print('syft_crypto' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
