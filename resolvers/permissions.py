"""Who may read or call what. Failures are GraphQL errors carrying `extensions.code`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import GraphQLError
from strawberry.permission import BasePermission

from domain.errors import AuthError
from domain.viewer import Viewer

if TYPE_CHECKING:
    from resolvers.context import Info


def auth_failure(error: AuthError) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": error.code})


def require_viewer(info: Info) -> Viewer:
    viewer = info.context.viewer
    if viewer is None:
        raise GraphQLError("sign in required", extensions={"code": "UNAUTHENTICATED"})
    return viewer


def require_admin(info: Info) -> Viewer:
    viewer = require_viewer(info)
    if not viewer.is_admin:
        raise GraphQLError("admins only", extensions={"code": "FORBIDDEN"})
    return viewer


def require_owner_or_admin(info: Info, owner_id: str) -> Viewer:
    viewer = require_viewer(info)
    if not viewer.is_admin and viewer.user_id != owner_id:
        raise GraphQLError("not yours", extensions={"code": "FORBIDDEN"})
    return viewer


class SignedIn(BasePermission):
    message = "sign in required"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_viewer(info)
        return True


class AdminOnly(BasePermission):
    message = "admins only"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_admin(info)
        return True
