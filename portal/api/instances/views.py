"""The instance API: list and read the instances you may see, and order an
operation against one. Thin, over the same services and selectors as the
pages."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.base import ApiMixin, signed_in_user
from portal.api.errors import Unprocessable
from portal.api.filtersets import InstanceFilter
from portal.api.instances import serializers as s
from portal.api.orders.serializers import OrderDetailSerializer
from portal.api.orders.views import IDEMPOTENCY_HEADER
from portal.api.pagination import CreatedCursorPagination
from portal.instances.attributes import form_defaults
from portal.instances.models import ServiceInstance
from portal.instances.selectors import instance_history, instances_visible_to, operations_offered
from portal.instances.services import operation_order
from portal.orders.models import Order, OrderEvent
from portal.orders.submission import IdempotencyKeyReused, fingerprint, key_problem, order_submit_once


@extend_schema_view(
    list=extend_schema(summary="Instances you may see: your own, and your squads' products' (newest first)"),
    retrieve=extend_schema(summary="An instance with its history and the operations you may order now"),
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
        }
        return Response(s.InstanceDetailSerializer(instance, context=context).data)

    @extend_schema(
        summary="Order an operation against the instance",
        request=s.OperationOrderSerializer,
        parameters=[
            OpenApiParameter(
                IDEMPOTENCY_HEADER,
                OpenApiTypes.STR,
                OpenApiParameter.HEADER,
                description="As for placing an order: the same key and body answer the first order (200).",
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

        key = request.headers.get(IDEMPOTENCY_HEADER)
        if key is None:
            body, status, replayed = render(submit()), 201, False
        else:
            problem = key_problem(key)
            if problem:
                raise exceptions.ValidationError({IDEMPOTENCY_HEADER: [problem]}, code="invalid_key")
            try:
                answer = order_submit_once(
                    requester=user,
                    key=key,
                    request_hash=fingerprint(
                        {
                            "instance": instance.pk,
                            "operation": slug,
                            "inputs": inputs,
                            "business_unit": business_unit,
                        }
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
