"""Every public name of the installed syft-event exists in syft_sidecar under
the same module path, with a signature that accepts every call syft-event's
accepts. What cannot mean the same is in GAPS, each with its reason, and in
the README; a new gap, or a gap closed without updating GAPS, fails here."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Set, Tuple

import pytest
import syft_event
from conftest import Datasite

README = Path(__file__).resolve().parents[1] / "README.md"

# (syft-event's qualified name): why syft_sidecar has no counterpart. Each is
# named in the README's "What does not carry over".
GAPS: Dict[str, str] = {
    "syft_event.handlers.RpcRequestHandler": "a watchdog handler for the app's own observer",
    "syft_event.handlers.AnyPatternHandler": "a watchdog handler for the app's own observer",
    "syft_event.server2.LEGACY_REQUEST_PATH_PATTERN": "the sidecar matches request paths",
    "syft_event.server2.REQUEST_PATH_PATTERN": "the sidecar matches request paths",
    "syft_event.server2.SyftEvents.obs": "the sidecar watches the files; no in-process observer",
}

_SKIP_DUNDERS = {"__module__", "__doc__", "__dict__", "__weakref__", "__annotations__"}


def _modules() -> Iterator[ModuleType]:
    yield syft_event
    for info in pkgutil.walk_packages(syft_event.__path__, "syft_event."):
        yield importlib.import_module(info.name)


def _source_tree(mod: ModuleType) -> ast.Module:
    return ast.parse(inspect.getsource(mod))


def _public_names(mod: ModuleType) -> List[str]:
    """``__all__`` where the module has one; else what the module itself
    defines at top level (not what it imports, not ``if __name__`` blocks)."""
    declared = getattr(mod, "__all__", None)
    if declared is not None:
        return list(declared)
    names: List[str] = []
    for node in _source_tree(mod).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def _instance_attrs(cls: type) -> Set[str]:
    """Public attributes a class's methods assign on ``self``."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return set()
    out: Set[str] = set()
    for node in ast.walk(tree):
        targets: List[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            if (
                isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
                and not t.attr.startswith("_")
            ):
                out.add(t.attr)
    return out


def _accepts_all_calls(theirs: Callable[..., Any], ours: Callable[..., Any]) -> Optional[str]:
    """None when every call that binds to ``theirs`` binds to ``ours``:
    the same parameters in the same order and kinds, a default wherever they
    have one; ours may add parameters with defaults."""
    try:
        ts = inspect.signature(theirs)
        os_ = inspect.signature(ours)
    except (TypeError, ValueError):
        return None  # builtins without signatures: nothing to compare
    tp, op = list(ts.parameters.values()), list(os_.parameters.values())
    by_name = {p.name: p for p in op}
    for i, t in enumerate(tp):
        o = by_name.get(t.name)
        if o is None:
            if t.kind is t.VAR_KEYWORD and any(p.kind is p.VAR_KEYWORD for p in op):
                continue
            return f"parameter {t.name!r} is missing ({ts} vs {os_})"
        if t.kind in (t.POSITIONAL_ONLY, t.POSITIONAL_OR_KEYWORD):
            if i >= len(op) or op[i].name != t.name or o.kind is o.KEYWORD_ONLY:
                return f"parameter {t.name!r} is not at position {i} ({ts} vs {os_})"
        if t.kind is not o.kind and not (
            t.kind is t.KEYWORD_ONLY and o.kind is o.POSITIONAL_OR_KEYWORD
        ):
            return f"parameter {t.name!r} is {o.kind}, not {t.kind}"
        if t.default is not t.empty and o.default is o.empty:
            return f"parameter {t.name!r} has no default ({ts} vs {os_})"
    for o in op:
        if (
            o.name not in ts.parameters
            and o.default is o.empty
            and o.kind
            not in (
                o.VAR_POSITIONAL,
                o.VAR_KEYWORD,
            )
        ):
            return f"our parameter {o.name!r} is required ({ts} vs {os_})"
    return None


def _is_model(cls: type) -> bool:
    return hasattr(cls, "model_fields") and isinstance(cls.model_fields, dict)


def _compare_class(qual: str, theirs: type, ours: Any, found: List[Tuple[str, str]]) -> None:
    if not inspect.isclass(ours):
        found.append((qual, f"is {type(ours).__name__}, not a class"))
        return
    if _is_model(theirs):
        if not _is_model(ours):
            found.append((qual, "is not a pydantic model"))
            return
        for name, field in theirs.model_fields.items():
            mine = ours.model_fields.get(name)
            if mine is None:
                found.append((f"{qual}.{name}", "field is missing"))
            elif mine.is_required() != field.is_required():
                found.append((f"{qual}.{name}", "required differs"))
        extra = {n for n, f in ours.model_fields.items() if f.is_required()}
        extra -= set(theirs.model_fields)
        if extra:
            found.append((qual, f"requires more fields: {sorted(extra)}"))
        return
    for name, member in vars(theirs).items():
        if name in _SKIP_DUNDERS or (name.startswith("_") and not name.startswith("__")):
            continue
        sub = f"{qual}.{name}"
        mine = getattr(ours, name, None)
        if mine is None or (name.startswith("__") and mine is getattr(object, name, None)):
            found.append((sub, "is missing"))
            continue
        if callable(member) and not isinstance(member, type):
            why = _accepts_all_calls(member, mine)
            if why is not None:
                found.append((sub, why))
    attrs = _instance_attrs(theirs)
    if attrs:
        instance = INSTANCES.get(qual)
        if instance is None:
            found.append((qual, "has instance attributes: add a builder to INSTANCES"))
            return
        obj = instance()
        for a in sorted(attrs):
            if not hasattr(obj, a):
                found.append((f"{qual}.{a}", "instance attribute is missing"))


def _differences(ds: Datasite) -> List[Tuple[str, str]]:
    INSTANCES.update(_builders(ds))
    found: List[Tuple[str, str]] = []
    for mod in _modules():
        ours_name = "syft_sidecar" + mod.__name__[len("syft_event") :]
        try:
            ours_mod = importlib.import_module(ours_name)
        except ImportError as e:
            found.append((mod.__name__, f"no module {ours_name}: {e}"))
            continue
        for name in _public_names(mod):
            qual = f"{mod.__name__}.{name}"
            theirs = getattr(mod, name)
            try:
                ours = getattr(ours_mod, name)
            except AttributeError:
                found.append((qual, "is missing"))
                continue
            if getattr(theirs, "__module__", mod.__name__) != mod.__name__:
                continue  # a re-export: compared where it is defined
            if inspect.isclass(theirs):
                _compare_class(qual, theirs, ours, found)
            elif callable(theirs):
                why = _accepts_all_calls(theirs, ours)
                if why is not None:
                    found.append((qual, why))
    return found


# Classes whose instances carry attributes set in __init__: how to build
# ours, to look for them.
INSTANCES: Dict[str, Callable[[], Any]] = {}


def _builders(ds: Datasite) -> Dict[str, Callable[[], Any]]:
    import syft_sidecar
    from syft_sidecar.cleanup import CleanupStats, PeriodicCleanup

    return {
        "syft_event.server2.SyftEvents": lambda: syft_sidecar.SyftEvents(
            "surface", client=ds.owner, sidecar="unix:///nowhere"
        ),
        "syft_event.cleanup.PeriodicCleanup": lambda: PeriodicCleanup(
            "surface", client=ds.owner, sidecar="unix:///nowhere"
        ),
        "syft_event.cleanup.CleanupStats": CleanupStats,
        "syft_event.router.EventRouter": syft_sidecar.EventRouter,
    }


def test_every_public_name_of_syft_event_exists(datasite):
    assert syft_event.__version__ == "0.4.3", "GAPS was drawn up against syft-event 0.4.3"
    found = _differences(datasite)
    missing = {q: why for q, why in found}
    unexplained = {q: why for q, why in missing.items() if q not in GAPS}
    assert not unexplained, f"differences from syft-event not in GAPS: {unexplained}"
    closed = set(GAPS) - set(missing)
    assert not closed, f"GAPS lists names that now exist: {sorted(closed)}"


def test_gaps_are_in_the_readme():
    text = README.read_text()
    for qual in GAPS:
        short = qual[len("syft_event.") :]
        assert short in text, f"README does not name {short} (in GAPS)"


def test_the_walk_sees_what_it_must():
    # The check is only as good as its walk: it reaches every module and
    # the names apps use, so a gap cannot hide from it.
    mods = {m.__name__ for m in _modules()}
    assert {
        "syft_event.server2",
        "syft_event.cleanup",
        "syft_event.deps",
        "syft_event.handlers",
        "syft_event.router",
        "syft_event.schema",
        "syft_event.types",
    } <= mods
    server2 = importlib.import_module("syft_event.server2")
    assert {"SyftEvents", "PERMS", "DEFAULT_WATCH_EVENTS"} <= set(_public_names(server2))
    cleanup = importlib.import_module("syft_event.cleanup")
    assert "create_cleanup_callback" in _public_names(cleanup)
    assert {"obs", "app_rpc_dir", "state"} <= _instance_attrs(server2.SyftEvents)


@pytest.mark.parametrize(
    "theirs,ours,ok",
    [
        ("def f(a, b=1): ...", "def f(a, b=1, *, c=2): ...", True),
        ("def f(a, b=1): ...", "def f(a, b): ...", False),
        ("def f(a, b): ...", "def f(b, a): ...", False),
        ("def f(a): ...", "def f(a, c): ...", False),
        ("def f(a, *, k=1): ...", "def f(a, k=1): ...", True),
        ("def f(a, b): ...", "def f(a, *, b): ...", False),
    ],
)
def test_signature_rule(theirs, ours, ok):
    def build(src: str) -> Callable[..., Any]:
        ns: Dict[str, Any] = {}
        exec(src, ns)
        f: Callable[..., Any] = ns["f"]
        return f

    assert (_accepts_all_calls(build(theirs), build(ours)) is None) is ok
