"""The parse and validation cache behind the schema's one extension: a document is parsed and
validated once, its errors (the limits' among them) come back on every later request, and the
cache stays bounded."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError

from resolvers.request_policy import MAX_CACHED_DOCUMENT, DocumentCache
from resolvers.schema import EnrollwireSchema, Limits, build_schema


@pytest.fixture(scope="module")
def schema() -> EnrollwireSchema:
    return build_schema(Limits(max_depth=3, introspection=False))


async def test_a_repeated_document_is_parsed_and_validated_once(schema: EnrollwireSchema) -> None:
    before = schema.documents.stats()
    for _ in range(3):
        result = await schema.execute("query Repeated { __typename }")
        assert result.errors is None and result.data == {"__typename": "Query"}
    after = schema.documents.stats()
    assert (after.parse_misses - before.parse_misses, after.parse_hits - before.parse_hits) == (1, 2)
    assert (after.validate_misses - before.validate_misses, after.validate_hits - before.validate_hits) == (
        1,
        2,
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("{ __typename nope }", "Cannot query field 'nope'"),
        (
            "query Deep { myEnrollments { edges { node { course { id } } } } }",
            "exceeds maximum operation depth",
        ),
        ("{ __schema { types { name } } }", "introspection"),
    ],
    ids=["unknown-field", "depth-limit", "introspection-off"],
)
async def test_a_refused_document_is_refused_again_from_the_cache(
    schema: EnrollwireSchema, query: str, message: str
) -> None:
    for attempt in range(2):
        hits = schema.documents.stats().validate_hits
        result = await schema.execute(query)
        assert result.errors and any(message in e.message for e in result.errors), (attempt, result.errors)
        assert result.data is None
        assert schema.documents.stats().validate_hits == hits + attempt


async def test_large_documents_are_not_kept(schema: EnrollwireSchema) -> None:
    big = "query Big { __typename }" + " " * MAX_CACHED_DOCUMENT
    before = schema.documents.stats()
    for _ in range(2):
        assert (await schema.execute(big)).data == {"__typename": "Query"}
    assert schema.documents.stats() == before


def test_the_cache_is_bounded_and_keeps_no_document_that_fails_to_parse() -> None:
    cache = DocumentCache(maxsize=2, max_tokens=100)
    a, b = cache.parse("{ a }"), cache.parse("{ b }")
    assert cache.parse("{ a }") is a  # a is now the most recent
    cache.parse("{ c }")  # b goes
    assert cache.parse("{ a }") is a
    assert cache.parse("{ b }") is not b
    cache.remember("{ b }", b, [])  # a stale tree: its validation is not taken for the new one
    assert cache.validated("{ b }", cache.parse("{ b }")) is None
    for _ in range(2):
        with pytest.raises(GraphQLSyntaxError):
            cache.parse("{ broken")
    assert cache.stats().parse_misses == 6
    with pytest.raises(GraphQLSyntaxError, match="more than 100 tokens"):
        cache.parse("{ " + "x " * 200 + "}")
