"""``/api/v1/``: the paths of DESIGN.md's REST section."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from portal.api import views
from portal.api.orders import views as orders

app_name = "api"

router = SimpleRouter()
router.register("products", views.ProductViewSet, basename="product")
router.register("orders", orders.OrderViewSet, basename="order")
router.register("squads", views.SquadViewSet, basename="squad")
router.register("runbooks", views.RunbookViewSet, basename="runbook")
router.register("webhooks", views.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("me/", views.MeView.as_view(), name="me"),
    path("squads/<slug:slug>/metrics/", views.SquadMetricsView.as_view(), name="squad-metrics"),
    path("products/<slug:slug>/metrics/", views.ProductMetricsView.as_view(), name="product-metrics"),
    path("orders/<int:pk>/events/", orders.OrderEventListView.as_view(), name="order-events"),
    path("webhooks/<int:pk>/deliveries/", views.WebhookDeliveryListView.as_view(), name="webhook-deliveries"),
    path(
        "webhooks/<int:pk>/deliveries/<uuid:delivery_id>/redeliver/",
        views.WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
    *router.urls,
]
