"""One Redis client per URL and process, for locks and health checks."""

import threading

import redis
from django.conf import settings

_clients = {}
_guard = threading.Lock()


def get_redis(url=None):
    url = url or settings.REDIS_URL
    with _guard:
        client = _clients.get(url)
        if client is None:
            timeout = settings.REDIS_SOCKET_TIMEOUT
            client = redis.Redis.from_url(
                url,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=30,
                decode_responses=True,
            )
            _clients[url] = client
        return client


def mask_url(url):
    """The URL with its password replaced, for messages and logs."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    userinfo, host = rest.rsplit("@", 1)
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
