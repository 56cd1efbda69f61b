"""A course changed: the notice on its channel that makes every open card of it re-read.

It carries only the course id: the cards re-read the course (and the viewer's enrollment) as
they would after a gap, so one notice serves every viewer whatever each of them is shown.
"""

from __future__ import annotations

import json

KIND = "course"


def course_notice(course_id: str) -> bytes:
    return json.dumps({"v": 1, "kind": KIND, "courseId": course_id}, separators=(",", ":")).encode()


def noticed_course(payload: bytes) -> str | None:
    """The course a notice names; None for anything else (an enrollment's change)."""
    if not payload.startswith(b'{"v":1,"kind":"course"'):
        return None  # cheap: every enrollment change passes here too
    try:
        course_id = json.loads(payload).get("courseId")
    except ValueError:
        return None
    return course_id if isinstance(course_id, str) else None
