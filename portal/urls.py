from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from portal import views, views_notifications

urlpatterns = [
    path("", views.catalogue_home, name="home"),
    path("products/<slug:slug>/", views.product_detail, name="product-detail"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("notifications/", views_notifications.notification_list, name="notifications"),
    path(
        "notifications/<int:notification_id>/open/",
        views_notifications.notification_open,
        name="notification-open",
    ),
    path("notifications/read-all/", views_notifications.notification_read_all, name="notifications-read-all"),
    path(
        "notifications/preferences/",
        views_notifications.notification_preferences,
        name="notification-preferences",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    # Squad insights: dashboards, overview, dependency graph, CSV, /metrics.
    path("", include("portal.insights.urls")),
]
