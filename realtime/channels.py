"""Channel names follow the audience: one per user, one for every admin console."""

from __future__ import annotations

PREFIX = "enrollwire:"
ADMIN_CHANNEL = PREFIX + "admin"


def user_channel(user_id: str) -> str:
    return f"{PREFIX}user:{user_id}"


def course_channel(course_id: str) -> str:
    """Changes to the course itself (title, price, publication): every `courseCard` of it listens."""
    return f"{PREFIX}course:{course_id}"
