"""What an operation is called in metrics: the schema's root field it selects, never a name the
client chose (clients could otherwise fill the label space with names of their own)."""

from __future__ import annotations

from graphql import DocumentNode, FieldNode, GraphQLSchema
from graphql.utilities import get_operation_ast

OTHER = "other"
MULTIPLE = "multiple"


def root_fields(schema: GraphQLSchema) -> frozenset[str]:
    types = (schema.query_type, schema.mutation_type, schema.subscription_type)
    return frozenset(name for t in types if t is not None for name in t.fields)


def operation_label(document: DocumentNode | None, operation_name: str | None, known: frozenset[str]) -> str:
    """The root field's name; "multiple" for several known ones; "other" for anything else."""
    if document is None:
        return OTHER
    try:
        operation = get_operation_ast(document, operation_name)
    except Exception:
        return OTHER
    if operation is None:
        return OTHER
    fields = set()
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            return OTHER
        if selection.name.value != "__typename":
            fields.add(selection.name.value)
    if not fields or not fields <= known:
        return OTHER
    return fields.pop() if len(fields) == 1 else MULTIPLE
