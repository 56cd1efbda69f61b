"""Configuration from ENROLLWIRE_* environment variables: one object, loaded once by the caller."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from server.payment_settings import GatewayName, card_payment_problems

log = logging.getLogger(__name__)

DEV_AUTH_SECRET = "enrollwire-development-auth-secret-change-me"
DEV_WEBHOOK_SECRET = "enrollwire-development-webhook-secret-change-me"
MIN_SECRET_LENGTH = 32


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    # hide_input_in_errors: a refusal must not echo the secrets it was given.
    model_config = SettingsConfigDict(
        env_prefix="ENROLLWIRE_", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    env: Environment = Environment.DEVELOPMENT
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None  # how clients reach us; defaults to http://host:port

    mongodb_url: str | None = None
    mongodb_db: str = "enrollwire"
    redis_url: str | None = None
    data_dir: str = ".enrollwire"
    log_level: str = "INFO"
    log_format: str | None = None  # "json" or "text"; JSON by default in production

    auth_secret: str = DEV_AUTH_SECRET
    webhook_secret: str = DEV_WEBHOOK_SECRET

    coupon_hold_seconds: float = Field(default=900, gt=0)
    lms_url: str | None = None
    notify_url: str | None = None
    job_max_attempts: int = Field(default=6, ge=1)
    job_backoff_base_seconds: float = Field(default=2, ge=0)
    job_backoff_cap_seconds: float = Field(default=300, ge=0)
    job_workers: int = Field(default=2, ge=0)
    job_lease_seconds: float = Field(default=30, gt=0)
    job_http_timeout_seconds: float = Field(default=10, gt=0)
    job_poll_seconds: float = Field(default=1, gt=0)  # the idle pool's longest sleep
    sandbox_lms_fail_first: int = Field(default=0, ge=0)

    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_page_size: int = Field(default=100, ge=1)
    allowed_origins: Annotated[list[str], NoDecode] = []
    graphiql: bool | None = None
    sandbox: bool | None = None
    pages: bool | None = None  # the browser pages under /app/
    connection_init_timeout_seconds: float = Field(default=3, gt=0)

    # Card payments (server/payment_settings.py checks them): the gateway, iK Pay's credentials.
    payment_gateway: GatewayName | None = None  # sandbox in development, ikhokha in production
    ikhokha_api_url: str = "https://api.ikhokha.com"
    ikhokha_app_id: str | None = None
    ikhokha_app_secret: SecretStr | None = None  # SecretStr: never in a repr or a log line
    ikhokha_entity_id: str | None = None
    ikhokha_mode: Literal["live", "test"] | None = None  # live in production, test otherwise
    ikhokha_timeout_seconds: float = Field(default=10, gt=0)
    checkout_ttl_seconds: float = Field(default=1800, gt=0)
    reconcile_after_seconds: float = Field(default=120, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _split_origins(cls, data: dict[str, object]) -> dict[str, object]:
        origins = data.get("allowed_origins")
        if isinstance(origins, str):
            data["allowed_origins"] = [o.strip().rstrip("/") for o in origins.split(",") if o.strip()]
        return data

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.production:
            for name, value, dev in (
                ("ENROLLWIRE_AUTH_SECRET", self.auth_secret, DEV_AUTH_SECRET),
                ("ENROLLWIRE_WEBHOOK_SECRET", self.webhook_secret, DEV_WEBHOOK_SECRET),
            ):
                if value == dev or len(value) < MIN_SECRET_LENGTH:
                    raise ValueError(f"{name} must be set to a secret of {MIN_SECRET_LENGTH}+ characters")
            if not self.mongodb_url or not self.redis_url:
                raise ValueError("production needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL")
        return self

    @model_validator(mode="after")
    def _card_payments_safe(self) -> Settings:
        card_payment_problems(self)
        return self

    @property
    def gateway(self) -> GatewayName:
        if self.payment_gateway is not None:
            return self.payment_gateway
        return GatewayName.IKHOKHA if self.production else GatewayName.SANDBOX

    @property
    def production(self) -> bool:
        return self.env is Environment.PRODUCTION

    @property
    def log_json(self) -> bool:
        return self.log_format == "json" if self.log_format else self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else not self.production

    @property
    def sandbox_enabled(self) -> bool:
        return self.sandbox if self.sandbox is not None else not self.production

    @property
    def pages_enabled(self) -> bool:
        return self.pages if self.pages is not None else not self.production

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    def warn_about_development_secrets(self) -> None:
        for name, value, dev in (
            ("ENROLLWIRE_AUTH_SECRET", self.auth_secret, DEV_AUTH_SECRET),
            ("ENROLLWIRE_WEBHOOK_SECRET", self.webhook_secret, DEV_WEBHOOK_SECRET),
        ):
            if value == dev:
                log.warning(
                    "!!! %s is not set: using the PUBLIC development secret. "
                    "Anyone can forge tokens or webhooks. Never run like this in production. !!!",
                    name,
                )
