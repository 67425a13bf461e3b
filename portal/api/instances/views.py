"""The instance API: list and read the instances you may see, order an
operation against one, and hand one to someone else (offer, accept,
decline, withdraw). Thin, over the same services and selectors as the
pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from catalogue.dynamic_choices import live_schema
from portal.api.base import ApiMixin, no_body, signed_in_user
from portal.api.base_serializers import NoBodySerializer
from portal.api.filtersets import InstanceFilter
from portal.api.idempotency import idempotency_parameter, placement_response
from portal.api.instances import serializers as s
from portal.api.orders.serializers import OrderDetailSerializer
from portal.api.pagination import CreatedCursorPagination
from portal.instances import transfers
from portal.instances.attributes import form_defaults
from portal.instances.dependencies import dependents_of, instance_dependencies
from portal.instances.models import InstanceTransfer, ServiceInstance
from portal.instances.selectors import (
    instance_history,
    instances_visible_to,
    operations_offered,
    pending_transfer,
    pending_transfers_of,
)
from portal.instances.services import operation_order
from portal.orders.models import Order, OrderEvent


@extend_schema_view(
    list=extend_schema(
        summary="Instances you may see: your own, your squads' products', and those offered to you "
        "(newest first)"
    ),
    retrieve=extend_schema(
        summary="An instance with its history, its dependencies and the operations you may order now"
    ),
)
class InstanceViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Services ordered from the catalogue, as they run now: their attributes
    (secrets masked), history, dependencies, the day-2 operations you may
    order, and their hand-over to another person."""

    not_found_detail = "No such instance."
    lookup_value_regex = r"[0-9]{1,18}"
    filterset_class = InstanceFilter
    pagination_class = CreatedCursorPagination
    ordering_fields = ["created_at"]
    ordering = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet[ServiceInstance]:
        instances = instances_visible_to(self.request.user)
        if self.action == "list":
            return instances.values(*s.INSTANCE_ROW)
        return instances

    def get_serializer_class(self) -> type:
        if self.action == "list":
            return s.InstanceSerializer
        if self.action == "operations":
            return s.OperationOrderSerializer
        if self.action == "transfer":
            return s.TransferOfferSerializer
        if self.action == "transfer_accept":
            return s.TransferAcceptSerializer
        if self.action in ("transfer_decline", "transfer_withdraw"):
            return NoBodySerializer
        return s.InstanceDetailSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.filter_queryset(self.get_queryset())
        page = self.paginate_queryset(queryset)
        # Rows of ``INSTANCE_ROW`` values (``get_queryset``), not instances.
        rows: list[Any] = list(page if page is not None else queryset)
        context = {
            **self.get_serializer_context(),
            "pending_transfers": pending_transfers_of(row["id"] for row in rows),
        }
        data = s.InstanceSerializer(rows, many=True, context=context).data
        return self.get_paginated_response(data) if page is not None else Response(data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        offer = pending_transfer(instance)
        context = {
            **self.get_serializer_context(),
            "pending_transfers": {instance.pk: offer} if offer else {},
            "history": list(instance_history(instance)),
            "operations": [
                {
                    "slug": operation.slug,
                    "name": operation.name,
                    "kind": operation.kind,
                    "form_schema": live_schema(
                        form_defaults(instance, operation.form_schema or {}), request.user
                    ),
                }
                for operation in operations_offered(request.user, instance)
            ],
            "depends_on": sorted(other.pk for other in instance_dependencies(request.user, instance).shown),
            "dependents_count": dependents_of(instance).count(),
        }
        return Response(s.InstanceDetailSerializer(instance, context=context).data)

    @extend_schema(
        summary="Order an operation against the instance",
        request=s.OperationOrderSerializer,
        parameters=[
            idempotency_parameter(
                "As for placing an order: the same key and body answer the first order (200)."
            )
        ],
        responses={201: OrderDetailSerializer, 200: OrderDetailSerializer},
    )
    @action(detail=True, methods=["post"], url_path="operations")
    def operations(self, request: Request, pk: str) -> Response:
        instance = self.get_object()
        serializer = s.OperationOrderSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        slug = serializer.validated_data["operation"]
        inputs = serializer.validated_data["inputs"]
        business_unit = serializer.validated_data["business_unit"]
        user = signed_in_user(request)

        def submit() -> Order:
            return operation_order(
                actor=user, instance=instance, operation=slug, inputs=inputs, business_unit=business_unit
            )

        def render(order: Order) -> dict:
            placed = (
                Order.objects.select_related(
                    "product", "squad", "requester", "operation", "runbook_version__runbook", "claimed_by"
                )
                .prefetch_related(Prefetch("events", queryset=OrderEvent.objects.select_related("actor")))
                .get(pk=order.pk)
            )
            return OrderDetailSerializer(placed, context=self.get_serializer_context()).data

        return placement_response(
            request,
            requester=user,
            meaning={
                "instance": instance.pk,
                "operation": slug,
                "inputs": inputs,
                "business_unit": business_unit,
            },
            submit=submit,
            render=render,
        )

    # --- Transfers ----------------------------------------------------------------

    def _transfer(self, transfer: InstanceTransfer, status: int = 200) -> Response:
        return Response(
            s.TransferSerializer(transfer, context=self.get_serializer_context()).data, status=status
        )

    @extend_schema(
        summary="Offer the instance to another person (its owner only)",
        description="It stays yours until they accept; one offer at a time (409 `transfer_pending`). "
        "An unknown, deactivated or ambiguous recipient, or yourself, is a 400 naming `to`.",
        request=s.TransferOfferSerializer,
        responses={201: s.TransferSerializer},
    )
    @action(detail=True, methods=["post"], url_path="transfer")
    def transfer(self, request: Request, pk: str) -> Response:
        instance = self.get_object()
        serializer = s.TransferOfferSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offer = transfers.transfer_offer(
            actor=signed_in_user(request),
            instance=instance,
            to=serializer.validated_data["to"],
            note=serializer.validated_data["note"],
        )
        return self._transfer(offer, status=201)

    @extend_schema(
        summary="Accept the instance offered to you: you become its owner",
        description="It is charged to a business unit of yours (see `business_unit`). Refused (409) "
        "when the offer was withdrawn or decided meanwhile, its owner changed, or an order works on "
        "the instance; 400 naming `business_unit` or `quota_exceeded` when it cannot be charged.",
        request=s.TransferAcceptSerializer,
        responses={200: s.TransferSerializer},
    )
    @action(detail=True, methods=["post"], url_path="transfer/accept")
    def transfer_accept(self, request: Request, pk: str) -> Response:
        instance = self.get_object()
        serializer = s.TransferAcceptSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._transfer(
            transfers.transfer_accept(
                actor=signed_in_user(request),
                instance=instance,
                business_unit=serializer.validated_data["business_unit"],
            )
        )

    @extend_schema(
        summary="Decline the instance offered to you: it stays its owner's",
        request=None,
        responses={200: s.TransferSerializer},
    )
    @action(detail=True, methods=["post"], url_path="transfer/decline")
    def transfer_decline(self, request: Request, pk: str) -> Response:
        instance = self.get_object()
        no_body(request)
        return self._transfer(transfers.transfer_decline(actor=signed_in_user(request), instance=instance))

    @extend_schema(
        summary="Withdraw your pending offer of the instance (its owner only)",
        request=None,
        responses={200: s.TransferSerializer},
    )
    @action(detail=True, methods=["post"], url_path="transfer/withdraw")
    def transfer_withdraw(self, request: Request, pk: str) -> Response:
        instance = self.get_object()
        no_body(request)
        return self._transfer(transfers.transfer_withdraw(actor=signed_in_user(request), instance=instance))
