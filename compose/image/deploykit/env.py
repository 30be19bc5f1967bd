"""The kit's reading of its own environment: one ``configuration error`` line per problem."""

import os
import re

# The placeholders of our examples (compose/env.example, the vault examples'
# replace-with-...), Django's startproject keys, and their like: never a secret.
_PLACEHOLDER = re.compile(
    r"(?i)^(change[-_ ]?me|replace[-_ ]?(with|me)|your[-_ ]|django-insecure|insecure)"
    r"|^(password|passw0rd|secret|postgres|redis|admin|dev|test|example|x+)$"
)


class ConfigError(SystemExit):
    """Exits with ``configuration error: NAME <problem>`` on stderr."""

    def __init__(self, name, problem):
        super().__init__(f"configuration error: {name} {problem}")


def is_placeholder(value):
    return bool(_PLACEHOLDER.search(value or ""))


def get(name, default=""):
    """The variable's value, stripped; ``default`` when it is unset."""
    value = os.environ.get(name)
    return default if value is None else value.strip()


def number(name, default, minimum=1, maximum=None):
    """A whole number within bounds; ``default`` when unset or empty."""
    value = get(name)
    if not value:
        return default
    if not re.fullmatch(r"[0-9]+", value):
        raise ConfigError(name, f"must be a whole number, not {value!r}")
    if int(value) < minimum:
        raise ConfigError(name, f"must be at least {minimum}, not {int(value)}")
    if maximum is not None and int(value) > maximum:
        raise ConfigError(name, f"must be at most {maximum}, not {int(value)}")
    return int(value)
