"""Error tracking when SENTRY_DSN is set: ``deploykit.sentry.start()``.

deploykit.wsgi (web) and deploykit.celeryapp (worker, beat, flower) call it
before they load the project, so that sentry-sdk's Django and Celery
integrations see every unhandled error of a request or a task. Each event
carries:

- environment: SENTRY_ENVIRONMENT (production when unset);
- release: APP_RELEASE, the release the image was built as;
- server_name: the container's host name.

No personal data is sent (send_default_pii off), and no performance traces
unless SENTRY_TRACES_SAMPLE_RATE (0 to 1) asks for them. Without SENTRY_DSN
it does nothing, and the project need not install sentry-sdk; with it, a
project without sentry-sdk is refused by deploykit.checkenv before it starts.
"""

import re
import socket

from deploykit import env

# https://<public key>@<host>[:port][/path]/<project id>
DSN = re.compile(r"^https?://[A-Za-z0-9]+(:[A-Za-z0-9]+)?@[A-Za-z0-9.-]+(:[0-9]+)?(/[^/\s]+)*/[0-9]+/?$")
MISSING = "is set, but sentry-sdk is not installed: add sentry-sdk to the project's requirements"


def settings():
    """The options from the environment, checked: None when SENTRY_DSN is unset."""
    dsn = env.get("SENTRY_DSN")
    if not dsn:
        return None
    if not DSN.match(dsn):
        raise env.ConfigError(
            "SENTRY_DSN", "must be a DSN such as https://<key>@<host>/<project id> (Sentry: the project's Client Keys)"
        )
    rate = env.get("SENTRY_TRACES_SAMPLE_RATE") or "0"
    if not re.fullmatch(r"(0(\.[0-9]+)?|1(\.0+)?)", rate):
        raise env.ConfigError("SENTRY_TRACES_SAMPLE_RATE", f"must be a number from 0 to 1, not {rate!r}")
    return {
        "dsn": dsn,
        "environment": env.get("SENTRY_ENVIRONMENT") or "production",
        "release": env.get("APP_RELEASE") or None,
        "server_name": socket.gethostname(),
        "send_default_pii": False,
        "traces_sample_rate": float(rate),
    }


def integrations():
    """sentry-sdk's Django and Celery integrations; refuses SENTRY_DSN when sentry-sdk does not import."""
    try:
        from sentry_sdk.integrations.celery import CeleryIntegration
        from sentry_sdk.integrations.django import DjangoIntegration
    except ImportError:
        raise env.ConfigError("SENTRY_DSN", MISSING) from None
    return [DjangoIntegration(), CeleryIntegration()]


def start():
    """Start sentry-sdk with the Django and Celery integrations; False when SENTRY_DSN is unset."""
    options = settings()
    if options is None:
        return False
    import sentry_sdk

    sentry_sdk.init(integrations=integrations(), **options)
    return True
