# The kit's runtime, under every project's image: the Python base image, the
# project's extra Debian packages, the users, the directories the stack
# mounts, and the kit's own code (deploykit, at /opt/kit). compose/image/
# Dockerfile builds the project on it.
#   docker build -f compose/image/base.Dockerfile -t shop-app-base:dev compose/image
ARG PYTHON_IMAGE=python:3.13-slim
FROM ${PYTHON_IMAGE}

# Debian packages the project needs at run time (and to build its
# dependencies), space-separated: the role's django_stack_apt_packages.
ARG APT_PACKAGES=""
RUN if [ -n "$APT_PACKAGES" ]; then \
      apt-get update \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PACKAGES \
      && rm -rf /var/lib/apt/lists/*; \
    fi

# web runs as app (10001), which owns only the static and media volumes;
# worker and beat run as 65534 (nobody/nogroup), whose only writable place is
# beat's volume. The root filesystem is read-only at run time.
ARG APP_UID=10001
ARG APP_GID=10001
RUN groupadd --system --gid ${APP_GID} app \
 && useradd --system --uid ${APP_UID} --gid app --no-create-home --home-dir /app --shell /usr/sbin/nologin app \
 && mkdir -p /srv/static /srv/media /srv/exchange /var/lib/celery \
 && chown app:app /srv/static /srv/media \
 && chown 65534:65534 /var/lib/celery

COPY deploykit /opt/kit/deploykit
# Exports the secret files under /run/secrets in every Python process (deploykit/secrets.py).
COPY sitecustomize.py /opt/kit/sitecustomize.py
COPY install-dependencies.sh /opt/kit/bin/install-dependencies
RUN python -m compileall -q /opt/kit

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/opt/kit \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    STATIC_ROOT=/srv/static \
    MEDIA_ROOT=/srv/media
