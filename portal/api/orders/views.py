"""The order API: list, place, read an order, its run output, and the
commands of ``portal.orders.commands`` as actions. Thin, over the same
services and selectors as the pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet, prefetch_related_objects
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalogue.models import Product
from catalogue.selectors import products_orderable
from portal.api.base import ApiMixin, FilterBackend, signed_in_user, writes_as
from portal.api.base_serializers import NoBodySerializer
from portal.api.errors import Unprocessable
from portal.api.filtersets import OrderFilter, RunEventFilter
from portal.api.orders import serializers as s
from portal.api.pagination import CreatedCursorPagination, NumberedPagination
from portal.orders.choices import OrderStatus
from portal.orders.commands import COMMANDS, OrderCommand
from portal.orders.models import Order, OrderEvent
from portal.orders.selectors import order_run_events, orders_for_api
from portal.orders.submission import (
    IdempotencyKeyReused,
    fingerprint,
    key_problem,
    order_submit,
    order_submit_once,
)
from runbooks.models import RunEvent

IDEMPOTENCY_HEADER = "Idempotency-Key"


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
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="Any unique string (a UUID): sending the same key and body again "
                "returns the first answer (200) instead of placing a second order. "
                "Keys are kept for 24 hours.",
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

        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            order = submit()
            body, status, replayed = render(order), 201, False
        else:
            problem = key_problem(key)
            if problem:
                raise exceptions.ValidationError({IDEMPOTENCY_HEADER: [problem]}, code="invalid_key")
            try:
                answer = order_submit_once(
                    requester=signed_in_user(request),
                    key=key,
                    request_hash=fingerprint(
                        {"product": slug, "inputs": inputs, "business_unit": business_unit}
                    ),
                    submit=submit,
                    render=render,
                )
            except IdempotencyKeyReused as error:
                raise Unprocessable(str(error), code="idempotency_key_reused") from None
            body, status, replayed = answer.body, answer.status, answer.replayed
        headers = {"Location": body["url"]}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        return Response(body, status=status, headers=headers)


#: A command's request body, by the text it takes (``OrderCommand.text``) and
#: whether that text is required.
COMMAND_BODIES: dict[tuple[str, bool], type | None] = {
    ("", False): None,
    ("note", False): s.NoteSerializer,
    ("reason", False): s.OptionalReasonSerializer,
    ("reason", True): s.ReasonSerializer,
}


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
    body = COMMAND_BODIES[(command.text, command.text_required)]

    def run_command(self: OrderViewSet, request: Request, pk: str) -> Response:
        order = self.get_object()
        serializer = (body or NoBodySerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        text = serializer.validated_data[command.text] if command.text else ""
        order = command.perform(order, signed_in_user(request), text)
        response = Response(self._detail(order.pk))
        if command.name == "cancel" and response.data["status"] == OrderStatus.RUNNING:
            response.status_code = 202  # asked to stop; not stopped yet
        return response

    run_command.__name__ = run_command.__qualname__ = command.name.replace("-", "_")
    responses = CANCEL_RESPONSES if command.name == "cancel" else s.OrderDetailSerializer
    routed = action(detail=True, methods=["post"], url_path=command.name)(run_command)
    return extend_schema(request=body, responses=responses, summary=command.summary)(routed)


for _command in COMMANDS:
    setattr(OrderViewSet, _command.name.replace("-", "_"), _command_action(_command))


@extend_schema(summary="The output of an order's runs, in the order it was emitted")
class OrderEventListView(ApiMixin, generics.ListAPIView):
    serializer_class = s.RunEventSerializer
    filterset_class = RunEventFilter
    filter_backends = [FilterBackend]
    pagination_class = NumberedPagination

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return RunEvent.objects.none()
        order = orders_visible_to_or_404(self.request, self.kwargs["pk"])
        return order_run_events(order)


def orders_visible_to_or_404(request: Request, order_id: str) -> Order:
    order = orders_for_api(request.user).filter(pk=int(order_id)).first()
    if order is None:
        raise exceptions.NotFound("No such order.")
    return order
