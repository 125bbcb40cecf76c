"""SQLite and PostgreSQL end up with the same schema after Kassa's migrations, and the object
tables have exactly the columns and indexes `kassa.store.tables` declares."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pkgutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

import kassa.store
from kassa.store import migrate, open_store
from kassa.store.schema import ENGINE_MARKERS, load_migrations
from kassa.store.tables import ALL_OBJECT_TABLES
from tests.conftest import require_postgres
from tests.harness import fresh_postgres_database

OBJECT_TABLE_COLUMNS = ("seq", "id", "account_id", "created", "deleted", "doc")
"""What every object table has besides its filter columns (see Transaction.insert_object)."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    not_null: bool
    default: str | None


@dataclass(frozen=True)
class Index:
    table: str
    columns: tuple[str, ...]
    unique: bool


@dataclass
class Schema:
    columns: dict[str, tuple[Column, ...]]
    """table -> columns in declaration order"""
    indexes: dict[str, Index]
    """Indexes created by name (not those backing a key or UNIQUE constraint)."""
    keys: set[tuple[str, str, tuple[str, ...]]]
    """(table, "primary" or "unique", columns)"""
    foreign_keys: set[tuple[str, tuple[str, ...], str, tuple[str, ...]]]


def _migrated(url: str) -> list[list[str]]:
    """Migrate twice; what each run applied."""

    async def run() -> list[list[str]]:
        store = await open_store(url)
        try:
            return [await migrate(store, int(time.time())) for _ in range(2)]
        finally:
            await store.close()

    return asyncio.run(run())


# -- reading each engine's catalog -------------------------------------------------------------


_BYTES_TYPES = {
    ENGINE_MARKERS["sqlite"]["{{BYTES}}"].lower(): ENGINE_MARKERS["postgresql"]["{{BYTES}}"].lower()
}
"""The `{{BYTES}}` migration marker's two spellings (kassa/store/schema.py): one type."""


def _as_postgres(sqlite_type: str) -> str:
    return _BYTES_TYPES.get(sqlite_type.lower(), sqlite_type.lower())


