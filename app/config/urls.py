from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView

admin.site.site_header = "Shop administration"
admin.site.site_title = "Shop admin"

urlpatterns = [
    # /healthz and /readyz are the kit's (deploykit.wsgi), answered before Django.
    path("admin/", admin.site.urls),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
