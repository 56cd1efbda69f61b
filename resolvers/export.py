"""Prints the schema in SDL; `make schema` writes it to schema.graphql."""

from __future__ import annotations

from strawberry.printer import print_schema

from resolvers.schema import Limits, build_schema


def schema_sdl() -> str:
    return print_schema(build_schema(Limits())) + "\n"


if __name__ == "__main__":
    print(schema_sdl(), end="")
