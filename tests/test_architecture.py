"""The import graph is the architecture (docs/architecture.md): no cycles, one-way layers.

Every ``import`` in ``src/livepilot`` counts — module level, inside functions and under
``if TYPE_CHECKING:`` — because a cycle hidden behind a lazy import is still a cycle in
the design. Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__`` too; those
implicit parent edges are Python's mechanics, not dependencies, and are not counted.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "livepilot"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: set[str]) -> Iterator[str]:
    """The livepilot modules that ``path`` imports, resolved to modules that exist."""
    is_pkg = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("livepilot"):
                    yield _closest(alias.name, known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join([*base, node.module] if node.module else base)
            else:
                mod = node.module or ""
            if not mod.startswith("livepilot"):
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                yield sub if sub in known else _closest(mod, known)


def _closest(mod: str, known: set[str]) -> str:
    while mod not in known and "." in mod:
        mod = mod.rsplit(".", 1)[0]
    return mod


@functools.cache
def import_graph() -> dict[str, set[str]]:
    # Parsed once per run; the tests only read it.
    modules = _modules()
    known = set(modules)
    return {
        name: {dep for dep in _imports(path, name, known) if dep != name}
        for name, path in modules.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None. Iterative DFS."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    for root in sorted(graph):
        if colour[root] != WHITE:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(graph[root])))]
        path = [root]
        colour[root] = GREY
        while stack:
            node, children = stack[-1]
            for child in children:
                if colour.get(child, BLACK) == GREY:
                    return [*path[path.index(child) :], child]
                if colour.get(child) == WHITE:
                    colour[child] = GREY
                    path.append(child)
                    stack.append((child, iter(sorted(graph[child]))))
                    break
            else:
                colour[node] = BLACK
                path.pop()
                stack.pop()
    return None


def test_the_finder_sees_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_and_type_checking_imports() -> None:
    graph = import_graph()
    # pipeline/runner imports the ingest queue at module level
    assert "livepilot.pipeline.ingest" in graph["livepilot.pipeline.runner"]
    # every stage names StageContext only under TYPE_CHECKING
    assert "livepilot.pipeline.context" in graph["livepilot.stages.moderation.spam"]


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def _deps(prefix: str) -> set[tuple[str, str]]:
    graph = import_graph()
    return {
        (mod, dep)
        for mod, deps in graph.items()
        if mod == prefix or mod.startswith(prefix + ".")
        for dep in deps
    }


def _offending(prefix: str, forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{mod} → {dep}"
        for mod, dep in _deps(prefix)
        if any(dep == f or dep.startswith(f + ".") for f in forbidden)
    )


STAGE_PACKAGES = ("moderation", "audience", "show")


@pytest.mark.parametrize("package", STAGE_PACKAGES)
def test_stage_packages_never_import_each_other(package: str) -> None:
    others = tuple(f"livepilot.stages.{p}" for p in STAGE_PACKAGES if p != package)
    outside = ("livepilot.server", "livepilot.bus", "livepilot.sources", "livepilot.cli",
               "livepilot.service", "livepilot.stages.registry")
    assert _offending(f"livepilot.stages.{package}", others + outside) == []


def test_the_pipeline_core_knows_no_stage_server_bus_or_source() -> None:
    forbidden = ("livepilot.stages", "livepilot.server", "livepilot.bus", "livepilot.sources",
                 "livepilot.cli", "livepilot.service")
    assert _offending("livepilot.pipeline", forbidden) == []


def test_the_server_never_imports_a_stage_or_the_pipeline() -> None:
    forbidden = ("livepilot.stages", "livepilot.pipeline", "livepilot.service",
                 "livepilot.sources", "livepilot.ml")
    assert _offending("livepilot.server", forbidden) == []


@pytest.mark.parametrize("model", ["livepilot.events", "livepilot.insights"])
def test_the_event_model_imports_nothing_else(model: str) -> None:
    deps = import_graph()[model]
    assert deps <= {"livepilot.events", "livepilot.insights"}, sorted(deps)


def _importers_of(libraries: set[str]) -> dict[str, set[str]]:
    """Module → the top-level third-party packages among ``libraries`` it imports."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                mods = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            else:
                continue
            hits = {m.split(".")[0] for m in mods} & libraries
            if hits:
                found.setdefault(_module_name(path), set()).update(hits)
    return found


def test_tiktoklive_only_inside_the_tiktok_source() -> None:
    users = _importers_of({"TikTokLive", "TikTokLiveProto"})
    assert users, "the walk found no TikTokLive import at all"
    assert [m for m in users if not m.startswith("livepilot.sources.tiktok")] == []


def test_redis_only_inside_the_redis_bus() -> None:
    """The Redis bus is split into one module per concept, all named ``bus/redis*.py``."""
    users = _importers_of({"redis"})
    assert "livepilot.bus.redis_link" in users, "the walk found no redis import at all"
    assert [m for m in users if not m.startswith("livepilot.bus.redis")] == []
