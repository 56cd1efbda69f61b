"""Relay-style connections and the page-size guard."""

from __future__ import annotations

import strawberry
from graphql import GraphQLError

from domain.ports import Page
from resolvers.types import Enrollment


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class EnrollmentEdge:
    cursor: str
    node: Enrollment


@strawberry.type
class EnrollmentConnection:
    edges: list[EnrollmentEdge]
    page_info: PageInfo
    total_count: int

    @classmethod
    def of(cls, page: Page) -> EnrollmentConnection:
        edges = [
            EnrollmentEdge(cursor=c, node=Enrollment(model=e))
            for e, c in zip(page.rows, page.cursors, strict=True)
        ]
        end = page.cursors[-1] if page.cursors else None
        return cls(
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
