"""An admin's enrollment filter as a MongoDB query, and the check that an index serves it.

`filter_query` is the only place the admin list, the CSV export and the dashboard's drill-downs
turn a filter into a query, so `index_for` can be run over every shape it can produce
(`tests/store/test_enrollment_query_shapes.py`). The check is ours, not a planner's: SecantusDB
plans differently from MongoDB, so its `explain` proves nothing about production.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pymongo import IndexModel

from domain.enrollment_filter import EnrollmentFilter
from store.database import Doc
from store.pages import created_between

# Every list is in creation order; the keyset cursor adds a range on these two.
SORT: list[tuple[str, int]] = [("createdAt", 1), ("_id", 1)]
_SORT_KEYS = tuple(field for field, _ in SORT)


def prefix_range(prefix: str) -> Doc:
    """The strings starting with `prefix`, as an index range (no regex: a regex scans the index)."""
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return {"$gte": prefix, "$lt": upper}


def filter_query(where: EnrollmentFilter) -> Doc:
    query: Doc = {}
    if where.status is not None:
        query["status"] = where.status.value
    if where.course_id is not None:
        query["courseId"] = where.course_id
    if where.user_id is not None:
        query["userId"] = where.user_id
    if where.payment_reference is not None:
        query["paymentReferences"] = where.payment_reference
    if where.payment_method is not None:
        query["paymentMethod"] = where.payment_method.value
    if where.email_prefix is not None:
        query["emailLower"] = prefix_range(where.email_prefix)
    created_between(query, where.created_from, where.created_to)
    return query


@dataclass(frozen=True)
class Shape:
    equality: frozenset[str]
    ranges: frozenset[str]


def _is_range(condition: object) -> bool:
    return isinstance(condition, dict) and any(str(k).startswith("$") for k in condition)


def shape_of(query: Doc) -> Shape:
    """Which fields a query pins to one value and which to a range (`$and`/`$or` looked into)."""
    equality: set[str] = set()
    ranges: set[str] = set()

    def walk(part: Doc, within_or: bool) -> None:
        for field, condition in part.items():
            if field in ("$and", "$or"):
                for sub in condition:
                    walk(sub, within_or or field == "$or")
            elif within_or or (
                isinstance(condition, dict) and any(str(k).startswith("$") for k in condition)
            ):
                # A branch of an `$or` (the keyset's `createdAt = t AND _id > x`) is one of its ranges.
                ranges.add(field)
            else:
                equality.add(field)

    walk(query, within_or=False)
    return Shape(frozenset(equality), frozenset(ranges - equality))


@dataclass(frozen=True)
class Plan:
    index: str
    sorts_in_memory: bool  # only the matches of the leading range are sorted


def _keys(index: IndexModel) -> list[tuple[str, int]]:
    return list(index.document["key"].items())


def _serves(index: IndexModel, shape: Shape, sort: Sequence[tuple[str, int]]) -> Plan | None:
    keys = _keys(index)
    name = index.document["name"]
    partial: Doc = index.document.get("partialFilterExpression", {})
    if any(cond != {"$exists": True} or field not in shape.equality for field, cond in partial.items()):
        return None  # the planner may use a partial index only when the query implies its filter
    if index.document.get("unique") and keys and all(k in shape.equality for k, _ in keys):
        return Plan(name, sorts_in_memory=False)  # at most one match (per unique key)
    bound = 0
    while bound < len(keys) and keys[bound][0] in shape.equality:
        bound += 1
    narrowing = (shape.equality | shape.ranges) - set(_SORT_KEYS)
    if narrowing and keys[0][0] not in narrowing:
        return None  # walking the whole index in order is a scan with extra steps
    rest = keys[bound:]
    wanted = list(sort)
    reversed_sort = [(f, -d) for f, d in sort]
    if rest[: len(wanted)] in (wanted, reversed_sort):
        return Plan(name, sorts_in_memory=False)
    if rest and rest[0][0] in shape.ranges and rest[0][0] not in _SORT_KEYS:
        return Plan(name, sorts_in_memory=True)
    return None


def index_for(
    query: Doc, indexes: Iterable[IndexModel], sort: Sequence[tuple[str, int]] = SORT
) -> Plan | None:
    """The declared index that serves `query` sorted by `sort`, preferring one that also sorts."""
    shape = shape_of(query)
    plans = [plan for index in indexes if (plan := _serves(index, shape, sort)) is not None]
    plans.sort(key=lambda plan: plan.sorts_in_memory)
    return plans[0] if plans else None
