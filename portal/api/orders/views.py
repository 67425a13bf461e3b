"""The order API: list, place, read an order, its run output, and the
commands of ``portal.orders.commands`` as actions. Thin, over the same
services and selectors as the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalogue.models import Product
from catalogue.selectors import products_orderable
from portal.api.base import ApiMixin, FilterBackend, signed_in_user, writes_as
from portal.api.base_serializers import NoBodySerializer
from portal.api.filtersets import OrderFilter, RunEventFilter
from portal.api.idempotency import idempotency_parameter, placement_response
from portal.api.orders import serializers as s
from portal.api.pagination import CreatedCursorPagination, NumberedPagination
from portal.orders.choices import OrderStatus
from portal.orders.commands import COMMANDS, Decision, OrderCommand
from portal.orders.conversation import order_comment_post, order_comments_for
from portal.orders.models import Order, OrderComment, OrderEvent
from portal.orders.seen import Seen
from portal.orders.selectors import order_run_events, orders_for_api
from portal.orders.submission import order_submit
from runbooks.models import RunEvent
from runbooks.selectors import events_as_shown


@extend_schema_view(
    list=extend_schema(summary="Orders you may see: your own, and your squads' (newest first)"),
    retrieve=extend_schema(summary="An order with its history and the actions you may take"),
)
class OrderViewSet(
    ApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Orders you placed and your squads' orders. A command (cancel, approve,
    claim...) answers the order as it is afterwards; one its status does not
    allow is a 409, and another person's order is a 404."""

    not_found_detail = "No such order."
    lookup_value_regex = r"[0-9]{1,18}"
    filterset_class = OrderFilter
    pagination_class = CreatedCursorPagination
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[Order]:
        orders = orders_for_api(self.request.user)
        if self.action == "list":
            # Rows, not instances: building five model instances per order
            # was the largest cost of a page.
            return orders.values(*s.ORDER_ROW)
        if self.action != "list":
            orders = orders.select_related("runbook_version__runbook", "current_run").prefetch_related(
                Prefetch("events", queryset=OrderEvent.objects.select_related("actor"))
            )
        return orders

    def get_serializer_class(self) -> type:
        if self.action == "list":
            return s.OrderSerializer
        if self.action == "create" or writes_as(self, "POST"):
            return s.OrderCreateSerializer
        return s.OrderDetailSerializer

    def _detail(self, order_id: int) -> dict:
        order = self.get_queryset().get(pk=order_id)
        return s.OrderDetailSerializer(order, context=self.get_serializer_context()).data

    @extend_schema(
        summary="Place an order",
        parameters=[
            idempotency_parameter(
                "Any unique string (a UUID): sending the same key and body again "
                "returns the first answer (200) instead of placing a second order. "
                "Keys are kept for 24 hours."
            )
        ],
        responses={201: s.OrderDetailSerializer, 200: s.OrderDetailSerializer},
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = s.OrderCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["product"]
        inputs = serializer.validated_data["inputs"]
        business_unit = serializer.validated_data["business_unit"]

        def submit() -> Order:
            # Looked up here, not before: a retry under the same
            # Idempotency-Key answers with its order even once the product
            # is retired (the client must learn its order exists).
            try:
                # get(), not first(): no ORDER BY, so no join of the category
                # that only the catalogue's order needs.
                product = (
                    products_orderable()
                    .select_related("runbook__current_version")
                    .defer("description", "runbook__current_version__content", "runbook__description")
                    .get(slug=slug)
                )
            except Product.DoesNotExist:
                raise exceptions.ValidationError(
                    {"product": [f"There is no published product {slug!r}."]}, code="unknown_product"
                ) from None
            return order_submit(
                requester=signed_in_user(request), product=product, inputs=inputs, business_unit=business_unit
            )

        def render(order: Order) -> dict:
            # The new order's related rows are in hand: no need to read it back.
            product = order.product
            order.squad, order.requester = product.squad, signed_in_user(request)
            if order.runbook_version is not None and product.runbook is not None:
                order.runbook_version.runbook = product.runbook
            prefetch_related_objects(
                [order], Prefetch("events", queryset=OrderEvent.objects.select_related("actor"))
            )
            return s.OrderDetailSerializer(order, context=self.get_serializer_context()).data

        return placement_response(
            request,
            requester=signed_in_user(request),
            meaning={"product": slug, "inputs": inputs, "business_unit": business_unit},
            submit=submit,
            render=render,
        )


#: A command's request body, by command: the text it takes
#: (``OrderCommand.text``), the approval step, the state the client saw and
#: the claim on closing, as the command's row says it takes them.
COMMAND_BODIES: dict[str, type | None] = {
    "cancel": s.CancelSerializer,
    "retry": None,
    "approve": s.ApproveSerializer,
    "reject": s.RejectSerializer,
    "dry-run": None,
    "claim": s.SeenSerializer,
    "complete": s.CompleteSerializer,
    "fail": s.FailSerializer,
    "release": s.SeenSerializer,
}


def _seen(data: dict[str, Any]) -> Seen | None:
    """The state the client says it read, None when it said nothing."""
    if "status" not in data and "claimed_by" not in data:
        return None
    claimant = (data["claimed_by"] or "") if "claimed_by" in data else None
    return Seen(status=data.get("status"), claimant=claimant)


#: Cancelling a running order answers 202: it is asked to stop, not stopped yet.
CANCEL_RESPONSES = {
    200: OpenApiResponse(s.OrderDetailSerializer, description="Cancelled."),
    202: OpenApiResponse(
        s.OrderDetailSerializer,
        description="A running order: its playbook is being stopped and the order turns "
        "`cancelled` within about two seconds (poll it, or wait for the webhook).",
    ),
}


def _command_action(command: OrderCommand) -> Any:
    """``POST /orders/{id}/{command}/``: the command's row of the table
    (``portal.orders.commands``) as an action of ``OrderViewSet``."""
    body = COMMAND_BODIES[command.name]

    def run_command(self: OrderViewSet, request: Request, pk: str) -> Response:
        order = self.get_object()
        serializer = (body or NoBodySerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        given = Decision(
            text=data[command.text] if command.text else "",
            step=data.get("step") if command.takes_step else None,
            seen=_seen(data) if command.takes_seen else None,
            claim=bool(data.get("claim")) if command.takes_claim else False,
        )
        order = command.perform(order, signed_in_user(request), given)
        response = Response(self._detail(order.pk))
        if command.name == "cancel" and response.data["status"] == OrderStatus.RUNNING:
            response.status_code = 202  # asked to stop; not stopped yet
        return response

    run_command.__name__ = run_command.__qualname__ = command.name.replace("-", "_")
    responses: Any = CANCEL_RESPONSES if command.name == "cancel" else s.OrderDetailSerializer
    if command.takes_seen:
        ok = CANCEL_RESPONSES if command.name == "cancel" else {200: s.OrderDetailSerializer}
        responses = {
            **ok,
            409: OpenApiResponse(
                s.StaleStateSerializer,
                description="`stale_state`: the `status` or `claimed_by` given is no longer the "
                "order's (someone moved it meanwhile); nothing was recorded. (A command the order's "
                "status does not allow is a 409 `illegal_transition`.)",
            ),
        }
    if command.takes_step:
        responses = {
            200: s.OrderDetailSerializer,
            409: OpenApiResponse(
                s.StaleStepSerializer,
                description="`stale_step`: the `step` given is no longer the open one (someone "
                "decided it meanwhile); nothing was recorded. (An order that no longer waits for "
                "approval is a 409 `illegal_transition`, without `current_step`.)",
            ),
        }
    routed = action(detail=True, methods=["post"], url_path=command.name)(run_command)
    return extend_schema(request=body, responses=responses, summary=command.summary)(routed)


for _command in COMMANDS:
    setattr(OrderViewSet, _command.name.replace("-", "_"), _command_action(_command))


@extend_schema(summary="The output of an order's runs, in the order it was emitted")
class OrderEventListView(ApiMixin, generics.ListAPIView):
    """Lines of every attempt's run, secrets masked; ``attempt`` and ``after``
    resume a live read where the last page ended."""

    serializer_class = s.RunEventSerializer
    filterset_class = RunEventFilter
    filter_backends = [FilterBackend]
    pagination_class = NumberedPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return RunEvent.objects.none()
        order = orders_visible_to_or_404(self.request, self.kwargs["pk"])
        # Abbreviated as the pages show it: a page of 200 events must not
        # carry the megabytes each may store.
        return events_as_shown(order_run_events(order))


def orders_visible_to_or_404(request: Request, order_id: str) -> Order:
    order = orders_for_api(request.user).filter(pk=int(order_id)).first()
    if order is None:
        raise exceptions.NotFound("No such order.")
    return order


@extend_schema_view(
    get=extend_schema(summary="An order's conversation, oldest first (work notes only for its squad)"),
    post=extend_schema(
        summary="Add a comment, a question for the requester, or a work note to an order",
        request=s.OrderCommentCreateSerializer,
        responses={201: s.OrderCommentSerializer},
    ),
)
class OrderCommentListView(ApiMixin, generics.ListCreateAPIView):
    """The conversation on an order you may see (another person's order is a
    404). A question or work note from anyone but the squad fulfilling the
    order is a 403; nothing is written."""

    serializer_class = s.OrderCommentSerializer
    pagination_class = NumberedPagination
    filter_backends: list = []

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return OrderComment.objects.none()
        order = orders_visible_to_or_404(self.request, self.kwargs["pk"])
        return order_comments_for(self.request.user, order)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        order = orders_visible_to_or_404(request, self.kwargs["pk"])
        given = s.OrderCommentCreateSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        comment = order_comment_post(
            order=order,
            author=signed_in_user(request),
            body=given.validated_data["body"],
            kind=given.validated_data["kind"],
        )
        return Response(s.OrderCommentSerializer(comment).data, status=201)
