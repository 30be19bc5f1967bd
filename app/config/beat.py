"""Celery beat that sends only while it holds a leader lease in Redis.

Two beats (``docker compose up --scale beat=2``, or one on a second host) would
each send every periodic task, so each one would run twice. So a beat sends
only while it holds the lease ``beat:leader``: a Redis key with its id and a TTL
of BEAT_LEADER_TTL seconds, taken when free and renewed on every tick (beat
wakes at least every third of the TTL). Any other beat is a standby: it sends
nothing, leaves the schedule file alone (a standby of ``--scale`` shares the
leader's volume), and takes over within a second of the leader's stop (the
leader releases the lease) or within the TTL of its death, re-reading the file
for the last run times. While Redis does not answer, a beat sends nothing: a
missed sweep is harmless, a doubled one is what this prevents.
"""

import logging
import os
import secrets
import socket

from celery.beat import PersistentScheduler
from django.conf import settings
from redis.exceptions import RedisError

from core.redis import get_redis, mask_url

logger = logging.getLogger(__name__)

LEASE_KEY = "beat:leader"
# How often a standby checks the lease: it takes over this soon after a release.
STANDBY_POLL = 1.0

# Take the lease when it is free, renew it when it is ours; returns its holder.
CLAIM = """
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
    redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
    return ARGV[1]
end
return holder
"""
# Delete the lease only while it is ours.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderScheduler(PersistentScheduler):
    """A PersistentScheduler that sends, and writes its file, only while it leads.

    Its schedule file is open only while it leads: a standby closes it unsaved
    and opens it again when it takes over, so it starts from the run times the
    last leader saved rather than from the ones it read at start.
    """

    def __init__(self, *args, **kwargs):
        self.ttl = settings.BEAT_LEADER_TTL
        self.beat_id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.leading = False
        self.holder = None  # the holder last seen, to log changes only
        self.redis_down = False
        client = get_redis()
        self._claim = client.register_script(CLAIM)
        self._release = client.register_script(RELEASE)
        super().__init__(*args, **kwargs)
        # Renew well within the TTL, whatever max interval beat was given.
        self.max_interval = min(self.max_interval, self.ttl / 3)
        # Save after every send, so a standby that shares the file and takes
        # over does not send again what this beat sent just before it died.
        self.sync_every_tasks = 1

    def tick(self, *args, **kwargs):
        if self.lease_holder() != self.beat_id:
            self.close_schedule()
            return min(self.max_interval, STANDBY_POLL)
        self.leading = True
        if self._store is None:  # taking over: read the file the last leader saved
            self.setup_schedule()
            self._heap = None
        return super().tick(*args, **kwargs)

    def lease_holder(self):
        """Take or renew the lease; its holder, or None when Redis fails."""
        try:
            holder = self._claim(keys=[LEASE_KEY], args=[self.beat_id, self.ttl * 1000])
        except RedisError as exc:
            if not self.redis_down:
                logger.warning(
                    "beat: Redis at %s does not answer (%s); sending nothing until it does",
                    mask_url(settings.REDIS_URL),
                    exc,
                )
                self.redis_down, self.holder = True, None
            return None
        if self.redis_down:
            logger.info("beat: Redis answers again")
            self.redis_down = False
        if holder != self.holder:
            if holder == self.beat_id:
                logger.info("beat: leading (lease %s, TTL %s s)", LEASE_KEY, self.ttl)
            else:
                logger.info("beat: standby; %s leads", holder)
            self.holder = holder
        return holder

    def close_schedule(self):
        """Stop leading: close the schedule file, saving it only if we led until now."""
        if self._store is not None:
            if self.leading:
                self._store.sync()
            else:
                self._store.cache.clear()  # the leader's file: drop what we read, unsaved
            self._store.close()
            self._store = None
        self.leading = False

    def sync(self):
        if self.leading:
            super().sync()

    def close(self):
        # Called twice on SIGTERM (beat's signal handler, then its loop's exit).
        was_leading = self.leading
        self.close_schedule()
        if not was_leading:
            return
        try:
            self._release(keys=[LEASE_KEY], args=[self.beat_id])
        except RedisError as exc:
            logger.warning("beat: could not release the lease %s (%s); it expires in %s s", LEASE_KEY, exc, self.ttl)
        else:
            logger.info("beat: released the lease %s", LEASE_KEY)
