"""Imports run one way: a module imports its own layer or a lower one, never a higher one.

Layers, top to bottom (a module belongs to the first whose package path contains it):

    entry       kassa.cli, kassa.runtime (the composition root), kassa.observers (the
                observers of domain writes, which the runtime and `kassa import` install),
                kassa.__main__, kassa.pytest_plugin, kassa.imports (`kassa import`: it
                installs the observers and reads CSV headers with the API's form decoder),
                kassa.reconciliation (`kassa reconcile`: it opens the database through
                kassa.database)
    edges       kassa.http, kassa.dashboard, kassa.pages, kassa.workers, kassa.listen,
                kassa.trigger
                (siblings: none of them imports another; the composition root joins them)
    services    kassa.services: typed operations the edges call
    ledger      kassa.ledger: the general ledger, written and read through the store
    store       kassa.store: all SQL; it knows nothing of the ledger or the services,
                so a type both need (an account name, a row) lives in the store or a leaf
    leaves      kassa itself (its __init__), kassa.asgi, clock, ids, errors, params,
                invariants, config, money, cards, business_days, webhook_signing

Every import counts: module level, inside functions, and under `TYPE_CHECKING` (a type-only
import still ties the lower layer to the higher one). A module in no layer fails the test
too, so a new module is placed on purpose, not by accident.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import kassa

PACKAGE_DIR = Path(kassa.__file__).resolve().parent
ROOT_DIR = PACKAGE_DIR.parent

ENTRY, EDGES, SERVICES, LEDGER, STORE, LEAVES = 5, 4, 3, 2, 1, 0
LAYER_NAMES = {
    ENTRY: "entry",
    EDGES: "edges",
    SERVICES: "services",
    LEDGER: "ledger",
    STORE: "store",
    LEAVES: "leaves",
}

# (package path, layer); a package path covers the module itself and everything under it.
LAYERS: tuple[tuple[str, int], ...] = (
    ("kassa.cli", ENTRY),
    ("kassa.runtime", ENTRY),
    ("kassa.observers", ENTRY),
    ("kassa.database", ENTRY),
    ("kassa.__main__", ENTRY),
    ("kassa.pytest_plugin", ENTRY),
    ("kassa.imports", ENTRY),
    ("kassa.reconciliation", ENTRY),
    ("kassa.http", EDGES),
    ("kassa.dashboard", EDGES),
    ("kassa.pages", EDGES),
    ("kassa.workers", EDGES),
    ("kassa.listen", EDGES),
    ("kassa.trigger", EDGES),
    ("kassa.services", SERVICES),
    ("kassa.ledger", LEDGER),
    ("kassa.store", STORE),
    ("kassa.asgi", LEAVES),
    ("kassa.api_versions", LEAVES),
    ("kassa.clock", LEAVES),
    ("kassa.ids", LEAVES),
    ("kassa.errors", LEAVES),
    ("kassa.params", LEAVES),
    ("kassa.invariants", LEAVES),
    ("kassa.config", LEAVES),
    ("kassa.money", LEAVES),
    ("kassa.cards", LEAVES),
    ("kassa.business_days", LEAVES),
    ("kassa.fx", LEAVES),
    ("kassa.webhook_signing", LEAVES),
    ("kassa.progress", LEAVES),
)
PACKAGE_INIT = "kassa"
"""`kassa` itself (version strings) is a leaf; its submodules are placed by LAYERS."""


@dataclass(frozen=True)
class Place:
    layer: int
    group: str
    """The package path that matched: edges in different groups must not import each other."""


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str
    imported: str


def place_of(module: str) -> Place | None:
    if module == PACKAGE_INIT:
        return Place(LEAVES, PACKAGE_INIT)
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return Place(layer, prefix)
    return None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT_DIR).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package_of(module: str, path: Path) -> str:
    return module if path.name == "__init__.py" else module.rpartition(".")[0]


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split("."))
    return (ROOT_DIR / relative).with_suffix(".py").exists() or (
        ROOT_DIR / relative / "__init__.py"
    ).exists()


def _targets(node: ast.Import | ast.ImportFrom, importer: str, path: Path) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        package = _package_of(importer, path).split(".")
        anchor = ".".join(package[: len(package) - (node.level - 1)])
        base = f"{anchor}.{base}" if base else anchor
    # `from kassa.services import accounts` imports the module kassa.services.accounts;
    # `from kassa.store import Store, Transaction` imports kassa.store once.
    modules = (f"{base}.{alias.name}" for alias in node.names)
    yield from dict.fromkeys(module if _is_module(module) else base for module in modules)


def imports_in(path: Path, source: str) -> Iterator[Import]:
    importer = module_name(path)
    nodes = [
        node
        for node in ast.walk(ast.parse(source, filename=str(path)))
        if isinstance(node, ast.Import | ast.ImportFrom)
    ]
    for node in sorted(nodes, key=lambda node: node.lineno):
        for target in _targets(node, importer, path):
            if target == PACKAGE_INIT or target.startswith(PACKAGE_INIT + "."):
                yield Import(path, node.lineno, importer, target)


def violation(found: Import) -> str | None:
    """Why this import breaks the layering, or None when it is allowed."""
    where = f"{found.path.relative_to(ROOT_DIR)}:{found.line}"
    importer, imported = place_of(found.importer), place_of(found.imported)
    if importer is None:
        return f"{where}: {found.importer} is in no layer (add it to LAYERS in {__name__})"
    if imported is None:
        return f"{where}: {found.imported} is in no layer (add it to LAYERS in {__name__})"
    if imported.layer > importer.layer:
        return (
            f"{where}: {found.importer} ({LAYER_NAMES[importer.layer]}) imports "
            f"{found.imported} ({LAYER_NAMES[imported.layer]}), a higher layer"
        )
    sibling_edges = importer.layer == imported.layer == EDGES and imported.group != importer.group
    if sibling_edges:
        return (
            f"{where}: {found.importer} ({importer.group}) imports {found.imported} "
            f"({imported.group}); edges do not import each other, the composition root "
            "(kassa.runtime) joins them"
        )
    return None


def package_sources() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def violations_in(path: Path, source: str) -> list[str]:
    return [
        reason for found in imports_in(path, source) if (reason := violation(found)) is not None
    ]


def test_every_import_runs_down_the_layers() -> None:
    problems = [
        reason for path, source in package_sources() for reason in violations_in(path, source)
    ]
    assert not problems, "imports against the layers:\n" + "\n".join(problems)


def test_every_module_is_in_a_layer() -> None:
    unplaced = [
        str(path.relative_to(ROOT_DIR))
        for path, _ in package_sources()
        if place_of(module_name(path)) is None
    ]
    assert not unplaced, f"modules in no layer (add them to LAYERS): {unplaced}"


def test_the_check_sees_function_level_and_relative_imports() -> None:
    ledger_module = PACKAGE_DIR / "ledger" / "example.py"
    source = (
        "from kassa.store import Store\n"
        "def settle() -> None:\n"
        "    from kassa.services import balance\n"
        "from ..http import api\n"
    )
    found = violations_in(ledger_module, source)
    assert [reason.split(": ", 1)[0] for reason in found] == [
        "kassa/ledger/example.py:3",
        "kassa/ledger/example.py:4",
    ]


def test_edges_do_not_import_each_other() -> None:
    http_module = PACKAGE_DIR / "http" / "example.py"
    found = violations_in(http_module, "import kassa.workers.webhooks\nimport kassa.services\n")
    assert len(found) == 1
    assert "edges do not import each other" in found[0]
