"""API views: thin, over the same services and selectors as the browser."""

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
from portal import services
from portal.api import serializers as s
from portal.api.base import ApiMixin, FilterBackend, writes_as
from portal.api.base_serializers import NoBodySerializer
from portal.api.errors import Unprocessable
from portal.api.filtersets import OrderFilter, RunEventFilter
from portal.api.pagination import CreatedCursorPagination, NumberedPagination
from portal.choices import OrderStatus
from portal.idempotency import IdempotencyKeyReused, fingerprint, key_problem, order_submit_once
from portal.models import Order, OrderEvent
from portal.selectors import order_run_events, orders_for_api
from runbooks.models import RunEvent

IDEMPOTENCY_HEADER = "Idempotency-Key"


# --- Orders -------------------------------------------------------------------------------


def _action_schema(request_serializer: type | None, summary: str) -> Any:
    return extend_schema(request=request_serializer, responses=s.OrderDetailSerializer, summary=summary)


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
            return services.order_submit(requester=request.user, product=product, inputs=inputs)

        def render(order: Order) -> dict:
            # The new order's related rows are in hand: no need to read it back.
            product = order.product
            order.squad, order.requester = product.squad, request.user
            if order.runbook_version is not None:
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
                    requester=request.user,
                    key=key,
                    request_hash=fingerprint({"product": slug, "inputs": inputs}),
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

    def _command(self, request: Request, body: type | None, run: Any) -> Response:
        order = self.get_object()
        serializer = (body or NoBodySerializer)(data=request.data)
        serializer.is_valid(raise_exception=True)
        order = run(order, serializer.validated_data)
        return Response(self._detail(order.pk))

    @extend_schema(
        request=s.OptionalReasonSerializer,
        responses={
            200: OpenApiResponse(s.OrderDetailSerializer, description="Cancelled."),
            202: OpenApiResponse(
                s.OrderDetailSerializer,
                description="A running order: its playbook is being stopped and the order turns "
                "`cancelled` within about two seconds (poll it, or wait for the webhook).",
            ),
        },
        summary="Cancel an open order (a running one is stopped)",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        response = self._command(
            request,
            s.OptionalReasonSerializer,
            lambda order, data: services.order_cancel(order=order, actor=request.user, reason=data["reason"]),
        )
        if response.data["status"] == OrderStatus.RUNNING:
            response.status_code = 202  # asked to stop; not stopped yet
        return response

    @_action_schema(None, "Run a failed or timed-out order again")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        return self._command(
            request, None, lambda order, data: services.order_retry(order=order, actor=request.user)
        )

    @_action_schema(s.NoteSerializer, "Approve an order waiting for your squad's decision")
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._command(
            request,
            s.NoteSerializer,
            lambda order, data: services.order_approve(order=order, actor=request.user, note=data["note"]),
        )

    @_action_schema(s.ReasonSerializer, "Reject an order waiting for your squad's decision")
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._command(
            request,
            s.ReasonSerializer,
            lambda order, data: services.order_reject(order=order, actor=request.user, reason=data["reason"]),
        )

    @_action_schema(None, "Take a manual order from your squad's queue")
    @action(detail=True, methods=["post"])
    def claim(self, request: Request, pk: str) -> Response:
        return self._command(
            request, None, lambda order, data: services.order_claim(order=order, actor=request.user)
        )

    @_action_schema(s.NoteSerializer, "Close a manual order as fulfilled")
    @action(detail=True, methods=["post"])
    def complete(self, request: Request, pk: str) -> Response:
        return self._command(
            request,
            s.NoteSerializer,
            lambda order, data: services.order_complete(order=order, actor=request.user, note=data["note"]),
        )

    @_action_schema(None, "Give a claimed manual order back to the squad's queue")
    @action(detail=True, methods=["post"])
    def release(self, request: Request, pk: str) -> Response:
        return self._command(
            request, None, lambda order, data: services.order_release(order=order, actor=request.user)
        )

    @_action_schema(
        None,
        "Preview an order waiting for approval: run its runbook in check mode (changes nothing); "
        "the order's dry_run shows how it went and the end of its output",
    )
    @action(detail=True, methods=["post"], url_path="dry-run")
    def dry_run(self, request: Request, pk: str) -> Response:
        return self._command(
            request, None, lambda order, data: services.order_dry_run(order=order, actor=request.user).order
        )

    @_action_schema(s.ReasonSerializer, "Close a manual order as failed")
    @action(detail=True, methods=["post"])
    def fail(self, request: Request, pk: str) -> Response:
        return self._command(
            request,
            s.ReasonSerializer,
            lambda order, data: services.order_fail(order=order, actor=request.user, reason=data["reason"]),
        )


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
