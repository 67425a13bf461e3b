"""The portal app's models live in its domain packages; importing them here
registers them with the ``portal`` app (same app label, same tables).
Nothing imports its models from here: the domains import each other's
``models`` modules directly."""

from portal.consumption.models import BusinessUnit, BusinessUnitMembership, Quota  # noqa: F401
from portal.instances.models import InstanceDependency, InstanceEvent, InstanceTransfer, ServiceInstance  # noqa: F401
from portal.integrations.models import ApiToken, WebhookDelivery, WebhookSubscription  # noqa: F401
from portal.notifications.models import Notification, NotificationPreference  # noqa: F401
from portal.orders.models import (  # noqa: F401
    IdempotencyRecord,
    Order,
    OrderApproval,
    OrderComment,
    OrderDryRun,
    OrderEvent,
    OrderRun,
)
