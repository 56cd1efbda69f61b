"""iK Pay's stand-in mounted in the development sandbox, so `make run` shows the whole card flow.

With `ENROLLWIRE_PAYMENT_GATEWAY=ikhokha`, the sandbox on and no `ENROLLWIRE_IKHOKHA_API_URL`,
the app serves `sandbox.ikhokha_standin` under `/sandbox/ikpay` and the gateway calls it there
with a development app id and secret: the paylink, the hosted page, the signed callback to
`/webhooks/ikhokha` and the return page, all on one machine. Never in production: production
refuses the sandbox (`server.payment_settings`), and `Settings.ikpay_standin` needs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.ikhokha_standin import IkPayStandIn
from server.settings import Settings

PREFIX = "/sandbox/ikpay"
DEV_APP_ID = "IKDEVELOPMENTAPP"
DEV_APP_SECRET = "enrollwire-development-ikpay-secret-change-me"


@dataclass(frozen=True)
class IkPayCredentials:
    api_url: str
    app_id: str
    app_secret: str = field(repr=False)


def standin_credentials(settings: Settings) -> IkPayCredentials | None:
    """Where the gateway finds the mounted stand-in, and the pair both sides sign with; None
    unless the settings ask for it. App id and secret, when set, are used as they are."""
    if not settings.ikpay_standin:
        return None
    secret = settings.ikhokha_app_secret
    return IkPayCredentials(
        api_url=settings.base_url + PREFIX,
        app_id=settings.ikhokha_app_id or DEV_APP_ID,
        app_secret=secret.get_secret_value() if secret is not None else DEV_APP_SECRET,
    )


def mounted_standin(settings: Settings) -> IkPayStandIn | None:
    """The stand-in to serve, without its client: the app hands it the runtime's at startup."""
    credentials = standin_credentials(settings)
    if credentials is None:
        return None
    return IkPayStandIn(credentials.app_id, credentials.app_secret, None, credentials.api_url, prefix=PREFIX)
