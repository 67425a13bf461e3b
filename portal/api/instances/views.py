"""The instance API: list and read the instances you may see, and order an
operation against one. Thin, over the same services and selectors as the
pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.base import ApiMixin, signed_in_user
from portal.api.filtersets import InstanceFilter
from portal.api.idempotency import idempotency_parameter, placement_response
from portal.api.instances import serializers as s
from portal.api.orders.serializers import OrderDetailSerializer
from portal.api.pagination import CreatedCursorPagination
from portal.instances.attributes import form_defaults
from portal.instances.dependencies import dependents_of, instance_dependencies
from portal.instances.models import ServiceInstance
from portal.instances.selectors import instance_history, instances_visible_to, operations_offered
from portal.instances.services import operation_order
from portal.orders.models import Order, OrderEvent


@extend_schema_view(
    list=extend_schema(summary="Instances you may see: your own, and your squads' products' (newest first)"),
    retrieve=extend_schema(
        summary="An instance with its history, its dependencies and the operations you may order now"
    ),
)
class InstanceViewSet(ApiMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
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
        return s.InstanceDetailSerializer

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        instance = self.get_object()
        context = {
            **self.get_serializer_context(),
            "history": list(instance_history(instance)),
            "operations": [
                {
                    "slug": operation.slug,
                    "name": operation.name,
                    "kind": operation.kind,
                    "form_schema": form_defaults(instance, operation.form_schema or {}),
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
        user = signed_in_user(request)

        def submit() -> Order:
            return operation_order(actor=user, instance=instance, operation=slug, inputs=inputs)

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
            meaning={"instance": instance.pk, "operation": slug, "inputs": inputs},
            submit=submit,
            render=render,
        )
