"""Nothing can edit or delete the audit log: every code path that reaches the collection only
inserts or reads, and no GraphQL mutation is named for changing it. A check over the source: it
fails as soon as someone writes `collections.audit.delete_many(...)` or the like."""

from __future__ import annotations

import ast
from pathlib import Path

from domain.ports import AuditLog
from resolvers.schema import MUTATIONS
from store.audit import MongoAuditLog

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ["api", "domain", "jobs", "realtime", "resolvers", "server", "store", "integrations"]
# The collection's reads and inserts, and the port's methods (which the next test pins).
ALLOWED = {
    "insert_one",
    "insert_many",
    "find",
    "find_one",
    "count_documents",
    "create_indexes",
    "append",
    "materialise",
    "settle",
    "settle_stale",
    "page",
}


def _audit_calls(tree: ast.AST) -> list[tuple[str, int]]:
    """Method calls on an expression naming the audit collection, as (method, line)."""
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = ast.unparse(node.func.value)
            if "audit" in owner.lower() and owner.lower().split(".")[-1] in {"audit", "_audit", "['audit']"}:
                calls.append((node.func.attr, node.lineno))
    return calls


def test_the_audit_collection_is_only_inserted_into_and_read() -> None:
    seen: dict[str, list[tuple[str, int]]] = {}
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            calls = _audit_calls(ast.parse(path.read_text()))
            if calls:
                seen[str(path.relative_to(ROOT))] = calls
    assert seen, "the walk must find the code that writes the log"
    forbidden = {path: [c for c in calls if c[0] not in ALLOWED] for path, calls in seen.items()}
    assert {path: calls for path, calls in forbidden.items() if calls} == {}


def test_the_port_offers_nothing_but_appending_and_reading() -> None:
    methods = {name for name in vars(AuditLog) if not name.startswith("_")}
    # `settle` copies entries out of other documents' outboxes: an insert into the log.
    assert methods == {"append", "materialise", "settle", "settle_stale", "page"}
    store_methods = {name for name in vars(MongoAuditLog) if not name.startswith("_")}
    assert store_methods == methods


def test_the_walk_catches_an_edit() -> None:
    edit = ast.parse(
        "async def f(c):\n    await c.audit.delete_many({})\n    await self._audit.update_one({}, {})"
    )
    assert [name for name, _ in _audit_calls(edit)] == ["delete_many", "update_one"]


def test_no_mutation_edits_or_deletes_entries() -> None:
    names = [name for root in MUTATIONS for name in vars(root) if not name.startswith("_")]
    assert names, "the mutation roots must be walked"
    assert [n for n in names if "audit" in n.lower()] == []
