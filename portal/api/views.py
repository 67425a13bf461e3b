"""API views: thin, over the same services and selectors as the browser."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.defaults import server_error as django_server_error
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalogue.models import Product
from catalogue.selectors import catalogue_fingerprint, products_orderable
from portal.api import serializers as s
from portal.api.errors import LengthRequired
from portal.api.filtersets import ProductFilter, RunbookFilter
from portal.api.pagination import CreatedCursorPagination, NumberedPagination, StableOrderingFilter
from portal.api.parsers import LimitedJSONParser
from portal.api.schema import ApiSchema
from portal.insights import access
from portal.insights.api import product_metrics, squad_metrics
from portal.insights.periods import Period, PeriodError, period_from_query
from portal.insights.reports import SquadReport
from portal.models import ApiToken, WebhookDelivery, WebhookSubscription
from portal.webhooks import (
    WebhookError,
    WebhookNotAllowed,
    WebhookRateLimited,
    deliveries_of,
    webhook_delete,
    webhook_ping,
    webhook_redeliver,
    webhook_rotate_secret,
    webhook_subscribe,
    webhook_update,
    webhooks_visible_to,
)
from runbooks.selectors import runbooks_listed
from squads.models import Squad
from squads.selectors import squads_with_members

#: How long an unchanged catalogue page stays cached (any change invalidates it at once).
CATALOGUE_PAGE_SECONDS = 600


def writes_as(view: APIView, method: str) -> bool:
    """Whether ``OPTIONS`` is describing the body of ``method``: DRF's
    metadata asks the view for its serializer with the request's method
    swapped, under the action ``metadata``."""
    return getattr(view, "action", None) == "metadata" and view.request.method == method


def no_body(request: Request) -> None:
    """Refuse a body on a command that takes none, as every other request
    refuses fields it does not take: a client that sends one believes it
    means something."""
    s.NoBodySerializer(data=request.data).is_valid(raise_exception=True)


class FilterBackend(DjangoFilterBackend):
    """django-filter, skipped when the query string names none of the
    filters: building and validating the filter form is a good share of a
    plain list request's time."""

    def filter_queryset(self, request: Request, queryset: QuerySet, view: APIView) -> QuerySet:
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is None or request.query_params.keys().isdisjoint(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


class ApiMixin:
    """What every endpoint shares: bounded JSON bodies, the error schema,
    filters with a stable order."""

    parser_classes = [LimitedJSONParser]
    schema = ApiSchema()
    filter_backends = [FilterBackend, StableOrderingFilter]

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # Django reads a body up to its Content-Length; a chunked one has
        # none, so it would be taken as empty and the command run without
        # what the client sent (a cancel without its reason): refuse it.
        if "HTTP_TRANSFER_ENCODING" in request.META and request.META.get("CONTENT_LENGTH", "") in ("", "0"):
            raise LengthRequired()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class MeView(ApiMixin, APIView):
    """Who the API takes you for: a cheap call to check a token."""

    @extend_schema(responses=s.MeSerializer, operation_id="me_retrieve", tags=["me"])
    def get(self, request: Request) -> Response:
        token = request.auth if isinstance(request.auth, ApiToken) else None
        return Response(
            {
                "username": request.user.get_username(),
                "is_superuser": request.user.is_superuser,
                "token": {
                    "name": token.name,
                    "prefix": token.prefix,
                    "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                }
                if token
                else None,
            }
        )


# --- Catalogue, squads, runbooks ------------------------------------------------------


class ProductViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Published products; a product's detail carries its order form schema."""

    not_found_detail = "No such product."

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    filterset_class = ProductFilter
    pagination_class = NumberedPagination
    ordering_fields = ["name", "slug", "sla_minutes", "updated_at"]
    ordering = ["category__position", "category__name", "name"]

    def get_queryset(self) -> QuerySet[Product]:
        products = products_orderable()
        if self.action == "list":
            # A card needs neither the long description nor the form.
            products = products.defer("description", "form_schema")
        if self.action == "retrieve":
            products = products.prefetch_related(
                Prefetch("depends_on", queryset=Product.objects.only("slug"))
            )
        return products

    def get_serializer_class(self) -> type[s.ProductSerializer]:
        return s.ProductDetailSerializer if self.action == "retrieve" else s.ProductSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        """Integrations poll the catalogue far more often than squads change
        it: a rendered page is reused until ``catalogue_fingerprint`` (which
        moves with any change a listing shows) says otherwise. Every caller
        sees the same published catalogue, so pages are shared between users;
        should a listing ever depend on who asks, the key must name them."""
        if request.accepted_renderer.format != "json":  # the browsable API: people, not integrations
            return super().list(request, *args, **kwargs)
        page = f"{catalogue_fingerprint()} {request.build_absolute_uri()}"
        key = "api:products:" + hashlib.sha256(page.encode()).hexdigest()
        # The cache holds JSON only (portal/cache.py): the page is kept as the
        # rendered text. Anything else found under the key (someone else
        # wrote it) is a miss and is replaced.
        content = cache.get(key)
        if not isinstance(content, str):
            data = super().list(request, *args, **kwargs).data
            content = request.accepted_renderer.render(
                data, request.accepted_media_type, self.get_renderer_context()
            ).decode()
            cache.set(key, content, CATALOGUE_PAGE_SECONDS)
        return HttpResponse(content, content_type=request.accepted_renderer.media_type)


class SquadViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Squads and who sits in them, with which role."""

    not_found_detail = "No such squad."

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    serializer_class = s.SquadSerializer
    pagination_class = NumberedPagination
    ordering_fields = ["name", "slug"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        return squads_with_members()


class RunbookViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Runbooks and their current version (the playbook text stays in the admin)."""

    not_found_detail = "No such runbook."

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    serializer_class = s.RunbookSerializer
    filterset_class = RunbookFilter
    pagination_class = NumberedPagination
    ordering_fields = ["name", "slug"]
    ordering = ["squad__name", "name"]

    def get_queryset(self) -> QuerySet:
        return runbooks_listed()


@csrf_exempt  # answers every method, and must answer JSON, never the CSRF failure page
def not_found(request: HttpRequest, *args: object, **kwargs: object) -> JsonResponse:
    """Unknown paths under the API answer JSON, like everything else there."""
    return JsonResponse(
        {"detail": "No such API endpoint.", "code": "not_found"},
        status=404,
        json_dumps_params={"separators": (",", ":")},  # as compact as DRF's answers
    )


# --- Webhooks -------------------------------------------------------------------------------


def _webhook_errors(error: WebhookError) -> exceptions.ValidationError:
    return exceptions.ValidationError(error.errors, code="invalid")


def _webhook_rate_limited(error: WebhookRateLimited) -> exceptions.Throttled:
    """429 with ``Retry-After``, in the service's words (DRF's ``wait``
    argument would append its own sentence)."""
    throttled = exceptions.Throttled(detail=str(error))
    throttled.wait = error.retry_after
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
    """Signed HTTP callbacks on order status changes (see the README for the
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
            return s.WebhookCreateSerializer
        if writes_as(self, "PATCH"):
            return s.WebhookUpdateSerializer
        return s.WebhookSerializer

    def _with_secret(self, subscription: WebhookSubscription, secret: str, status: int) -> Response:
        context = {**self.get_serializer_context(), "secret": secret}
        return Response(s.WebhookWithSecretSerializer(subscription, context=context).data, status=status)

    @extend_schema(request=s.WebhookCreateSerializer, responses={201: s.WebhookWithSecretSerializer})
    def create(self, request: Request) -> Response:
        """Subscribe a URL; the answer holds the signing secret, shown this once."""
        serializer = s.WebhookCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        squad = None
        if data["squad"]:
            squad = Squad.objects.filter(slug=data["squad"]).first()
            if squad is None:
                raise exceptions.ValidationError({"squad": [f"There is no squad {data['squad']!r}."]})
        try:
            subscription, secret = webhook_subscribe(
                actor=request.user,
                url=data["url"],
                description=data["description"],
                squad=squad,
                secret=data["secret"],
            )
        except WebhookError as error:
            raise _webhook_errors(error) from None
        return self._with_secret(self.get_queryset().get(pk=subscription.pk), secret, 201)

    @extend_schema(
        request=s.WebhookUpdateSerializer, responses=s.WebhookSerializer, summary="Change or pause"
    )
    def partial_update(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        serializer = s.WebhookUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            webhook_update(subscription=subscription, actor=request.user, **serializer.validated_data)
        except WebhookError as error:
            raise _webhook_errors(error) from None
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        return Response(self.get_serializer(self.get_queryset().get(pk=subscription.pk)).data)

    def perform_destroy(self, subscription: WebhookSubscription) -> None:
        try:
            webhook_delete(subscription=subscription, actor=self.request.user)
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None

    @extend_schema(
        request=None,
        responses={202: s.WebhookDeliverySerializer},
        summary="Send a test event (a few a minute per person; beyond, 429 with Retry-After)",
    )
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        no_body(request)
        try:
            delivery = webhook_ping(subscription=subscription, actor=request.user)
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        except WebhookRateLimited as error:
            raise _webhook_rate_limited(error) from None
        except WebhookError as error:
            raise _webhook_errors(error) from None
        return Response(s.WebhookDeliverySerializer(delivery).data, status=202)

    @extend_schema(
        request=None, responses=s.WebhookWithSecretSerializer, summary="Replace the signing secret"
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str) -> Response:
        subscription = self.get_object()
        no_body(request)
        try:
            secret = webhook_rotate_secret(subscription=subscription, actor=request.user)
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
    serializer_class = s.WebhookDeliverySerializer
    filter_backends = [StableOrderingFilter]
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    pagination_class = CreatedCursorPagination

    def get_queryset(self) -> QuerySet[WebhookDelivery]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request user
            return WebhookDelivery.objects.none()
        return deliveries_of(_visible_webhook_or_404(self.request, self.kwargs["pk"]))


class WebhookRedeliverView(ApiMixin, APIView):
    @extend_schema(
        request=None,
        responses={202: s.WebhookDeliverySerializer},
        summary="Send a delivery's event again (as a new delivery)",
    )
    def post(self, request: Request, pk: int, delivery_id: str) -> Response:
        subscription = _visible_webhook_or_404(request, pk)
        delivery = deliveries_of(subscription).filter(delivery_id=delivery_id).first()
        if delivery is None:
            raise exceptions.NotFound("No such delivery.")
        no_body(request)
        try:
            copy = webhook_redeliver(delivery=delivery, actor=request.user)
        except WebhookNotAllowed as error:
            raise exceptions.PermissionDenied(str(error)) from None
        except WebhookRateLimited as error:
            raise _webhook_rate_limited(error) from None
        return Response(s.WebhookDeliverySerializer(copy).data, status=202)


# --- Insights ----------------------------------------------------------------------------

PERIOD_PARAMETERS = [
    OpenApiParameter(
        "since",
        OpenApiTypes.STR,
        description="Start of the period: an ISO date or date-time (default: 90 days ago).",
    ),
    OpenApiParameter(
        "until",
        OpenApiTypes.STR,
        description="End of the period: an ISO date (that whole day included) or date-time (default: now).",
    ),
    OpenApiParameter("days", OpenApiTypes.INT, description="The last N days, instead of since."),
]


def _period(request: Request) -> Period:
    try:
        return period_from_query(request.query_params, now=timezone.now())
    except PeriodError as error:
        raise exceptions.ValidationError(error.errors, code="invalid_period") from None


@extend_schema(
    summary="A squad's service quality, automation, load, dependencies and debt (its members and leads)",
    parameters=PERIOD_PARAMETERS,
    responses=OpenApiTypes.OBJECT,
    tags=["squads"],
)
class SquadMetricsView(ApiMixin, APIView):
    """The numbers of the squad's dashboard; another squad's are not found."""

    def get(self, request: Request, slug: str) -> Response:
        squad = Squad.objects.filter(slug=slug).first()
        if squad is None or not access.can_see_squad(request.user, squad):
            raise exceptions.NotFound("No such squad.")
        return Response(squad_metrics(SquadReport(squad, _period(request))))


@extend_schema(
    summary="A published product's service quality and expected lead time",
    parameters=PERIOD_PARAMETERS,
    responses=OpenApiTypes.OBJECT,
    tags=["products"],
)
class ProductMetricsView(ApiMixin, APIView):
    """Failure reasons only for the product's squad and leads."""

    def get(self, request: Request, slug: str) -> Response:
        product = Product.objects.select_related("squad").filter(slug=slug).first()
        if product is None or not access.can_see_product_metrics(request.user, product):
            raise exceptions.NotFound("No such product.")
        details = access.sees_product_details(request.user, product)
        return Response(product_metrics(product, _period(request), details=details))


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: an unexpected error under the API answers JSON like
    every other API error; pages get the friendly error page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"detail": "Something went wrong on our side; it has been logged.", "code": "server_error"},
            status=500,
            json_dumps_params={"separators": (",", ":")},
        )
    return django_server_error(request)
