"""The order API's representations and request bodies. Orders are read
by hand for speed where a list is long; every change of state goes through
the order services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from catalogue.markdown import render_markdown
from portal.api.base_serializers import StrictCharField, StrictSerializer, current_zone, iso, list_url
from portal.api.catalogue import ProductRefSerializer, SquadRefSerializer
from portal.orders.approval_steps import step_progress
from portal.orders.choices import OrderStatus
from portal.orders.commands import COMMAND_NAMES, order_actions
from portal.orders.conversation import MAX_BODY
from portal.orders.models import Order, OrderComment, OrderDryRun, OrderEvent
from portal.orders.selectors import order_result
from portal.web.runlog import plain_text
from runbooks.models import RunEvent
from runbooks.selectors import run_events_page

#: The columns an order's list entry shows, as ``QuerySet.values()`` names them.
ORDER_ROW = (
    "id",
    "status",
    "product_version",
    "fulfilment",
    "approval_policy",
    "inputs",
    "attempts",
    "created_at",
    "updated_at",
    "approved_at",
    "queued_at",
    "started_at",
    "claimed_at",
    "finished_at",
    "return_code",
    "host_summary",
    "failure_reason",
    "resolution_note",
    "result",
    "failed_step",
    "failure_kind",
    "product__slug",
    "product__name",
    "squad__slug",
    "squad__name",
    "requester__username",
    "claimed_by__username",
    "instance_id",
    "operation__slug",
    "business_unit__slug",
    "quota_excess",
)

#: The longest reason or note a command accepts.
MAX_TEXT = 2000


def order_row(order: Order) -> dict[str, Any]:
    """An order instance (related rows loaded) as the row ``ORDER_ROW`` reads."""
    row: dict[str, Any] = {}
    for name in ORDER_ROW:
        value: Any = order
        for part in name.split("__"):
            value = getattr(value, part) if value is not None else None
        row[name] = value
    return row


class ResultLinkSerializer(serializers.Serializer):
    title = serializers.CharField()
    url = serializers.URLField()


class OrderResultSerializer(serializers.Serializer):
    summary = serializers.CharField(
        allow_blank=True,
        help_text="What the runbook told the requester (`set_stats` `squadron.result`), Markdown; "
        "empty when it said nothing.",
    )
    links = ResultLinkSerializer(many=True, help_text="Links the runbook gave with its result.")
    failed_step = serializers.CharField(
        allow_blank=True, help_text="The name of the step (Ansible task) that failed, if one did."
    )
    retry_can_help = serializers.BooleanField(
        help_text="False when the runbook refused the inputs themselves: a retry would fail the same "
        "way, order again with other inputs."
    )
    return_code = serializers.IntegerField(allow_null=True)
    host_summary = serializers.DictField(child=serializers.JSONField())
    failure_reason = serializers.CharField(allow_blank=True)
    resolution_note = serializers.CharField(allow_blank=True)


class OrderSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:order-detail")
    product = ProductRefSerializer()
    squad = SquadRefSerializer()
    requester = serializers.CharField(source="requester.username")
    claimed_by = serializers.CharField(source="claimed_by.username", allow_null=True, default=None)
    status = serializers.ChoiceField(choices=OrderStatus.choices)
    inputs = serializers.DictField(
        child=serializers.JSONField(), help_text="As submitted; secret values are masked."
    )
    result = serializers.SerializerMethodField()
    instance = serializers.IntegerField(
        source="instance_id", allow_null=True, help_text="The instance it made or acts on (id), if any."
    )
    operation = serializers.CharField(
        source="operation.slug",
        allow_null=True,
        default=None,
        help_text="Slug of the day-2 operation, if any.",
    )
    business_unit = serializers.CharField(
        source="business_unit.slug",
        allow_null=True,
        default=None,
        help_text="Slug of the business unit the order is for (charged to, counted against its "
        "quotas), or null when its requester belongs to none.",
    )
    quota_excess = serializers.CharField(
        allow_blank=True,
        help_text="Why the order waits for approval beyond its product's policy: the quotas of its "
        "business unit it would exceed, with their limits and use (empty when within them).",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "url",
            "status",
            "product",
            "instance",
            "operation",
            "business_unit",
            "quota_excess",
            "product_version",
            "squad",
            "requester",
            "fulfilment",
            "approval_policy",
            "inputs",
            "attempts",
            "claimed_by",
            "created_at",
            "updated_at",
            "approved_at",
            "queued_at",
            "started_at",
            "claimed_at",
            "finished_at",
            "result",
        ]

    def to_representation(self, order: Order | dict) -> dict[str, Any]:
        """From an ``Order`` or from a row of ``ORDER_ROW`` values (the list
        reads rows: no model instances to build)."""
        row = order if isinstance(order, dict) else order_row(order)
        zone = current_zone(self.context)
        claimed_by = row["claimed_by__username"]
        return {
            "id": row["id"],
            "url": f"{list_url(self.context, 'api:order-list')}{row['id']}/",
            "status": row["status"],
            "product": {"slug": row["product__slug"], "name": row["product__name"]},
            "instance": row["instance_id"],
            "operation": row["operation__slug"],
            "business_unit": row["business_unit__slug"],
            "quota_excess": row["quota_excess"],
            "product_version": row["product_version"],
            "squad": {"slug": row["squad__slug"], "name": row["squad__name"]},
            "requester": row["requester__username"],
            "fulfilment": row["fulfilment"],
            "approval_policy": row["approval_policy"],
            "inputs": row["inputs"],
            "attempts": row["attempts"],
            "claimed_by": claimed_by,
            "created_at": iso(row["created_at"], zone),
            "updated_at": iso(row["updated_at"], zone),
            "approved_at": iso(row["approved_at"], zone),
            "queued_at": iso(row["queued_at"], zone),
            "started_at": iso(row["started_at"], zone),
            "claimed_at": iso(row["claimed_at"], zone),
            "finished_at": iso(row["finished_at"], zone),
            "result": order_result(row),
        }

    @extend_schema_field(OrderResultSerializer)
    def get_result(self, order: Order) -> dict[str, Any]:
        return order_result(order)


class OrderHistorySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = OrderEvent
        fields = ["created_at", "actor", "from_status", "to_status", "note"]


class OrderDetailSerializer(OrderSerializer):
    events_url = serializers.SerializerMethodField()
    comments_url = serializers.SerializerMethodField()
    waiting_on_requester_since = serializers.DateTimeField(
        allow_null=True,
        read_only=True,
        help_text="Since when a squad member's question waits for the requester's reply (null: it "
        "does not); the requester's comment clears it. Not a status: the order stays where it is.",
    )
    runbook_version = serializers.SerializerMethodField()
    history = OrderHistorySerializer(source="events", many=True)
    actions = serializers.SerializerMethodField()
    approval = serializers.SerializerMethodField()
    dry_run = serializers.SerializerMethodField()

    class Meta(OrderSerializer.Meta):
        fields = [
            *OrderSerializer.Meta.fields,
            "runbook_version",
            "events_url",
            "comments_url",
            "waiting_on_requester_since",
            "history",
            "approval",
            "dry_run",
            "actions",
        ]

    def to_representation(self, order: Order | dict) -> dict[str, Any]:
        assert isinstance(order, Order)  # a detail is of an order, never of a list's row
        return {
            **super().to_representation(order),
            "runbook_version": self.get_runbook_version(order),
            "events_url": self.get_events_url(order),
            "comments_url": self.get_comments_url(order),
            "waiting_on_requester_since": iso(order.waiting_on_requester_since, current_zone(self.context)),
            "history": [
                {
                    "created_at": iso(event.created_at, current_zone(self.context)),
                    "actor": event.actor.get_username() if event.actor else None,
                    "from_status": event.from_status,
                    "to_status": event.to_status,
                    "note": event.note,
                }
                for event in order.events.all()
            ],
            "approval": self.get_approval(order),
            "dry_run": self.get_dry_run(order),
            "actions": self.get_actions(order),
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "The latest check-mode preview of the order, if an approver asked for one.",
            "properties": {
                "run": {"type": "integer"},
                "status": {"type": "string"},
                "requested_by": {"type": "string", "nullable": True},
                "created_at": {"type": "string", "format": "date-time"},
                "would_change": {"type": "object", "additionalProperties": {"type": "integer"}},
                "failure_reason": {"type": "string"},
                "output_tail": {"type": "string"},
            },
            "required": [
                "run",
                "status",
                "requested_by",
                "created_at",
                "would_change",
                "failure_reason",
                "output_tail",
            ],
        }
    )
    def get_dry_run(self, order: Order) -> dict[str, Any] | None:
        dry_run = OrderDryRun.objects.filter(order_id=order.pk).select_related("run", "requested_by").first()
        if dry_run is None:
            return None
        run = dry_run.run
        events, _ = run_events_page(run_id=run.pk, limit=DRY_RUN_OUTPUT_EVENTS)
        changes = {host: (counts or {}).get("changed", 0) for host, counts in (run.stats or {}).items()}
        return {
            "run": run.pk,
            "status": run.status,
            "requested_by": dry_run.requested_by.get_username() if dry_run.requested_by else None,
            "created_at": iso(dry_run.created_at, current_zone(self.context)),
            "would_change": changes,
            "failure_reason": run.failure_reason,
            "output_tail": "".join(plain_text(events)),
        }

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "description": "The approval steps copied onto the order when it was placed, in the "
            "order they open, with who decides each and the decisions so far.",
            "properties": {
                "current_step": {"type": "integer", "nullable": True},
                "steps": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "approvers": {"type": "string"},
                            "required": {"type": "integer"},
                            "approved": {"type": "integer"},
                            "state": {"type": "string", "enum": ["done", "open", "rejected", "waiting"]},
                            "decisions": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "approver": {"type": "string"},
                                        "decision": {"type": "string", "enum": ["approved", "rejected"]},
                                        "comment": {"type": "string"},
                                        "created_at": {"type": "string", "format": "date-time"},
                                    },
                                    "required": ["approver", "decision", "comment", "created_at"],
                                },
                            },
                        },
                        "required": ["name", "approvers", "required", "approved", "state", "decisions"],
                    },
                },
            },
            "required": ["current_step", "steps"],
        }
    )
    def get_approval(self, order: Order) -> dict[str, Any] | None:
        if not order.approval_steps:
            return None
        zone = current_zone(self.context)
        open_step = order.approval_step if order.status == OrderStatus.PENDING_APPROVAL else None
        return {
            "current_step": open_step,
            "steps": [
                {
                    "name": item["step"]["name"],
                    "approvers": item["who"],
                    "required": item["step"]["required"],
                    "approved": item["approved"],
                    "state": item["state"],
                    "decisions": [
                        {
                            "approver": decision.approver.get_username(),
                            "decision": decision.decision,
                            "comment": decision.comment,
                            "created_at": iso(decision.created_at, zone),
                        }
                        for decision in item["decisions"]
                    ],
                }
                for item in step_progress(order)
            ],
        }

    @extend_schema_field(OpenApiTypes.URI)
    def get_events_url(self, order: Order) -> str:
        return reverse("api:order-events", kwargs={"pk": order.pk}, request=self.context.get("request"))

    def get_comments_url(self, order: Order) -> str:
        return reverse("api:order-comments", kwargs={"pk": order.pk}, request=self.context.get("request"))

    @extend_schema_field(
        {
            "type": "object",
            "nullable": True,
            "properties": {"runbook": {"type": "string"}, "number": {"type": "integer"}},
            "required": ["runbook", "number"],
        }
    )
    def get_runbook_version(self, order: Order) -> dict[str, Any] | None:
        version = order.runbook_version
        return {"runbook": version.runbook.slug, "number": version.number} if version else None

    @extend_schema_field(serializers.ListField(child=serializers.ChoiceField(choices=COMMAND_NAMES)))
    def get_actions(self, order: Order) -> list[str]:
        """What the caller may do to the order now (``POST {url}{action}/``)."""
        request = self.context.get("request")
        return order_actions(request.user, order) if request else []


#: Events of a dry run whose output an order's detail carries.
DRY_RUN_OUTPUT_EVENTS = 200


class OrderCreateSerializer(StrictSerializer):
    product = serializers.SlugField(max_length=64, help_text="Slug of a published product.")
    business_unit = serializers.SlugField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="Slug of the business unit the order is for: required only when you belong to "
        "several (GET /api/v1/me/ lists yours); left out, a member of one orders for it.",
    )
    inputs = serializers.DictField(
        child=serializers.JSONField(),
        default=dict,
        help_text="Values for the product's form (see the product's `form_schema`).",
    )


class ReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=MAX_TEXT, help_text="Shown to the requester.")


class OptionalReasonSerializer(StrictSerializer):
    reason = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


class NoteSerializer(StrictSerializer):
    note = StrictCharField(max_length=MAX_TEXT, required=False, allow_blank=True, default="")


#: What ``step`` means on ``/approve/`` and ``/reject/``.
STEP_HELP = (
    "The approval step you decided on: the order's `approval.current_step` when you read it. "
    "Given and no longer the open step (someone decided it meanwhile), the decision is refused "
    "with 409 `stale_step` and nothing is recorded; left out, the decision is for whatever step "
    "is open when it arrives."
)


class ApproveSerializer(NoteSerializer):
    step = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, help_text=STEP_HELP
    )


class RejectSerializer(ReasonSerializer):
    step = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=0, help_text=STEP_HELP
    )


SEEN_STATUS_HELP = (
    "The order's `status` when you read it. Given and no longer the order's status (someone "
    "moved it meanwhile), the command is refused with 409 `stale_state` and nothing is recorded."
)
SEEN_CLAIMANT_HELP = (
    "The order's `claimed_by` when you read it (null: unclaimed). Given and no longer who "
    "claims it (someone claimed or released it meanwhile), the command is refused with 409 "
    "`stale_state` and nothing is recorded."
)
CLAIM_HELP = (
    'Claim the order as you close it when it is not claimed yet ("Claim and complete", recorded '
    "as a claim on completion; a note is then required). Without it an unclaimed order is refused: "
    "claim it first."
)


class SeenSerializer(StrictSerializer):
    """The order as the client read it: a command made on a stale read is refused."""

    status = serializers.ChoiceField(choices=OrderStatus.choices, required=False, help_text=SEEN_STATUS_HELP)
    claimed_by = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=150, help_text=SEEN_CLAIMANT_HELP
    )


class CancelSerializer(OptionalReasonSerializer, SeenSerializer):
    pass


class CompleteSerializer(NoteSerializer, SeenSerializer):
    claim = serializers.BooleanField(required=False, default=False, help_text=CLAIM_HELP)


class FailSerializer(ReasonSerializer, SeenSerializer):
    claim = serializers.BooleanField(required=False, default=False, help_text=CLAIM_HELP)


class StaleStateSerializer(serializers.Serializer):
    """The answer to a command made on an order that has moved since it was read."""

    detail = serializers.CharField(help_text="What happened meanwhile.")
    code = serializers.CharField(help_text="`stale_state`, or `illegal_transition`.")
    status = serializers.ChoiceField(
        choices=OrderStatus.choices, required=False, help_text="With `stale_state`: the order's status now."
    )
    claimed_by = serializers.CharField(
        allow_null=True, required=False, help_text="With `stale_state`: who claims it now (null: nobody)."
    )


class OrderCommentSerializer(serializers.ModelSerializer):
    """A message of an order's conversation. Work notes are listed only to
    the squad fulfilling the order; the requester never sees one."""

    author = serializers.CharField(source="author.username", allow_null=True, default=None)
    body_html = serializers.SerializerMethodField(help_text="The body's Markdown as sanitized HTML.")

    class Meta:
        model = OrderComment
        fields = ["id", "kind", "author", "body", "body_html", "created_at"]
        read_only_fields = fields

    def get_body_html(self, comment: OrderComment) -> str:
        return render_markdown(comment.body)


class OrderCommentCreateSerializer(StrictSerializer):
    body = StrictCharField(max_length=MAX_BODY, help_text="Markdown (sanitized when shown).")
    kind = serializers.ChoiceField(
        choices=OrderComment.Kind.choices,
        default=OrderComment.Kind.COMMENT,
        help_text="`comment`: both sides see it. Squad only: `question` (asks the requester for "
        "information: the order waits on them until they comment) and `work_note` (never shown "
        "to the requester).",
    )


class StaleStepSerializer(serializers.Serializer):
    """The answer to a decision on a step that is no longer open, or on an
    order that no longer waits for approval."""

    detail = serializers.CharField(help_text="What happened meanwhile and what waits now.")
    code = serializers.CharField(help_text="`stale_step`, or `illegal_transition`.")
    current_step = serializers.IntegerField(
        allow_null=True,
        required=False,
        help_text="With `stale_step`: the step open now (null when none is). Absent with "
        "`illegal_transition` (the order no longer waits for approval).",
    )


class RunEventSerializer(serializers.ModelSerializer):
    attempt = serializers.IntegerField(read_only=True, help_text="1 for the first run, 2 after a retry…")
    stdout = serializers.CharField(
        source="shown_stdout",
        read_only=True,
        help_text="What the event printed, secrets masked; an output longer than "
        "SQUADRON_EVENT_STDOUT_LIMIT characters keeps its head and tail and says how much is left out "
        "(the order page's Download full log has all of it).",
    )

    class Meta:
        model = RunEvent
        fields = ["attempt", "counter", "event", "host", "task", "stdout", "failed", "created_at"]
