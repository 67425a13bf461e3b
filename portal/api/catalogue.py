"""The catalogue's resources: products (with their form schema), squads and
their members, runbooks and their current version. Read only."""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.request import Request

from catalogue.dynamic_choices import live_schema
from catalogue.models import Category, Product
from catalogue.selectors import catalogue_fingerprint, products_orderable
from portal.api.base import ApiMixin
from portal.api.base_serializers import current_zone, iso, list_url
from portal.api.filtersets import ProductFilter, RunbookFilter
from portal.api.pagination import NumberedPagination
from portal.orders.approval_steps import steps_described, steps_for
from runbooks.models import Runbook, RunbookVersion
from runbooks.selectors import runbooks_listed
from squads.choices import Role
from squads.models import Membership, Squad
from squads.selectors import squads_with_members

#: How long an unchanged catalogue page stays cached (any change invalidates it at once).
CATALOGUE_PAGE_SECONDS = 600


# --- Catalogue -------------------------------------------------------------------


class SquadRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Squad
        fields = ["slug", "name"]


class CategoryRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Category
        fields = ["slug", "name"]


class ProductRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Product
        fields = ["slug", "name"]


class ProductSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:product-detail", lookup_field="slug")
    category = CategoryRefSerializer()
    squad = SquadRefSerializer()
    tags = serializers.ListField(child=serializers.CharField(), source="tag_list")
    unit_cost = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)

    class Meta:
        model = Product
        fields = [
            "slug",
            "url",
            "name",
            "summary",
            "category",
            "squad",
            "fulfilment",
            "approval_policy",
            "sla_minutes",
            "unit_cost",
            "tags",
            "version",
            "updated_at",
        ]

    def to_representation(self, product: Product) -> dict[str, Any]:
        category, squad = product.category, product.squad
        return {
            "slug": product.slug,
            "url": f"{list_url(self.context, 'api:product-list')}{product.slug}/",
            "name": product.name,
            "summary": product.summary,
            "category": {"slug": category.slug, "name": category.name},
            "squad": {"slug": squad.slug, "name": squad.name},
            "fulfilment": product.fulfilment,
            "approval_policy": product.approval_policy,
            "sla_minutes": product.sla_minutes,
            "unit_cost": None if product.unit_cost is None else f"{product.unit_cost:.2f}",
            "tags": product.tag_list,
            "version": product.version,
            "updated_at": iso(product.updated_at, current_zone(self.context)),
        }


class ApprovalStepSpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    approvers = serializers.CharField(help_text="Who decides this step, in words.")
    # A declared field, which DRF's metaclass takes out of the class: Field.required stays.
    required = serializers.IntegerField(help_text="Distinct approvals the step needs.")  # type: ignore[assignment]


class ProductDetailSerializer(ProductSerializer):
    depends_on: serializers.SlugRelatedField[Product] = serializers.SlugRelatedField(
        slug_field="slug", many=True, read_only=True
    )
    approval_steps = serializers.SerializerMethodField()
    form_schema = serializers.JSONField(
        help_text="JSON Schema (type object) of the inputs an order of this product takes. "
        "Properties marked `x-secret` are secrets: they are never shown back. A property with "
        "`x-choices-from` has its current choices for you resolved: `enum` holds the values to send "
        "(an instance's id for instances), `x-choice-labels` their labels in the same order, and "
        "`x-choices-unavailable` says why `enum` is empty when the source cannot answer. "
        "`if`/`then`/`else` and `dependentRequired` at the top are conditions: a field named "
        "in a branch that does not apply is dropped from the order."
    )

    class Meta(ProductSerializer.Meta):
        fields = [
            *ProductSerializer.Meta.fields,
            "description",
            "depends_on",
            "approval_steps",
            "form_schema",
        ]

    def to_representation(self, product: Product) -> dict[str, Any]:
        return {
            **super().to_representation(product),
            "description": product.description,
            "depends_on": [dependency.slug for dependency in product.depends_on.all()],
            "approval_steps": self.get_approval_steps(product),
            # The live choices of whoever asks (catalogue.dynamic_choices).
            "form_schema": live_schema(product.form_schema, self.context["request"].user),
        }

    @extend_schema_field(ApprovalStepSpecSerializer(many=True))
    def get_approval_steps(self, product: Product) -> list[dict[str, Any]]:
        """The steps an order placed now goes through, in order (empty: none)."""
        steps = steps_for(product)
        described = steps_described(steps)
        return [
            {"name": item["name"], "approvers": item["who"], "required": step["required"]}
            for step, item in zip(steps, described, strict=True)
        ]


# --- Squads and runbooks ----------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)

    class Meta:
        model = Membership
        fields = ["username", "role"]


class SquadSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:squad-detail", lookup_field="slug")
    members = MemberSerializer(source="memberships", many=True)

    class Meta:
        model = Squad
        fields = ["slug", "url", "name", "mission", "members"]


class RunbookVersionRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = RunbookVersion
        fields = ["number", "checksum", "created_at"]


class RunbookSerializer(serializers.ModelSerializer):
    url = serializers.HyperlinkedIdentityField(view_name="api:runbook-detail", lookup_field="slug")
    squad = SquadRefSerializer()
    current_version = RunbookVersionRefSerializer(allow_null=True)
    queue = serializers.CharField(help_text="Celery queue its runs go to; empty for the default queue.")

    class Meta:
        model = Runbook
        fields = ["slug", "url", "name", "squad", "description", "timeout", "queue", "current_version"]


# --- Views ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(summary="Published products you may order (filter by squad, category, search)"),
    retrieve=extend_schema(summary="A published product with its order form schema and approval steps"),
)
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

    def get_serializer_class(self) -> type[ProductSerializer]:
        return ProductDetailSerializer if self.action == "retrieve" else ProductSerializer

    # The cached page is a plain HttpResponse, which DRF's dispatch passes through as it is.
    # Integrations poll the catalogue far more often than squads change it: a
    # rendered page is reused until ``catalogue_fingerprint`` (which moves with
    # any change a listing shows) says otherwise. Every caller sees the same
    # published catalogue, so pages are shared between users; should a listing
    # ever depend on who asks, the key must name them. (A comment, not a
    # docstring: the schema would show it to integrators.)
    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:  # type: ignore[override]
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


@extend_schema_view(
    list=extend_schema(summary="Squads and their members"),
    retrieve=extend_schema(summary="A squad and its members with their roles"),
)
class SquadViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Squads and who sits in them, with which role."""

    not_found_detail = "No such squad."

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    serializer_class = SquadSerializer
    pagination_class = NumberedPagination
    ordering_fields = ["name", "slug"]
    ordering = ["name"]

    def get_queryset(self) -> QuerySet:
        return squads_with_members()


@extend_schema_view(
    list=extend_schema(summary="Runbooks and their current version"),
    retrieve=extend_schema(summary="A runbook and its current version"),
)
class RunbookViewSet(ApiMixin, viewsets.ReadOnlyModelViewSet):
    """Runbooks and their current version (the playbook text stays in the admin)."""

    not_found_detail = "No such runbook."

    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    serializer_class = RunbookSerializer
    filterset_class = RunbookFilter
    pagination_class = NumberedPagination
    ordering_fields = ["name", "slug"]
    ordering = ["squad__name", "name"]

    def get_queryset(self) -> QuerySet:
        return runbooks_listed()
