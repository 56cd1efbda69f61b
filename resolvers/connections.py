"""Relay-style connections and the page-size guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import strawberry
from graphql import GraphQLError

from domain.ports import Page

N = TypeVar("N")  # the GraphQL node
R = TypeVar("R")  # the domain row


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(Generic[N]):
    """Named by Strawberry after the node: `Connection[Job]` is the schema's `JobConnection`."""

    edges: list[Edge[N]]
    page_info: PageInfo
    total_count: int


def connection(page: Page[R], node: Callable[[R], N]) -> Connection[N]:
    edges = [Edge(cursor=c, node=node(row)) for row, c in zip(page.rows, page.cursors, strict=True)]
    end = page.cursors[-1] if page.cursors else None
    return Connection(
        edges=edges,
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=end),
        total_count=page.total,
    )


DEFAULT_PAGE_SIZE = 50


def page_size(first: int | None, limit: int) -> int:
    if first is None:
        return min(DEFAULT_PAGE_SIZE, limit)
    if not 0 <= first <= limit:
        raise GraphQLError(f"first must be between 0 and {limit}", extensions={"code": "VALIDATION_FAILED"})
    return first
