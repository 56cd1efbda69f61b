"""Who did what, as GraphQL sees it: actors, an enrollment's history, the admins' audit log."""

from __future__ import annotations

from datetime import datetime

import strawberry
from graphql import GraphQLError

from domain.actors import Actor as DomainActor
from domain.actors import ActorKind
from domain.audit import AuditEntry as DomainAuditEntry
from domain.audit import AuditFilter as DomainAuditFilter
from domain.enrollment import ChangeRecord, EnrollmentStatus
from domain.errors import DomainError
from resolvers.connections import PageInfo, connection, page_size
from resolvers.context import Info
from resolvers.permissions import AdminOnly

strawberry.enum(ActorKind)


@strawberry.type
class Actor:
    kind: ActorKind
    id: strawberry.ID | None = strawberry.field(description="The user id, or the gateway's name.")

    @classmethod
    def shown(cls, actor: DomainActor, info: Info) -> Actor:
        """To anyone but an admin, an admin is anonymous (the owner sees that an admin did it)."""
        viewer = info.context.viewer
        hidden = actor.kind is ActorKind.ADMIN and (viewer is None or not viewer.is_admin)
        return cls(kind=actor.kind, id=None if hidden or actor.id is None else strawberry.ID(actor.id))


@strawberry.type
class EnrollmentChange:
    at: datetime
    version: int
    status: EnrollmentStatus
    previous_status: EnrollmentStatus | None
    actor: Actor
    action: str
    reason: str | None

    @classmethod
    def of(cls, change: ChangeRecord, info: Info) -> EnrollmentChange:
        return cls(
            at=change.at,
            version=change.version,
            status=change.status,
            previous_status=change.previous_status,
            actor=Actor.shown(change.actor, info),
            action=change.action,
            reason=change.reason,
        )


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: datetime
    actor: Actor
    action: str
    enrollment_id: strawberry.ID | None
    target_id: strawberry.ID | None
    detail: str | None = strawberry.field(description="JSON text.")

    @classmethod
    def of(cls, entry: DomainAuditEntry) -> AuditEntry:
        actor = entry.actor
        return cls(
            id=strawberry.ID(entry.id),
            at=entry.at,
            actor=Actor(kind=actor.kind, id=None if actor.id is None else strawberry.ID(actor.id)),
            action=entry.action,
            enrollment_id=None if entry.enrollment_id is None else strawberry.ID(entry.enrollment_id),
            target_id=None if entry.target_id is None else strawberry.ID(entry.target_id),
            detail=entry.detail,
        )


@strawberry.type
class AuditEdge:
    cursor: str
    node: AuditEntry


@strawberry.type
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class AuditFilter:
    actor_id: strawberry.ID | None = None
    action: str | None = None
    enrollment_id: strawberry.ID | None = None
    from_: datetime | None = strawberry.field(default=None, name="from", description="Inclusive.")
    to: datetime | None = strawberry.field(default=None, description="Exclusive.")

    def domain(self) -> DomainAuditFilter:
        return DomainAuditFilter(
            actor_id=None if self.actor_id is None else str(self.actor_id),
            action=self.action,
            enrollment_id=None if self.enrollment_id is None else str(self.enrollment_id),
            since=self.from_,
            until=self.to,
        )


@strawberry.type
class AuditQueries:
    @strawberry.field(permission_classes=[AdminOnly], description="Newest first.")
    async def audit_log(
        self, info: Info, filter: AuditFilter | None = None, first: int | None = 50, after: str | None = None
    ) -> AuditConnection:
        size = page_size(first, info.context.max_page_size)
        where = DomainAuditFilter() if filter is None else filter.domain()
        try:
            page = await info.context.services.audit.page(where, size, after)
        except DomainError as bad:
            raise GraphQLError(bad.error.message, extensions={"code": bad.error.code.value}) from None
        generic = connection(page, AuditEntry.of)
        edges = [AuditEdge(cursor=edge.cursor, node=edge.node) for edge in generic.edges]
        return AuditConnection(edges=edges, page_info=generic.page_info, total_count=generic.total_count)
