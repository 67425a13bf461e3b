"""Webhooks in the API: subscribe, change, pause, delete, ping, rotate the
secret, and each webhook's deliveries (listed, sent again). Every change
goes through ``portal.integrations.webhooks``."""

from __future__ import annotations

import json

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import exceptions, generics, mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from portal.api.base import ApiMixin, no_body, signed_in_user, writes_as
from portal.api.base_serializers import StrictBooleanField, StrictCharField, StrictSerializer
from portal.api.pagination import CreatedCursorPagination, NumberedPagination, StableOrderingFilter
from portal.integrations.models import WebhookDelivery, WebhookSubscription
from portal.integrations.webhooks.selectors import deliveries_of, webhooks_visible_to
from portal.integrations.webhooks.subscriptions import (
    WebhookError,
    WebhookNotAllowed,
    WebhookRateLimited,
    webhook_delete,
    webhook_ping,
    webhook_redeliver,
    webhook_rotate_secret,
    webhook_subscribe,
    webhook_update,
)
from squads.models import Squad

# --- Serializers ----------------------------------------------------------------------


class WebhookSerializer(serializers.ModelSerializer):
    squad: serializers.SlugRelatedField[Squad] = serializers.SlugRelatedField(
        slug_field="slug", read_only=True, allow_null=True
    )
    owner = serializers.SerializerMethodField()
    created_by = serializers.CharField(source="created_by.username", allow_null=True, default=None)
    deliveries_url = serializers.SerializerMethodField()

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "description",
            "owner",
            "squad",
            "is_active",
            "created_by",
            "created_at",
            "updated_at",
            "deliveries_url",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=["user", "squad"]))
    def get_owner(self, subscription: WebhookSubscription) -> str:
        """``user``: your own orders' events; ``squad``: every order of the squad."""
        return "squad" if subscription.squad_id else "user"

    @extend_schema_field(OpenApiTypes.URI)
    def get_deliveries_url(self, subscription: WebhookSubscription) -> str:
        return reverse(
            "api:webhook-deliveries", kwargs={"pk": subscription.pk}, request=self.context.get("request")
        )


class WebhookWithSecretSerializer(WebhookSerializer):
    secret = serializers.SerializerMethodField()

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]

    @extend_schema_field(serializers.CharField(help_text="Shown this once: store it to verify signatures."))
    def get_secret(self, subscription: WebhookSubscription) -> str:
        return self.context["secret"]


class WebhookCreateSerializer(StrictSerializer):
    url = StrictCharField(max_length=500, help_text="https:// URL that receives the events.")
    description = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    squad = serializers.SlugField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text="Slug of your squad to receive every order of its products; leave out for your own orders.",
    )
    secret = StrictCharField(
        # Kept exactly as sent: a trimmed secret would not verify what the
        # client signs with.
        trim_whitespace=False,
        max_length=200,
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "Your own signing secret in the Standard Webhooks form: whsec_ and the base64 of 24 to 64 "
            "random bytes. Leave out to have one generated."
        ),
    )


class WebhookUpdateSerializer(StrictSerializer):
    url = StrictCharField(max_length=500, required=False)
    description = StrictCharField(max_length=200, required=False, allow_blank=True)
    is_active = StrictBooleanField(required=False, help_text="false pauses deliveries.")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    order = serializers.IntegerField(source="order_id", allow_null=True)
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = [
            "delivery_id",
            "event",
            "order",
            "status",
            "attempts",
            "last_status_code",
            "last_error",
            "created_at",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "payload",
        ]

    @extend_schema_field(serializers.DictField(child=serializers.JSONField()))
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        """The JSON body exactly as signed and sent."""
        return json.loads(delivery.body)


# --- Views ----------------------------------------------------------------------------


def _webhook_errors(error: WebhookError) -> exceptions.ValidationError:
    return exceptions.ValidationError(error.errors, code="invalid")


def _webhook_rate_limited(error: WebhookRateLimited) -> exceptions.Throttled:
    """429 with ``Retry-After``, in the service's words (DRF's ``wait``
    argument would append its own sentence)."""
    throttled = exceptions.Throttled(detail=str(error))
    # DRF's __init__ sets ``wait`` (its stubs do not declare it); given there, it would add DRF's sentence.
    throttled.wait = error.retry_after  # type: ignore[attr-defined]
    return throttled


