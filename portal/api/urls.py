"""``/api/v1/``: the paths of DESIGN.md's REST section."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from portal.api import audit, catalogue, cost, me, metrics, webhooks
from portal.api.instances import views as instances
from portal.api.orders import views as orders

app_name = "api"

router = SimpleRouter()
router.register("products", catalogue.ProductViewSet, basename="product")
router.register("orders", orders.OrderViewSet, basename="order")
router.register("instances", instances.InstanceViewSet, basename="instance")
router.register("squads", catalogue.SquadViewSet, basename="squad")
router.register("runbooks", catalogue.RunbookViewSet, basename="runbook")
router.register("webhooks", webhooks.WebhookViewSet, basename="webhook")

urlpatterns = [
    path("me/", me.MeView.as_view(), name="me"),
    path("cost/", cost.CostView.as_view(), name="cost"),
    path("audit/", audit.AuditEntryListView.as_view(), name="audit"),
    path("squads/<slug:slug>/metrics/", metrics.SquadMetricsView.as_view(), name="squad-metrics"),
    path("products/<slug:slug>/metrics/", metrics.ProductMetricsView.as_view(), name="product-metrics"),
    path("orders/<int:pk>/events/", orders.OrderEventListView.as_view(), name="order-events"),
    path("orders/<int:pk>/comments/", orders.OrderCommentListView.as_view(), name="order-comments"),
    path(
        "webhooks/<int:pk>/deliveries/", webhooks.WebhookDeliveryListView.as_view(), name="webhook-deliveries"
    ),
    path(
        "webhooks/<int:pk>/deliveries/<uuid:delivery_id>/redeliver/",
        webhooks.WebhookRedeliverView.as_view(),
        name="webhook-redeliver",
    ),
    *router.urls,
]
