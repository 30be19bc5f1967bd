"""The deploy kit's layer in every project image: what runs the stack, not the project.

Installed at /opt/kit (on PYTHONPATH) by compose/image/base.Dockerfile:

- ``deploykit.checkenv``     the env file's check, before anything starts;
- ``deploykit.gunicorn``     gunicorn's settings (web);
- ``deploykit.wsgi``         the project's WSGI app, with /healthz and /readyz;
- ``deploykit.celeryapp``    the project's Celery app, with the worker's alive
                             file and the kit's settings (worker, beat, flower);
- ``deploykit.healthcheck``  Docker's healthchecks for web, worker and beat;
- ``deploykit.release``      migrate, collectstatic, the superuser (a deploy);
- ``deploykit.smoke``        a task round trip through a worker (a deploy);
- ``deploykit.status``       queues, workers' active tasks, recent results
                             (playbooks/status.yml);
- ``deploykit.sentry``       error tracking when SENTRY_DSN is set (web,
                             worker, beat);
- ``deploykit.devworker``    a worker that restarts on code changes (make dev).

The project names its modules in the environment (compose/env.example):
DJANGO_SETTINGS_MODULE, KIT_WSGI_APP, KIT_CELERY_APP and, optionally,
KIT_CHECK_MODULE. docs/project-contract.md is the whole contract.
"""
