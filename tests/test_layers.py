"""The packages of ``consumer`` import each other in one direction only: down the layers.

A node of the graph is a package right under ``consumer`` (``consumer.shards``: every module
inside it, at any depth) or a top-level module (``consumer/settings.py`` is ``consumer.settings``).
An edge is any import of one node by a module of another: found by parsing every module (no
import is executed), wherever the import stands, inside a function and under
``if TYPE_CHECKING:`` included. A typing-only import is a dependency all the same (the reader
must know the other package to read the signature), so there is no exception for one.

The layers, lowest first; a node imports only nodes of lower layers (never a peer of its own):

1. ``values``: the value types every layer passes around (a reading, a Kinesis record, a
   checkpoint position); ``text`` and ``timefmt``: bounded, escaped text and ISO 8601 times for
   messages, events and dead letters. Stdlib and third-party only.
2. ``logs``: structured logging.
3. ``aws``: boto3 clients, error classification, backoff, response parsing and the AWS error
   counters; it reads the configuration through its own ``Endpoints`` Protocol.
4. ``leases``: the KCL lease table, taking, renewal, shard sync.
5. ``detection``: per-device models and the engine that scores readings.
6. ``state``: model snapshots checkpointed with the Kinesis checkpoint (saves detection's state).
7. ``emitter``: events, dead letters and alerts written downstream.
8. ``processor``: decode, score, emit and checkpoint a batch (drives detection, state, emitter).
9. ``shards``: a shard's reader and loop (drives a processor).
10. ``options``: the option table's machinery (one declaration per option gives its flag, env
    twin and check); above it ``settings``: the frozen settings, above the packages whose
    defaults and parsers it checks flags with (reading caps, timestamp units, the reading
    mapping, aggregation caps, detector specs). The lower packages that are built from it read
    it through a Protocol of their own.
11. ``observability``: metrics and health; reads the worker through its ``ObservedWorker``.
12. ``worker``: the process that ties the above together.
13. start-up checks and read-only commands: ``preflight``, ``effective_config``,
    ``evaluation``, ``init_report``, ``status``, ``tail``.
14. ``provisioning`` (uses ``preflight``).
15. ``exit_status`` (classifies start-up failures), ``devenv`` (the demo).
16. ``kcl``: the MultiLangDaemon entry point.
17. ``cli``: the command line.

A record's path reads top-down through these: ``worker`` starts a ``shards`` consumer per lease,
which hands batches to the ``processor``, which scores them with ``detection``, saves ``state``
and writes through the ``emitter``.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import consumer

ROOT = Path(consumer.__file__).parent
PACKAGE = "consumer"

#: lowest first; see the module docstring for what each layer is
LAYERS: tuple[tuple[str, ...], ...] = (
    ("values", "text", "timefmt"),
    ("logs",),
    ("aws",),
    ("leases",),
    ("detection",),
    ("state",),
    ("emitter",),
    ("processor",),
    ("shards",),
    ("options",),
    ("settings",),
    ("observability",),
    ("worker",),
    ("preflight", "effective_config", "evaluation", "init_report", "status", "tail"),
    ("provisioning",),
    ("exit_status", "devenv"),
    ("kcl",),
    ("cli",),
)

Edges = dict[str, dict[str, list[str]]]


def _module_name(path: Path) -> tuple[str, bool]:
    """The dotted name of the module at ``path``, and whether it is a package's ``__init__``."""
    parts = (PACKAGE, *path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _imported(tree: ast.Module, module: str, is_package: bool) -> Iterator[tuple[str, int]]:
    """Every module name ``tree`` imports (relative imports resolved), with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target, node.lineno
            # ``from consumer import settings`` imports the node ``consumer.settings``
            if target == PACKAGE:
                for alias in node.names:
                    yield f"{PACKAGE}.{alias.name}", node.lineno


def _node(module: str) -> str | None:
    """The graph node of a ``consumer`` module (``consumer.shards.shard_reader`` -> ``shards``)."""
    parts = module.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    return parts[1]


def package_graph() -> Edges:
    """``edges[a][b]``: where (``module:line``) node ``a`` imports node ``b``."""
    edges: Edges = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        module, is_package = _module_name(path)
        source = _node(module)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for target, line in _imported(tree, module, is_package):
            node = _node(target)
            if node is not None and node != source:
                edges[source][node].append(f"{module}:{line}")
    return edges


def find_cycle(edges: Edges) -> list[str] | None:
    """One cycle of the graph as its nodes in order (the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for neighbour in sorted(edges.get(node, {})):
            if state.get(neighbour) == 1:
                return [*path[path.index(neighbour) :], neighbour]
            if neighbour not in state and (cycle := visit(neighbour)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def _describe(cycle: list[str], edges: Edges) -> str:
    return "\n".join(f"  {a} -> {b}: {', '.join(edges[a][b])}" for a, b in pairwise(cycle))


def test_the_package_graph_has_no_cycle() -> None:
    edges = package_graph()
    cycle = find_cycle(edges)
    assert cycle is None, "import cycle " + " -> ".join(cycle) + "\n" + _describe(cycle, edges)


def test_every_import_goes_down_the_layers() -> None:
    rank = {node: index for index, layer in enumerate(LAYERS) for node in layer}
    edges = package_graph()
    nodes = set(edges) | {node for targets in edges.values() for node in targets}
    unplaced = sorted(nodes - set(rank))
    assert not unplaced, f"place these in LAYERS (and the docstring): {unplaced}"
    upward = [
        f"  {source} (layer {rank[source] + 1}) -> {target} (layer {rank[target] + 1}): {', '.join(sites)}"
        for source, targets in sorted(edges.items())
        for target, sites in sorted(targets.items())
        if rank[target] >= rank[source]
    ]
    assert not upward, "imports that do not go down the layers:\n" + "\n".join(upward)


def test_every_package_and_top_level_module_is_in_a_layer() -> None:
    on_disk = {path.stem for path in ROOT.glob("*.py") if path.stem != "__init__"}
    on_disk |= {path.parent.name for path in ROOT.glob("*/__init__.py")}
    placed = {node for layer in LAYERS for node in layer}
    assert on_disk == placed


def test_the_cycle_finder_reports_a_cycle_with_its_import_sites() -> None:
    edges: Edges = {"a": {"b": ["consumer.a.x:3"]}, "b": {"c": ["consumer.b.y:4"]}, "c": {"a": ["consumer.c:9"]}}
    cycle = find_cycle(edges)
    assert cycle == ["a", "b", "c", "a"]
    assert _describe(cycle, edges).splitlines()[2] == "  c -> a: consumer.c:9"


def test_an_import_under_type_checking_counts() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from consumer.worker.worker import Worker\n"
    tree = ast.parse(source)
    assert ("consumer.worker.worker", 3) in set(_imported(tree, "consumer.observability.server", False))


def test_a_relative_import_resolves_to_its_package() -> None:
    tree = ast.parse("from ..leases.lease import Lease\nfrom . import shard_reader\n")
    found = {name for name, _ in _imported(tree, "consumer.shards.shard_consumer", False)}
    assert found == {"consumer.leases.lease", "consumer.shards"}
