"""No "Did you mean ...?" in production: suggestions spell out the schema that introspection hides.

Strawberry's `disable_field_suggestions` strips them from unknown fields only; graphql-core adds
them to unknown arguments, types, enum values and input fields too, always as the message's last
sentence.
"""

from __future__ import annotations

SUGGESTION = " Did you mean "


def without_suggestion(message: str) -> str:
    return message.split(SUGGESTION, 1)[0]
