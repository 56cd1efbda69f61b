"""Which settings are safe to start with: pure checks the settings run before anything starts.

Development features (the demo sign-in that mints admin tokens, GraphiQL, introspection and
suggestions, the sandbox endpoints) are on only when asked for explicitly (`ENROLLWIRE_ENV=
development` or `ENROLLWIRE_SANDBOX=true`) and only while the server listens on, and is reached
at, a loopback address. Everything else fails closed.
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
# Hosts a browser on this machine uses for a loopback server: what the Host header may say in
# development besides the public URL's host.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# An estimate of a secret's entropy from its own characters: random hex of 32 characters scores
# 96-120 bits, `openssl rand -base64 32` about 220, "password" repeated to 32 characters 88 (and
# only 7 distinct characters). A heuristic against typed-in secrets, not a proof of randomness.
MIN_SECRET_BITS = 80
MIN_DISTINCT_CHARACTERS = 10


class UnsafeSettings(ValueError):
    """Refusing to start; the message names the setting to change."""


def is_loopback_host(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def url_host(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def secret_bits(secret: str) -> float:
    """Length times the Shannon entropy of the secret's own character frequencies."""
    if not secret:
        return 0.0
    counts = Counter(secret)
    size = len(secret)
    per_char = -sum(n / size * math.log2(n / size) for n in counts.values())
    return per_char * size


def production_secret_problems(auth_secret: str, webhook_secret: str, defaults: tuple[str, str]) -> None:
    for name, value, default in (
        ("ENROLLWIRE_AUTH_SECRET", auth_secret, defaults[0]),
        ("ENROLLWIRE_WEBHOOK_SECRET", webhook_secret, defaults[1]),
    ):
        if value == default or len(value) < 32:
            raise UnsafeSettings(f"{name} must be set to a secret of 32+ characters")
        if secret_bits(value) < MIN_SECRET_BITS or len(set(value)) < MIN_DISTINCT_CHARACTERS:
            raise UnsafeSettings(
                f"{name} looks guessable (about {secret_bits(value):.0f} bits): "
                "use a random one, e.g. `openssl rand -hex 32`"
            )
    if auth_secret == webhook_secret:
        raise UnsafeSettings(
            "ENROLLWIRE_AUTH_SECRET and ENROLLWIRE_WEBHOOK_SECRET must differ: "
            "whoever signs webhooks must not be able to mint tokens"
        )


def allowed_hosts(public_url: str, development: bool, extra: list[str] | None = None) -> list[str]:
    """The Host header values served: the public URL's host, the operator's ENROLLWIRE_ALLOWED_HOSTS
    (an internal name a probe or a sidecar uses), plus loopback names in development."""
    hosts = [url_host(public_url), *(h.lower() for h in extra or [])]
    if development:
        hosts += [h for h in LOCAL_HOSTS if h not in hosts]
    return [h for h in dict.fromkeys(hosts) if h]


def allowed_host_problems(extra: list[str]) -> None:
    if any(h == "*" for h in extra):
        raise UnsafeSettings("ENROLLWIRE_ALLOWED_HOSTS must name hosts: '*' would undo the Host check")
