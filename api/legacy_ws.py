"""Strawberry's legacy `graphql-ws` (subscriptions-transport-ws) handler, closed against misuse."""

from __future__ import annotations

from typing import Any, cast

from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import OperationMessage, StartMessage

from api.documents import resolve_operation
from resolvers.context import Context

LEGACY_CLIENT_TYPES = frozenset({"connection_init", "connection_terminate", "start", "stop"})
CLOSE_TOO_MANY_INITS = 4429


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """Strawberry's legacy handler accepts any number of `connection_init`s, each starting a
    keep-alive task never cancelled and replacing the socket's viewer under its open operations;
    here a second one closes the socket, as graphql-transport-ws does. Frames it cannot route get
    the reference server's `error` reply instead of a KeyError in the log."""

    initialised = False

    async def handle_message(self, message: OperationMessage) -> None:
        kind = message.get("type")
        if not isinstance(kind, str) or kind not in LEGACY_CLIENT_TYPES:
            operation_id = message.get("id")
            reply: dict[str, Any] = {"type": "error", "payload": {"message": "Invalid message type!"}}
            if isinstance(operation_id, str):
                reply["id"] = operation_id
            await self.send_message(cast("OperationMessage", reply))
            return
        if kind == "connection_init":
            if self.initialised:
                await self.websocket.close(CLOSE_TOO_MANY_INITS, "Too many initialisation requests")
                return
            self.initialised = True
        await super().handle_message(message)

    async def handle_start(self, message: StartMessage) -> None:
        payload = message.get("payload")
        if self.connection_acknowledged and isinstance(payload, dict):
            refusal = resolve_operation(self.view, cast("dict[str, Any]", payload))
            if refusal is not None:
                reply = {"type": "error", "id": str(message.get("id")), "payload": refusal.as_error()}
                await self.send_message(cast("OperationMessage", reply))
                return
        if not well_formed(message.get("id"), message.get("payload")):
            await self.send_message(
                {
                    "type": "error",
                    "id": str(message.get("id")),
                    "payload": {"message": "Invalid start message"},
                }
            )
            return
        await super().handle_start(message)


def well_formed(operation_id: object, payload: object) -> bool:
    if not isinstance(operation_id, str) or not isinstance(payload, dict):
        return False
    variables, name = payload.get("variables"), payload.get("operationName")
    return (
        isinstance(payload.get("query"), str)
        and isinstance(variables, dict | None)
        and isinstance(name, str | None)
    )
