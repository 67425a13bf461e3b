from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views

urlpatterns = [
    path("", views.catalogue_home, name="home"),
    path("products/<slug:slug>/", views.product_detail, name="product-detail"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Squad insights: dashboards, overview, dependency graph, CSV, /metrics.
    path("", include("portal.insights.urls")),
]
