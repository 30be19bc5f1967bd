"""Read settings from the environment, failing with one line that names the variable.

Every value the deployment can change comes through these helpers, so a typo in
an env file stops start-up with ``configuration error: NAME ...`` instead of a
traceback, and before anything connects anywhere.
"""

import os
import re


class ConfigError(SystemExit):
    """Raised for a bad environment value; exits with one line on stderr."""

    def __init__(self, name, problem):
        super().__init__(f"configuration error: {name} {problem}")


# The placeholders of our examples (compose/env.example, the vault example's
# replace-with-...), Django's startproject keys, and their like: never a secret.
_PLACEHOLDER = re.compile(
    r"(?i)^(change[-_ ]?me|replace[-_ ]?(with|me)|your[-_ ]|django-insecure|insecure)"
    r"|^(password|passw0rd|secret|postgres|redis|admin|dev|test|example|x+)$"
)


def is_placeholder(value):
    return bool(_PLACEHOLDER.search(value or ""))


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def raw(name, default=None):
    value = os.environ.get(name)
    return default if value is None else value.strip()


def string(name, default=None, required=False):
    value = raw(name, default)
    if required and not value:
        raise ConfigError(name, "is not set; set it in the env file")
    return value


def boolean(name, default=False):
    value = raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(name, f"must be true or false (1/0, yes/no, on/off), not {value!r}")


def integer(name, default, minimum=None, maximum=None):
    value = raw(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(name, f"must be a whole number, not {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(name, f"must be at least {minimum}, not {number}")
    if maximum is not None and number > maximum:
        raise ConfigError(name, f"must be at most {maximum}, not {number}")
    return number


def items(name, default=""):
    """A comma-separated list; blanks are dropped."""
    value = raw(name, default)
    return [item.strip() for item in value.split(",") if item.strip()]


def url(name, schemes, default=None, required=True):
    value = raw(name, default)
    if not value:
        if required:
            raise ConfigError(name, f"is not set; set it to a {schemes[0]}:// URL")
        return value
    scheme = value.split("://", 1)[0] if "://" in value else ""
    if scheme not in schemes:
        raise ConfigError(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value
