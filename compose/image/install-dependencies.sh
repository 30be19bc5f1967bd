#!/bin/sh
# install-dependencies SRC VENV: the project's dependencies, from its lock,
# into a new virtualenv (the image recipe's builder stage runs it).
#   uv.lock + pyproject.toml   uv sync --frozen: exactly the lock, no dev group
#   requirements.txt           uv pip install: the pinned file, as it is
# The kit runs the web service with gunicorn: when the lock has none, the
# kit's pinned one is added.
set -eu
src=$1 venv=$2
GUNICORN="gunicorn==27.0.1"
cd "$src"
if [ -f uv.lock ] && [ -f pyproject.toml ]; then
  echo "install-dependencies: uv.lock (uv sync --frozen --no-dev)"
  UV_PROJECT_ENVIRONMENT=$venv uv sync --frozen --no-dev --no-install-project --python "$(command -v python)"
elif [ -f requirements.txt ]; then
  echo "install-dependencies: requirements.txt (uv pip install)"
  uv venv --python "$(command -v python)" "$venv"
  uv pip install --python "$venv/bin/python" -r requirements.txt
elif [ -f poetry.lock ]; then
  echo "install-dependencies: poetry.lock is not read by the kit; export it once and commit the result:" >&2
  echo "  poetry export --only main -f requirements.txt -o requirements.txt" >&2
  exit 1
else
  echo "install-dependencies: the project has neither uv.lock (with pyproject.toml) nor requirements.txt" >&2
  exit 1
fi
"$venv/bin/python" -c "import gunicorn" 2>/dev/null || uv pip install --python "$venv/bin/python" "$GUNICORN"
"$venv/bin/python" -c "import django, celery" || {
  echo "install-dependencies: Django and Celery must be among the project's dependencies" >&2; exit 1; }
