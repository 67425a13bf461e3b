"""The instance pages: My services (what I own and my squads' products'
instances), one instance (attributes, links, history, orders, operations
offered) and the form of an operation, pre-filled from its attributes."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from catalogue.inputs import MASK, validate_inputs
from catalogue.models import Operation, Product
from portal.consumption.selectors import business_units_of, squad_product_usage, unit_usage
from portal.instances.attributes import form_defaults
from portal.instances.choices import BUSY_STATES, InstanceState
from portal.instances.models import ServiceInstance
from portal.instances.selectors import (
    instance_history,
    instance_orders,
    instances_visible_to,
    monthly_cost,
    operations_offered,
)
from portal.instances.services import operation_order
from portal.orders.approval_steps import steps_described, steps_for
from portal.orders.errors import InvalidInputs, OrderError
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.forms import OrderForm, schema_initial
from portal.web.inputs import SECRET_DISPLAY, input_rows
from portal.web.pagination import newest_first_page
from squads.selectors import squad_ids_of

INSTANCES_PER_PAGE = 25


class InstanceFilterForm(forms.Form):
    product = forms.ChoiceField(required=False, label="Product")
    state = forms.ChoiceField(
        required=False, label="State", choices=[("", "Any state"), *InstanceState.choices]
    )

    def __init__(self, *args: Any, products: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = self.fields["product"]
        assert isinstance(product, forms.ChoiceField)
        product.choices = [("", "Any product"), *products]


def my_services(user: User) -> QuerySet[ServiceInstance]:
    """What the person owns and their squads' products' instances (a lead
    reaches any other one by its page, not in this list)."""
    squads = squad_ids_of(user)
    mine = Q(owner=user) | Q(product__squad_id__in=squads) if squads else Q(owner=user)
    return instances_visible_to(user).filter(mine)


@login_required
def instance_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """My services: newest first, filterable by product and state."""
    queryset = my_services(request.user)
    # Every product that makes instances (a short list), not those of the
    # person's instances: that would read all of them on every page.
    products = list(Product.objects.filter(instance=True).order_by("name").values_list("slug", "name"))
    form = InstanceFilterForm(request.GET or None, products=products)
    filters = form.cleaned_data if form.is_valid() else {}
    if filters.get("product"):
        queryset = queryset.filter(product__slug=filters["product"])
    if filters.get("state"):
        queryset = queryset.filter(state=filters["state"])
    page = newest_first_page(
        queryset, older=request.GET.get("older"), newer=request.GET.get("newer"), size=INSTANCES_PER_PAGE
    )
    query = "&".join(f"{name}={value}" for name, value in filters.items() if value)
    return render(
        request,
        "portal/instances/list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            "rows": [(instance, monthly_cost(instance)) for instance in page.items],
            "live": any(instance.state in BUSY_STATES for instance in page.items),
            "business_units": list(business_units_of(request.user)),
            "unit_uses": unit_usage(request.user),
            "squad_uses": squad_product_usage(request.user),
        },
    )


def _instance_or_404(request: AuthenticatedHttpRequest, pk: int) -> ServiceInstance:
    instance = instances_visible_to(request.user).filter(pk=pk).first()
    if instance is None:
        raise Http404("No such instance.")
    return instance


def attribute_rows(instance: ServiceInstance) -> list[dict[str, object]]:
    """The attributes to show, secrets as dots."""
    return [
        {"name": name, "value": SECRET_DISPLAY if value == MASK else value, "secret": value == MASK}
        for name, value in sorted(instance.attributes.items())
    ]


@login_required
def instance_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    instance = _instance_or_404(request, pk)
    return render(
        request,
        "portal/instances/detail.html",
        {
            "instance": instance,
            "attributes": attribute_rows(instance),
            "history": list(instance_history(instance)),
            "orders": list(instance_orders(instance)[:50]),
            "operations": operations_offered(request.user, instance),
            "monthly_cost": monthly_cost(instance),
            "busy": instance.state in BUSY_STATES or instance.busy_with_id is not None,
        },
    )


@login_required
@require_GET
def instance_state(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The instance's state badge, polled while an order works on it; once
    it is settled the whole page is reloaded to show what changed."""
    instance = _instance_or_404(request, pk)
    busy = instance.state in BUSY_STATES or instance.busy_with_id is not None
    response = render(request, "portal/instances/_state.html", {"instance": instance, "busy": busy})
    if not busy and request.GET.get("was") == "busy":
        response["HX-Refresh"] = "true"
    return response


def _operation_or_404(instance: ServiceInstance, slug: str) -> Operation:
    operation = instance.product.operations.filter(slug=slug).select_related("runbook").first()
    if operation is None:
        raise Http404("No such operation.")
    return operation


@login_required
def instance_operation(request: AuthenticatedHttpRequest, pk: int, slug: str) -> HttpResponse:
    """An operation's form, pre-filled from the instance's attributes; posting
    it orders the operation (the placement refuses, changing nothing, an
    instance that is busy or past operating)."""
    instance = _instance_or_404(request, pk)
    operation = _operation_or_404(instance, slug)
    schema = form_defaults(instance, operation.form_schema or {})
    if request.method != "POST":
        form = OrderForm(schema, initial=schema_initial(schema))
        return _operation_page(request, instance, operation, schema, form)
    form = OrderForm(schema, data=request.POST)
    form.is_valid()
    inputs = form.inputs()
    _, errors = validate_inputs(schema, inputs)
    if errors or form.errors:
        form.add_schema_errors(errors)
        return _operation_page(request, instance, operation, schema, form, status=422)
    try:
        order = operation_order(actor=request.user, instance=instance, operation=operation, inputs=inputs)
    except InvalidInputs as error:
        form.add_schema_errors(error.errors)
        return _operation_page(request, instance, operation, schema, form, status=422)
    except OrderError as error:
        messages.error(request, str(error))
        return redirect("instance-detail", pk=instance.pk)
    messages.success(request, f"{operation.name} ordered: order #{order.pk}.")
    return redirect("order-detail", pk=order.pk)


def _operation_page(
    request: AuthenticatedHttpRequest,
    instance: ServiceInstance,
    operation: Operation,
    schema: dict,
    form: OrderForm,
    *,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        "portal/instances/operation.html",
        {
            "instance": instance,
            "operation": operation,
            "form": form,
            "offered": operation in operations_offered(request.user, instance),
            "approval_steps": steps_described(steps_for(instance.product, operation)),
            "current": input_rows(schema, {}),
        },
        status=status,
    )
