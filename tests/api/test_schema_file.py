"""schema.graphql is generated from the code, checked in, and carries the contract's names."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import GraphQLNamedType, GraphQLObjectType, build_schema

from resolvers.export import schema_sdl

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"

# The contract's schema block, field by field: name -> (argument names, return type).
CONTRACT_QUERY: dict[str, tuple[set[str], str]] = {
    "courseCards": (set(), "[CourseCard!]!"),
    "courseCard": ({"courseId"}, "CourseCard"),
    "myEnrollments": (set(), "[Enrollment!]!"),
    "enrollment": ({"id"}, "Enrollment"),
    "enrollments": ({"status", "courseId", "first", "after", "filter"}, "EnrollmentConnection!"),
    "pendingEnrollments": ({"first", "after"}, "EnrollmentConnection!"),
    "coupon": ({"code"}, "Coupon"),
    "jobs": ({"status", "first", "after"}, "JobConnection!"),
    "jobStats": (set(), "JobStats!"),
    "coupons": ({"first", "after"}, "CouponConnection!"),
    "dashboard": ({"days"}, "Dashboard!"),
}
CONTRACT_MUTATION: dict[str, tuple[set[str], str]] = {
    "enroll": ({"input"}, "EnrollmentPayload!"),
    "retryPayment": ({"enrollmentId"}, "EnrollmentPayload!"),
    "cancelEnrollment": ({"enrollmentId"}, "EnrollmentPayload!"),
    "approveEnrollment": ({"enrollmentId"}, "EnrollmentPayload!"),
    "rejectEnrollment": ({"enrollmentId", "reason"}, "EnrollmentPayload!"),
    "bulkApproveEnrollments": ({"enrollmentIds"}, "BulkApprovePayload!"),
    "bulkRejectEnrollments": ({"enrollmentIds", "reason"}, "BulkRejectPayload!"),
    "createCourse": ({"input"}, "CoursePayload!"),
    "createCoupon": ({"input"}, "CouponPayload!"),
    "retryJob": ({"id"}, "JobPayload!"),
    "updateCourse": ({"id", "input"}, "CoursePayload!"),
    "disableCoupon": ({"code"}, "CouponPayload!"),
}
CONTRACT_TYPES = {
    "DateTime", "PaymentMethod", "EnrollmentStatus", "CardAction", "EnrollmentEventType", "ErrorCode",
    "Money", "Course", "Enrollment", "AccessStatus", "AccessProvisioning", "WebhookDelivery",
    "CourseCard", "EnrollmentEvent", "Coupon", "UserError", "PaymentSession", "EnrollmentPayload",
    "BulkApprovePayload", "CoursePayload", "CouponPayload", "PageInfo", "EnrollmentEdge",
    "EnrollmentConnection", "JobKind", "JobStatus", "Job", "JobEdge", "JobConnection", "JobStats",
    "JobPayload", "EnrollInput", "CreateCourseInput", "CreateCouponInput", "Query", "Mutation",
}  # fmt: skip


def test_schema_file_is_current() -> None:
    generated = schema_sdl()
    on_disk = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else ""
    if on_disk != generated:
        pytest.fail("schema.graphql is stale: run `make schema` and commit the result", pytrace=False)


def root(type_name: str) -> GraphQLObjectType:
    named: GraphQLNamedType | None = build_schema(SCHEMA_FILE.read_text(encoding="utf-8")).get_type(type_name)
    assert isinstance(named, GraphQLObjectType)
    return named


@pytest.mark.parametrize(
    ("type_name", "contract"), [("Query", CONTRACT_QUERY), ("Mutation", CONTRACT_MUTATION)]
)
def test_root_fields_match_the_contract(type_name: str, contract: dict[str, tuple[set[str], str]]) -> None:
    fields = root(type_name).fields
    missing = sorted(set(contract) - set(fields))
    assert not missing, f"{type_name} lacks contract fields {missing}"
    for name, (args, returns) in contract.items():
        assert (set(fields[name].args), str(fields[name].type)) == (args, returns), name


def test_every_contract_type_is_declared() -> None:
    declared = set(build_schema(SCHEMA_FILE.read_text(encoding="utf-8")).type_map)
    assert sorted(CONTRACT_TYPES - declared) == []
