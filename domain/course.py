"""Courses and the rules for creating and changing one."""

from __future__ import annotations

import re
from dataclasses import dataclass

from domain.errors import DomainError, ErrorCode
from domain.money import Money, validate_currency

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_TITLE_LENGTH = 200
MAX_PRICE = 100_000_000_00  # a hundred million in major units: anything above is a typo


@dataclass(frozen=True)
class Course:
    id: str
    title: str
    price: Money
    published: bool


def is_course_id(value: str) -> bool:
    """The shape every course id has: anything else names no course, without a lookup."""
    return _ID.fullmatch(value) is not None


def validate_new_course(
    course_id: str | None, title: str, price: int, currency: str, published: bool, new_id: str
) -> Course:
    cid = new_id if course_id is None else course_id.strip()
    if not _ID.match(cid):
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "id must be 1-64 letters, digits, _ . -", "id")
    clean_title = title.strip()
    if not clean_title or len(clean_title) > MAX_TITLE_LENGTH:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, f"title must be 1-{MAX_TITLE_LENGTH} characters", "title"
        )
    if not 0 <= price <= MAX_PRICE:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "price must be 0 or more", "price")
    return Course(cid, clean_title, Money(price, validate_currency(currency)), published)


@dataclass(frozen=True)
class CourseChanges:
    title: str | None = None
    price: int | None = None  # minor units of the course's (possibly new) currency
    currency: str | None = None
    published: bool | None = None

    def fields(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if v is not None}


def validate_changes(changes: CourseChanges) -> CourseChanges:
    if not changes.fields():
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "nothing to change", "input")
    title = None if changes.title is None else changes.title.strip()
    if title is not None and not 0 < len(title) <= MAX_TITLE_LENGTH:
        raise DomainError.of(
            ErrorCode.VALIDATION_FAILED, f"title must be 1-{MAX_TITLE_LENGTH} characters", "title"
        )
    if changes.price is not None and not 0 <= changes.price <= MAX_PRICE:
        raise DomainError.of(ErrorCode.VALIDATION_FAILED, "price must be 0 or more", "price")
    currency = None if changes.currency is None else validate_currency(changes.currency)
    return CourseChanges(title, changes.price, currency, changes.published)