@extend_schema_view(
    list=extend_schema(summary="Your webhooks and your squads'"),
    retrieve=extend_schema(summary="A webhook"),
    destroy=extend_schema(summary="Delete a webhook and its delivery log"),
)
class WebhookViewSet(
    ApiMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Signed HTTP callbacks (Standard Webhooks) on order and instance changes (see the README for the
    signature); ``owner`` is ``user`` for your own orders, ``squad`` for every
    order of a squad's products."""

    not_found_detail = "No such webhook."

    lookup_value_regex = r"[0-9]{1,18}"
    pagination_class = NumberedPagination
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> QuerySet[WebhookSubscription]:
        return webhooks_visible_to(self.request.user)

    def get_serializer_class(self) -> type:
        if writes_as(self, "POST"):
            return WebhookCreateSerializer
        if writes_as(self, "PATCH"):
            return WebhookUpdateSerializer
        return WebhookSerializer

    def _with_secret(self, subscription: WebhookSubscription, secret: str, status: int) -> Response:
        context = {**self.get_serializer_context(), "secret": secret}
        return Response(WebhookWithSecretSerializer(subscription, context=context).data, status=status)

    @extend_schema(
        request=WebhookCreateSerializer,
        responses={201: WebhookWithSecretSerializer},
        summary="Subscribe a URL to your orders or your squad's",
    )
    def create(self, request: Request) -> Response:
        """Subscribe a URL; the answer holds the signing secret, shown this once."""
        serializer = WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        squad = None
        if data["squad"]:
            squad = Squad.objects.filter(slug=data["squad"]).first()
            if squad is None:
                raise exceptions.ValidationError({"squad": [f"There is no squad {data['squad']!r}."]})
        try:
            subscription, secret = webhook_subscribe(
                actor=signed_in_user(request),
                url=data["url"],
                description=data["description"],
                squad=squad,
                secret=data["secret"],
            )
        except WebhookError as error:
            raise _webhook_errors(error) from None
        return self._with_secret(self.get_queryset().get(pk=subscription.pk), secret, 201)

    @extend_schema(request=WebhookUpdateSerializer, responses=WebhookSerializer, summary="Change or pause")
    def partial_update(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        serializer = WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            webhook_update(
                subscription=subscription, actor=signed_in_user(request), **serializer.validated_data
            )
        except WebhookError as error:
            raise _webhook_errors(error) from None
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=subscription.pk)).data)

    def perform_destroy(self, subscription: WebhookSubscription) -> None:
        try:
            webhook_delete(subscription=subscription, actor=signed_in_user(self.request))
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Send a test event (a few a minute per person; beyond, 429 with Retry-After)",
    )
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        no_body(request)
        try:
            delivery = webhook_ping(subscription=subscription, actor=signed_in_user(request))
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        except WebhookRateLimited as error:
            raise _webhook_rate_limited(error) from None
        except WebhookError as error:
            raise _webhook_errors(error) from None
        return Response(WebhookDeliverySerializer(delivery).data, status=202)

    @extend_schema(request=None, responses=WebhookWithSecretSerializer, summary="Replace the signing secret")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        no_body(request)
        try:
            secret = webhook_rotate_secret(subscription=subscription, actor=signed_in_user(request))
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        return self._with_secret(self.get_queryset().get(pk=subscription.pk), secret, 200)


def _visible_webhook_or_404(request: Request, webhook_id: object) -> WebhookSubscription:
    subscription = webhooks_visible_to(request.user).filter(pk=int(str(webhook_id))).first()
    if subscription is None:
        raise exceptions.NotFound("No such webhook.")
    return subscription


@extend_schema(summary="Every delivery of a webhook, newest first: status code, attempts, last error")
class WebhookDeliveryListView(ApiMixin, generics.ListAPIView):
    """Each delivery with the body it carries and how its attempts went;
    a pending one shows when it is tried next."""

    serializer_class = WebhookDeliverySerializer
    filter_backends = [StableOrderingFilter]
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    pagination_class = CreatedCursorPagination

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return WebhookDelivery.objects.none()
        return deliveries_of(_visible_webhook_or_404(self.request, self.kwargs["pk"]))


class WebhookRedeliverView(ApiMixin, APIView):
    """The same body under a new delivery id and a fresh signature (a few a
    minute per person; beyond, 429 with Retry-After)."""

    @extend_schema(
        request=None,
        responses={202: WebhookDeliverySerializer},
        summary="Send a delivery's event again (as a new delivery)",
    )
    def post(self, request: Request, pk: int, delivery_id: str) -> Response:
        subscription = _visible_webhook_or_404(request, pk)
        delivery = deliveries_of(subscription).filter(delivery_id=delivery_id).first()
        if delivery is None:
            raise exceptions.NotFound("No such delivery.")
        no_body(request)
        try:
            copy = webhook_redeliver(delivery=delivery, actor=signed_in_user(request))
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        except WebhookRateLimited as error:
            raise _webhook_rate_limited(error) from None
        return Response(WebhookDeliverySerializer(copy).data, status=202)
