"""`IK-SIGN`, iK Pay's request signature, in both directions.

Lowercase hex HMAC-SHA256, keyed with the app secret, over `escape(path + body)`: `path` is
the URL path without the query string (iKhokha's samples sign `.../payments/history` and then
send it with `?startDate=...`), `body` the exact JSON text sent (nothing for a GET), and
`escape` is JavaScript string escaping as iKhokha's Node and Go samples do it: a backslash
before every `\\`, `"` and `'`, and NUL as `\\0`. Their C# and Dart samples skip `'` and sign
differently whenever a body holds an apostrophe; we follow Node and Go.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlsplit

APP_ID_HEADER = "IK-APPID"
SIGN_HEADER = "IK-SIGN"
_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\0": "\\0"}
_ESCAPE_TABLE = str.maketrans(_ESCAPES)
_HEX_LENGTH = 64


def escape(text: str) -> str:
    return text.translate(_ESCAPE_TABLE)


def signed_path(url_or_path: str) -> str:
    return urlsplit(url_or_path).path or "/"


def sign(secret: str, url_or_path: str, body: str = "") -> str:
    payload = escape(signed_path(url_or_path) + body)
    return hmac.new(secret.strip().encode(), payload.encode(), hashlib.sha256).hexdigest()


def matches(secret: str, url_or_path: str, body: str, candidate: str) -> bool:
    """Constant-time comparison; a candidate of the wrong shape never matches."""
    candidate = candidate.strip().lower()
    if len(candidate) != _HEX_LENGTH:
        return False
    return hmac.compare_digest(sign(secret, url_or_path, body), candidate)


def body_text(document: dict[str, Any]) -> str:
    """The JSON text we send and sign: byte for byte what JavaScript's JSON.stringify gives
    (compact, `/` and non-ASCII unescaped), so a gateway that re-serializes before checking
    computes the same signature as one that checks the raw bytes."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)
