"""The named stack with nothing of enrollwire in it: uvicorn, Starlette and Strawberry answering
the peer load generator's `createCourse` and `enroll` with constants, after verifying the bearer
token as the peer does. No store, no Redis, no middleware.

`python server.py MODE PORT SECRET`, MODE one of:
- `bare`: a Starlette route that reads the JSON body and answers JSON, no GraphQL;
- `cached`: Strawberry with its parser and validation caches (enrollwire caches both too);
- `strawberry`: Strawberry as it comes, parsing and validating every request.
"""

from __future__ import annotations

import secrets
import sys

import jwt
import strawberry
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import Info

MODE, PORT, SECRET = sys.argv[1], int(sys.argv[2]), sys.argv[3]


def verify(authorization: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(
        authorization.removeprefix("Bearer "), SECRET, algorithms=["HS256"]
    )
    return claims


@strawberry.type
class Amount:
    amount: int


@strawberry.type
class Enrollment:
    id: strawberry.ID
    status: str
    version: int
    payment_reference: str | None
    amount_due: Amount


@strawberry.type
class UserError:
    code: str
    message: str


@strawberry.type
class Course:
    id: strawberry.ID


@strawberry.type
class CoursePayload:
    course: Course | None
    errors: list[UserError]


@strawberry.type
class EnrollPayload:
    enrollment: Enrollment | None
    errors: list[UserError]


@strawberry.input
class EnrollInput:
    course_id: strawberry.ID
    payment_method: str


@strawberry.input
class CreateCourseInput:
    id: strawberry.ID
    title: str
    price: int


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Mutation:
    @strawberry.mutation
    def create_course(self, info: Info, input: CreateCourseInput) -> CoursePayload:
        verify(info.context["request"].headers.get("authorization", ""))
        return CoursePayload(course=Course(id=input.id), errors=[])

    @strawberry.mutation
    def enroll(self, info: Info, input: EnrollInput) -> EnrollPayload:
        verify(info.context["request"].headers.get("authorization", ""))
        enrollment = Enrollment(
            id=strawberry.ID(secrets.token_hex(12)),
            status="AWAITING_APPROVAL",
            version=1,
            payment_reference=secrets.token_hex(6),
            amount_due=Amount(amount=12_900),
        )
        return EnrollPayload(enrollment=enrollment, errors=[])


async def bare(request: Request) -> JSONResponse:
    body = await request.json()
    verify(request.headers.get("authorization", ""))
    if "createCourse" in body["query"]:
        course = {"id": body["variables"]["input"]["id"]}
        return JSONResponse({"data": {"createCourse": {"course": course, "errors": []}}})
    enrollment = {
        "id": secrets.token_hex(12),
        "status": "AWAITING_APPROVAL",
        "version": 1,
        "paymentReference": secrets.token_hex(6),
        "amountDue": {"amount": 12_900},
    }
    return JSONResponse({"data": {"enroll": {"enrollment": enrollment, "errors": []}}})


if __name__ == "__main__":
    # Factories, as Strawberry asks: both caches live at module level, shared by every request.
    caches = [lambda: ParserCache(maxsize=100), lambda: ValidationCache(maxsize=100)]
    schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=caches if MODE == "cached" else [])
    endpoint = bare if MODE == "bare" else GraphQL(schema)
    app = Starlette(routes=[Route("/graphql", endpoint, methods=["GET", "POST"])])
    uvicorn.run(app, host="127.0.0.1", port=PORT, log_level="warning", server_header=False)
