"""Answer the liveness probe, /healthz, before host validation, sessions and routing.

Docker's healthcheck (config/healthcheck.py) calls http://127.0.0.1:8000/healthz,
whose Host header is not in ALLOWED_HOSTS on a server; liveness must not depend
on it, nor on the database or Redis."""

from django.http import JsonResponse


class HealthzMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz" and request.method in ("GET", "HEAD"):
            response = JsonResponse({"status": "ok"})
            response["Cache-Control"] = "no-store"
            return response
        return self.get_response(request)
