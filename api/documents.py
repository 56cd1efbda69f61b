"""Which GraphQL documents run: Apollo's automatic persisted queries, and trusted documents.

A client may send `extensions.persistedQuery = {"version": 1, "sha256Hash": <hex>}` with or
without the document (Apollo's protocol). In development (`automatic`) the server remembers the
documents it has seen by hash, so a client sends the hash first and the document only once, after
`PERSISTED_QUERY_NOT_FOUND`. With a trusted-documents manifest (`ENROLLWIRE_TRUSTED_DOCUMENTS`,
hash -> document) only the documents in it run, whether the client sends the hash, the document,
or both; nothing is learnt at run time. With neither, a document runs as sent and a hash alone
is answered `PERSISTED_QUERY_NOT_SUPPORTED` (Apollo's clients then send documents).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
NOT_IN_LIST = "PERSISTED_QUERY_NOT_IN_LIST"
BAD_REQUEST = "BAD_REQUEST"
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# Root fields whose answer is the same for every anonymous caller: a document made only of these,
# fetched by hash with GET and without credentials, may be cached by a CDN.
PUBLIC_ROOT_FIELDS = frozenset({"courseCards", "courseCard", "__typename"})
MAX_AUTOMATIC = 1000  # documents a development server remembers (least recently used dropped)


class DocumentRefused(Exception):
    """The request names a document this server will not run; `code` goes to `extensions.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_error(self) -> dict[str, Any]:
        return {"message": self.message, "extensions": {"code": self.code}}


class HasDocuments(Protocol):
    """The view, as the WebSocket handlers see it."""

    documents: Documents


def resolve_operation(view: object, payload: dict[str, Any]) -> DocumentRefused | None:
    """A WebSocket operation's payload gets the document it names (in place); else the refusal."""
    documents = cast("HasDocuments", view).documents
    try:
        resolved = documents.resolve(payload.get("query"), payload.get("extensions"))
    except DocumentRefused as refusal:
        return refusal
    payload["query"] = resolved.query  # the handlers' well-formedness check follows
    return None


@dataclass(frozen=True)
class Resolved:
    query: object  # what runs: the document, or whatever the client sent when it sent no hash
    by_hash: bool = False  # the client sent the hash alone
    public: bool = False  # every operation in it reads only PUBLIC_ROOT_FIELDS


def sha256_hex(document: str) -> str:
    return hashlib.sha256(document.encode()).hexdigest()


def is_public(document: str) -> bool:
    try:
        definitions = parse(document).definitions
    except GraphQLError:
        return False
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    return bool(operations) and all(
        operation.operation is OperationType.QUERY
        and all(
            isinstance(selection, FieldNode) and selection.name.value in PUBLIC_ROOT_FIELDS
            for selection in operation.selection_set.selections
        )
        for operation in operations
    )


def load_manifest(path: str) -> dict[str, str]:
    """The trusted documents, checked: a JSON object from each document's SHA-256 to the document."""
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"ENROLLWIRE_TRUSTED_DOCUMENTS={path}: cannot read it ({error})") from None
    if not isinstance(manifest, dict) or not manifest:
        raise ValueError(f"ENROLLWIRE_TRUSTED_DOCUMENTS={path}: expected a non-empty JSON object")
    for key, document in manifest.items():
        if not isinstance(document, str) or sha256_hex(document) != key:
            raise ValueError(f"ENROLLWIRE_TRUSTED_DOCUMENTS={path}: {key} is not the SHA-256 of its document")
    return manifest


def requested_hash(extensions: object) -> str | None:
    if not isinstance(extensions, dict) or extensions.get("persistedQuery") is None:
        return None
    persisted = extensions["persistedQuery"]
    if not isinstance(persisted, dict) or persisted.get("version") != 1:
        raise DocumentRefused(BAD_REQUEST, "persistedQuery: only version 1 is supported")
    digest = persisted.get("sha256Hash")
    if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
        raise DocumentRefused(BAD_REQUEST, "persistedQuery.sha256Hash must be 64 lowercase hex digits")
    return digest


class Documents:
    def __init__(self, trusted: Mapping[str, str] | None, *, automatic: bool) -> None:
        self._trusted = trusted
        self._public = frozenset(h for h, d in (trusted or {}).items() if is_public(d))
        self._automatic = automatic and trusted is None
        self._seen: OrderedDict[str, tuple[str, bool]] = OrderedDict()

    @property
    def trusted_only(self) -> bool:
        return self._trusted is not None

    def resolve(self, query: object, extensions: object) -> Resolved:
        """What runs for this (query, extensions) pair; `DocumentRefused` when nothing may."""
        digest = requested_hash(extensions)
        if isinstance(query, str) and query:
            actual = sha256_hex(query)
            if digest is not None and digest != actual:
                raise DocumentRefused(BAD_REQUEST, "provided sha does not match query")
            self._check_trusted(actual)
            if digest is not None and self._automatic:
                self._remember(digest, query)
            return Resolved(query)
        if digest is None:
            return Resolved(query)  # no document at all: the view's own error says so
        if self._trusted is not None:
            self._check_trusted(digest)
            return Resolved(self._trusted[digest], by_hash=True, public=digest in self._public)
        if not self._automatic:
            raise DocumentRefused(NOT_SUPPORTED, "PersistedQueryNotSupported")
        seen = self._seen.get(digest)
        if seen is None:
            raise DocumentRefused(NOT_FOUND, "PersistedQueryNotFound")
        self._seen.move_to_end(digest)
        return Resolved(seen[0], by_hash=True, public=seen[1])

    def _check_trusted(self, digest: str) -> None:
        if self._trusted is not None and digest not in self._trusted:
            raise DocumentRefused(
                NOT_IN_LIST, "This server runs trusted documents only, and this document is not one of them"
            )

    def _remember(self, digest: str, document: str) -> None:
        self._seen[digest] = (document, is_public(document))
        self._seen.move_to_end(digest)
        while len(self._seen) > MAX_AUTOMATIC:
            self._seen.popitem(last=False)