def sqlite_schema(path: Path) -> Schema:
    with sqlite3.connect(path) as db:
        tables = [
            row[0]
            for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        schema = Schema({}, {}, set(), set())
        for table in tables:
            info = db.execute(f"PRAGMA table_info({table})").fetchall()
            primary = tuple(row[1] for row in sorted(info, key=lambda r: r[5]) if row[5] > 0)
            # A lone INTEGER PRIMARY KEY is the rowid: 64-bit and never NULL.
            rowid = primary[0] if len(primary) == 1 else None
            schema.columns[table] = tuple(
                Column(
                    name=name,
                    type="bigint" if name == rowid and kind == "INTEGER" else _as_postgres(kind),
                    not_null=bool(not_null) or (name == rowid and kind == "INTEGER"),
                    default=None if default is None else str(default),
                )
                for _, name, kind, not_null, default, _ in info
            )
            if primary:
                schema.keys.add((table, "primary", primary))
            for _, index, unique, origin, _ in db.execute(f"PRAGMA index_list({table})"):
                columns = tuple(row[2] for row in db.execute(f"PRAGMA index_info({index})"))
                if origin == "c":
                    schema.indexes[index] = Index(table, columns, bool(unique))
                elif origin == "u":
                    schema.keys.add((table, "unique", columns))
            foreign: dict[int, list[tuple[str, str, str]]] = {}
            for row in db.execute(f"PRAGMA foreign_key_list({table})"):
                foreign.setdefault(row[0], []).append((row[2], row[3], row[4]))
            for parts in foreign.values():
                schema.foreign_keys.add(
                    (
                        table,
                        tuple(p[1] for p in parts),
                        parts[0][0],
                        tuple(p[2] for p in parts),
                    )
                )
        return schema


_PG_COLUMNS = """
SELECT table_name, column_name, data_type, is_nullable = 'NO', column_default
FROM information_schema.columns WHERE table_schema = 'public'
ORDER BY table_name, ordinal_position
"""

_PG_INDEXES = """
SELECT i.relname, t.relname, ix.indisunique, array_agg(a.attname ORDER BY k.ord)
FROM pg_index ix
JOIN pg_class i ON i.oid = ix.indexrelid
JOIN pg_class t ON t.oid = ix.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(ix.indkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
WHERE n.nspname = 'public' AND NOT EXISTS (
    SELECT 1 FROM pg_constraint c
    WHERE c.conindid = ix.indexrelid AND c.contype IN ('p', 'u', 'x')
)
GROUP BY i.relname, t.relname, ix.indisunique
"""

_PG_CONSTRAINTS = """
SELECT t.relname, c.contype::text,
       array_agg(a.attname ORDER BY k.ord),
       r.relname,
       array_agg(ra.attname ORDER BY k.ord)
FROM pg_constraint c
JOIN pg_class t ON t.oid = c.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
LEFT JOIN pg_class r ON r.oid = c.confrelid
LEFT JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[k.ord]
WHERE n.nspname = 'public' AND c.contype IN ('p', 'u', 'f')
GROUP BY c.oid, t.relname, c.contype, r.relname
"""


def postgres_schema(url: str) -> Schema:
    async def read() -> Schema:
        db = await asyncpg.connect(url, timeout=10)
        try:
            schema = Schema({}, {}, set(), set())
            columns: dict[str, list[Column]] = {}
            for table, name, kind, not_null, default in await db.fetch(_PG_COLUMNS):
                columns.setdefault(table, []).append(Column(name, kind, not_null, default))
            schema.columns = {table: tuple(found) for table, found in sorted(columns.items())}
            for name, table, unique, index_columns in await db.fetch(_PG_INDEXES):
                schema.indexes[name] = Index(table, tuple(index_columns), unique)
            for table, kind, key_columns, target, target_columns in await db.fetch(_PG_CONSTRAINTS):
                if kind == "f":
                    schema.foreign_keys.add(
                        (table, tuple(key_columns), target, tuple(target_columns))
                    )
                else:
                    label = "primary" if kind == "p" else "unique"
                    schema.keys.add((table, label, tuple(key_columns)))
            return schema
        finally:
            await db.close()

    return asyncio.run(read())


# -- the tests ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_side(tmp_path_factory: pytest.TempPathFactory) -> Schema:
    path = tmp_path_factory.mktemp("schema") / "kassa.db"
    first, second = _migrated(f"sqlite:///{path}")
    assert first == [f"{m.version:04d}_{m.name}" for m in load_migrations("sqlite")]
    assert second == [], "a second run applies nothing"
    return sqlite_schema(path)


@pytest.fixture(scope="module")
def postgres_side() -> Iterator[Schema]:
    require_postgres()
    with fresh_postgres_database() as url:
        first, second = _migrated(url)
        assert first == [f"{m.version:04d}_{m.name}" for m in load_migrations("postgresql")]
        assert second == []
        yield postgres_schema(url)


@pytest.mark.postgres
def test_sqlite_and_postgres_schemas_are_the_same(
    sqlite_side: Schema, postgres_side: Schema
) -> None:
    assert sorted(sqlite_side.columns) == sorted(postgres_side.columns)
    assert sqlite_side.indexes and sqlite_side.foreign_keys, "the catalog reader found nothing"
    for table, columns in sqlite_side.columns.items():
        assert columns == postgres_side.columns[table], table
    assert sqlite_side.indexes == postgres_side.indexes
    assert sqlite_side.keys == postgres_side.keys
    assert sqlite_side.foreign_keys == postgres_side.foreign_keys


def test_every_table_has_a_primary_key_and_no_nullable_key(sqlite_side: Schema) -> None:
    tables_with_keys = {table for table, kind, _ in sqlite_side.keys if kind == "primary"}
    assert tables_with_keys == set(sqlite_side.columns)
    for table, _, key_columns in sqlite_side.keys:
        by_name = {c.name: c for c in sqlite_side.columns[table]}
        for name in key_columns:
            # SQLite lets a non-INTEGER PRIMARY KEY hold NULL unless NOT NULL is declared.
            assert by_name[name].not_null, f"{table}.{name} is a key but may be NULL"


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_object_tables_have_their_declared_columns(
    engine: str, request: pytest.FixtureRequest
) -> None:
    schema: Schema = request.getfixturevalue(f"{engine}_side")
    assert ALL_OBJECT_TABLES, "the catalog declares object tables"
    for table in ALL_OBJECT_TABLES:
        columns = {c.name: c for c in schema.columns[table.name]}
        assert set(columns) == {*OBJECT_TABLE_COLUMNS, *table.filter_columns}, table.name
        for name in ("id", "account_id", "created", "deleted", "doc"):
            assert columns[name].not_null, f"{table.name}.{name}"
        key = ("account_id", "id") if table.ids_per_account else ("id",)
        assert (table.name, "unique", key) in schema.keys
        indexes = [i for i in schema.indexes.values() if i.table == table.name]
        listed = [c for c in table.filter_columns if c not in table.unlisted]
        for column in (*listed, "created", "seq"):
            assert any(i.columns[:2] == ("account_id", column) for i in indexes), (
                f"{table.name} lists filter on {column} per account: an index must lead with "
                f"(account_id, {column})"
            )


def test_no_store_submodule_shadows_a_store_function() -> None:
    """Importing a submodule sets it as an attribute of the package: one named like a
    function of `kassa.store` (as `kassa.store.migrate` once was) replaces that function."""
    for module in pkgutil.iter_modules(kassa.store.__path__):
        importlib.import_module(f"kassa.store.{module.name}")
    assert inspect.iscoroutinefunction(kassa.store.migrate)
    assert kassa.store.migrate is migrate
    assert kassa.store.open_store is open_store
