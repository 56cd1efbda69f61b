"""Configuration from ENROLLWIRE_* environment variables: one object, loaded once by the caller."""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from api.auth import TokenPolicy
from api.client_ip import Network, parse_networks
from api.documents import load_manifest
from api.rate_limit_rules import RateLimitRules, parse_rules
from api.safety import (
    UnsafeSettings,
    allowed_host_problems,
    is_loopback_host,
    production_secret_problems,
    url_host,
)
from server.mail_settings import mail_problems
from server.payment_settings import GatewayName, card_payment_problems

log = logging.getLogger(__name__)

TRUSTED_DOCUMENTS_OFF = "off"
DEV_AUTH_SECRET = "enrollwire-development-auth-secret-change-me"
DEV_WEBHOOK_SECRET = "enrollwire-development-webhook-secret-change-me"


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
    jwt_issuer: str | None = None  # when set, tokens must carry this `iss`
    jwt_audience: str | None = None  # when set, tokens must carry this `aud`
    jwt_max_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # /metrics and /readyz on an internal listener; unset: /metrics on the public port in
    # development only (production serves no metrics until this is set).
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = Field(default=None, ge=1, le=65535)

    coupon_hold_seconds: float = Field(default=900, gt=0)
    lms_url: str | None = None
    notify_url: str | None = None
    job_max_attempts: int = Field(default=25, ge=1)
    job_backoff_base_seconds: float = Field(default=2, ge=0)
    job_backoff_cap_seconds: float = Field(default=900, ge=0)
    job_give_up_after_seconds: float = Field(default=86400, gt=0)  # from creation (or the admin's retry)
    job_workers: int = Field(default=2, ge=0)
    job_batch: int = Field(default=4, ge=1)  # jobs one worker claims and runs at once
    job_lease_seconds: float = Field(default=30, gt=0)
    job_http_timeout_seconds: float = Field(default=10, gt=0)
    job_poll_seconds: float = Field(default=1, gt=0)  # the idle pool's longest sleep
    job_retention_days: int = Field(default=7, ge=1)  # SUCCEEDED jobs deleted this long after
    sandbox_lms_fail_first: int = Field(default=0, ge=0)

    # Notifications (server/mail_settings.py checks them).
    smtp_url: SecretStr | None = None  # smtp://user:pass@host:port (STARTTLS) or smtps://
    smtp_allow_plaintext: bool = False  # production: smtp:// without STARTTLS
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    mail_from: str | None = None
    admin_alert_email: str | None = None
    school_name: str = "enrollwire"
    eft_instructions: str | None = None  # the school's bank details, in the enrollment_received mail

    max_depth: int = Field(default=10, ge=1)
    max_aliases: int = Field(default=30, ge=1)
    max_tokens: int = Field(default=2000, ge=1)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    body_timeout_seconds: float = Field(default=30, gt=0)  # a request body trickling in longer: 408
    max_page_size: int = Field(default=100, ge=1)
    allowed_origins: Annotated[list[str], NoDecode] = []
    allowed_hosts: Annotated[list[str], NoDecode] = []  # Host values served besides the public URL's
    graphiql: bool | None = None
    sandbox: bool | None = None
    pages: bool | None = None  # the browser pages under /app/
    connection_init_timeout_seconds: float = Field(default=3, gt=0)
    # A manifest (JSON, SHA-256 -> document): only those documents run (api.documents); `off`:
    # any document runs. Production needs one or the other said explicitly.
    trusted_documents: str | None = None
    rate_limits: str = ""  # api.rate_limit_rules: `name=N/period;...` over the defaults, or `off`
    trusted_proxies: Annotated[list[str], NoDecode] = []  # CIDRs whose X-Forwarded-For is believed

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
        proxies = data.get("trusted_proxies")
        if isinstance(proxies, str):
            data["trusted_proxies"] = [p.strip() for p in proxies.split(",") if p.strip()]
        hosts = data.get("allowed_hosts")
        if isinstance(hosts, str):
            data["allowed_hosts"] = [h.strip() for h in hosts.split(",") if h.strip()]
        return data

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        allowed_host_problems(self.allowed_hosts)
        if self.trusted_manifest is not None:
            try:
                load_manifest(self.trusted_manifest)
            except ValueError as error:
                raise UnsafeSettings(str(error)) from None
        if self.production:
            production_secret_problems(
                self.auth_secret, self.webhook_secret, (DEV_AUTH_SECRET, DEV_WEBHOOK_SECRET)
            )
            if not self.mongodb_url or not self.redis_url:
                raise UnsafeSettings("production needs ENROLLWIRE_MONGODB_URL and ENROLLWIRE_REDIS_URL")
            if self.sandbox:
                raise UnsafeSettings("ENROLLWIRE_SANDBOX=true is refused in production")
            if not self.public_url and not is_loopback_host(self.host):
                raise UnsafeSettings("production needs ENROLLWIRE_PUBLIC_URL (the URL clients reach)")
            if self.trusted_documents is None:
                raise UnsafeSettings(
                    "production needs ENROLLWIRE_TRUSTED_DOCUMENTS: the manifest of the documents its "
                    "clients send (the browser pages': web/trusted-documents.json), or `off` to run any"
                )
        elif self.development_requested and not self.loopback and not self.development_secrets:
            raise UnsafeSettings(
                f"development features (ENROLLWIRE_ENV=development / ENROLLWIRE_SANDBOX=true) with real "
                f"secrets on a non-loopback address (ENROLLWIRE_HOST={self.host}, ENROLLWIRE_PUBLIC_URL="
                f"{self.public_url}): set ENROLLWIRE_ENV=production"
            )
        return self

    @model_validator(mode="after")
    def _rate_limits_valid(self) -> Settings:
        self.rate_limit_rules  # noqa: B018  (ValueError naming the setting, at start)
        self.proxy_networks  # noqa: B018
        return self

    @property
    def rate_limit_rules(self) -> RateLimitRules:
        return parse_rules(self.rate_limits)

    @property
    def proxy_networks(self) -> tuple[Network, ...]:
        return parse_networks(self.trusted_proxies)

    @model_validator(mode="after")
    def _card_payments_safe(self) -> Settings:
        card_payment_problems(self)
        return self

    @model_validator(mode="after")
    def _mail_safe(self) -> Settings:
        mail_problems(self)
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
    def loopback(self) -> bool:
        """Listening on, and reached at, this machine only."""
        return is_loopback_host(self.host) and (
            self.public_url is None or is_loopback_host(url_host(self.public_url))
        )

    @property
    def development_requested(self) -> bool:
        """Asked for explicitly: an unset ENROLLWIRE_ENV is not a request."""
        return not self.production and ("env" in self.model_fields_set or self.sandbox is True)

    @property
    def dev_features(self) -> bool:
        """The demo sign-in, GraphiQL, introspection, suggestions and the sandbox endpoints."""
        return self.development_requested and self.loopback

    @property
    def development_secrets(self) -> bool:
        return self.auth_secret == DEV_AUTH_SECRET or self.webhook_secret == DEV_WEBHOOK_SECRET

    @property
    def trusted_manifest(self) -> str | None:
        """The trusted-documents manifest's path; None: any document runs."""
        return None if self.trusted_documents in (None, TRUSTED_DOCUMENTS_OFF) else self.trusted_documents

    @property
    def token_policy(self) -> TokenPolicy:
        return TokenPolicy(self.auth_secret, self.jwt_issuer, self.jwt_audience, self.jwt_max_ttl_seconds)

    @property
    def log_json(self) -> bool:
        return self.log_format == "json" if self.log_format else self.production

    @property
    def graphiql_enabled(self) -> bool:
        return self.graphiql if self.graphiql is not None else self.dev_features

    @property
    def sandbox_enabled(self) -> bool:
        return self.dev_features and self.sandbox is not False

    @property
    def ikpay_standin(self) -> bool:
        """iK Pay's stand-in served by the development sandbox (`sandbox.ikpay_mount`): the ikhokha
        gateway with no API URL of its own. Off wherever the sandbox is, production included."""
        return (
            self.gateway is GatewayName.IKHOKHA
            and self.sandbox_enabled
            and "ikhokha_api_url" not in self.model_fields_set
        )

    @property
    def pages_enabled(self) -> bool:
        return self.pages if self.pages is not None else self.dev_features

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
        if self.dev_features:
            log.warning(
                "development features are ON (demo sign-in minting admin tokens, GraphiQL, "
                "introspection, sandbox endpoints), served to loopback hosts only"
            )
        elif self.development_requested:
            log.warning(
                "development features requested but OFF: "
                "ENROLLWIRE_HOST / ENROLLWIRE_PUBLIC_URL is not loopback"
            )
        elif not self.production:
            log.warning(
                "ENROLLWIRE_ENV is not set: development features are off; set ENROLLWIRE_ENV=production"
            )
