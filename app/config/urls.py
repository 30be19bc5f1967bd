from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

from core import views as core_views

admin.site.site_header = "Shop administration"
admin.site.site_title = "Shop admin"

urlpatterns = [
    # /healthz (liveness) is answered by core.middleware.HealthzMiddleware, before routing.
    path("readyz", core_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
