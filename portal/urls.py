from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal.api.base import not_found
from portal.orders.commands import COMMAND_NAMES
from portal.pages import (
    account,
    audit,
    catalogue,
    instances,
    login,
    notifications,
    operations,
    ordering,
    orders,
    sso,
    tokens,
    webhooks,
    work,
)

urlpatterns = [
    path("", catalogue.catalogue_home, name="home"),
    path("products/<slug:slug>/", catalogue.product_detail, name="product-detail"),
    path("products/<slug:slug>/order/", ordering.product_order, name="product-order"),
    path("orders/", orders.my_orders, name="my-orders"),
    path("orders/badges/", orders.order_badges, name="order-badges"),
    path("orders/<int:pk>/", orders.order_detail, name="order-detail"),
    path("orders/<int:pk>/live/", orders.order_live, name="order-live"),
    path("orders/<int:pk>/comments/", orders.order_comment, name="order-comment"),
    path("orders/<int:pk>/secrets/", orders.order_secrets, name="order-secrets"),
    path("orders/<int:pk>/runs/<int:run_id>/log/", orders.run_log_earlier, name="run-log"),
    path("orders/<int:pk>/runs/<int:run_id>/log.txt", orders.run_log_download, name="run-log-download"),
    *[
        path(f"orders/<int:pk>/{name}/", orders.order_action, {"action": name}, name=f"order-{name}")
        for name in COMMAND_NAMES
    ],
    path("instances/", instances.instance_list, name="instance-list"),
    path("instances/<int:pk>/", instances.instance_detail, name="instance-detail"),
    path("instances/<int:pk>/state/", instances.instance_state, name="instance-state"),
    path("instances/<int:pk>/transfer/", instances.instance_transfer, name="instance-transfer"),
    *[
        path(
            f"instances/<int:pk>/transfer/{name}/",
            instances.instance_transfer_decision,
            {"decision": name},
            name=f"instance-transfer-{name}",
        )
        for name in instances.DECISIONS
    ],
    path(
        "instances/<int:pk>/operations/<slug:slug>/",
        instances.instance_operation,
        name="instance-operation",
    ),
    path("approvals/", work.approvals_inbox, name="approvals"),
    path("queue/", work.manual_queue, name="manual-queue"),
    path("login/", login.LoginView.as_view(), name="login"),
    path("login/code/", login.login_code, name="login-code"),
    path("oidc/authenticate/", sso.SignInStart.as_view(), name="oidc-start"),
    path("oidc/callback/", sso.SignInCallback.as_view(), name="oidc-callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/security/", account.account_security, name="account-security"),
    path("account/security/recovery-codes/", account.recovery_codes_new, name="recovery-codes-new"),
    path("account/security/off/", account.two_step_off, name="two-step-off"),
    path("notifications/", notifications.notification_list, name="notifications"),
    path(
        "notifications/<int:notification_id>/open/",
        notifications.notification_open,
        name="notification-open",
    ),
    path("notifications/read-all/", notifications.notification_read_all, name="notifications-read-all"),
    path(
        "notifications/preferences/",
        notifications.notification_preferences,
        name="notification-preferences",
    ),
    path("audit/", audit.audit_list, name="audit"),
    path("audit/export.<str:fmt>", audit.audit_export, name="audit-export"),
    path("healthz", operations.healthz, name="healthz"),
    path("readyz", operations.readyz, name="readyz"),
    path("favicon.ico", operations.favicon, name="favicon"),
    path("admin/", admin.site.urls),
    # REST API
    path("api/v1/", include("portal.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # Integrations: API tokens and webhooks
    path("integrations/tokens/", tokens.token_list, name="token-list"),
    path("integrations/tokens/<int:token_id>/revoke/", tokens.token_revoke_view, name="token-revoke"),
    path("integrations/webhooks/", webhooks.webhook_list, name="webhook-list"),
    path("integrations/webhooks/<int:webhook_id>/", webhooks.webhook_detail, name="webhook-detail"),
    path(
        "integrations/webhooks/<int:webhook_id>/<slug:command>/",
        webhooks.webhook_command,
        name="webhook-command",
    ),
    # Squad insights: dashboards, overview, dependency graph, CSV, /metrics.
    path("", include("portal.insights.urls")),
    # Last: any other path under /api/ answers a JSON 404 (newlines included),
    # after every app's API routes (insights adds its own under /api/v1/).
    re_path(r"^api/[\s\S]*$", not_found),
]

handler500 = "portal.api.base.server_error"
