"""The instance pages: My services (what I own, my squads' products'
instances and what others offer me, their state badges live while they
change), one instance (attributes, links, what it depends on and what
depends on it, history, orders, operations offered, its transfer), the form
of an operation, pre-filled from its attributes (a delete's warns of what
depends on the instance), and the transfer commands (offer, accept,
decline, withdraw)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET

from catalogue.choices import OperationKind
from catalogue.dynamic_choices import live_schema
from catalogue.inputs import MASK, validate_inputs
from catalogue.models import Operation, Product
from portal.consumption.membership import business_units_of
from portal.consumption.selectors import squad_product_usage, unit_usage
from portal.instances.attributes import form_defaults
from portal.instances.choices import ACCEPTABLE_STATES, BUSY_STATES, OFFERABLE_STATES, InstanceState
from portal.instances.dependencies import instance_dependencies, instance_dependents
from portal.instances.errors import InvalidTransfer
from portal.instances.models import ServiceInstance
from portal.instances.selectors import (
    instance_history,
    instance_orders,
    instances_visible_to,
    monthly_cost,
    operations_offered,
    pending_transfer,
    transfers_offered_to,
)
from portal.instances.services import operation_order
from portal.instances.transfers import (
    NOTE_MAX_LENGTH,
    transfer_accept,
    transfer_decline,
    transfer_offer,
    transfer_withdraw,
)
from portal.orders.approval_steps import steps_described, steps_for
from portal.orders.errors import InvalidInputs, OrderError
from portal.orders.selectors import orders_visible_to
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.forms import OrderForm, schema_initial
from portal.pages.resume import post_only
from portal.web.inputs import SECRET_DISPLAY, input_rows
from portal.web.pagination import newest_first_page
from squads.selectors import display_name, squad_ids_of

INSTANCES_PER_PAGE = 25
ANY_STATE = "all"


class InstanceFilterForm(forms.Form):
    product = forms.ChoiceField(required=False, label="Product")
    # Services in service first: decommissioned ones pile up over the years
    # and are one choice away.
    state = forms.ChoiceField(
        required=False,
        label="State",
        choices=[("", "In service"), (ANY_STATE, "Any state"), *InstanceState.choices],
    )

    def __init__(self, *args: Any, products: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        product = self.fields["product"]
        assert isinstance(product, forms.ChoiceField)
        product.choices = [("", "Any product"), *products]


class TransferForm(forms.Form):
    to = forms.CharField(
        label="Offer to",
        max_length=254,
        help_text="Their username or email address. It stays yours until they accept.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    note = forms.CharField(
        label="Note",
        required=False,
        max_length=NOTE_MAX_LENGTH,
        help_text="Why you offer it, for them to read before they answer (optional).",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    required_names = frozenset({"to"})


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
    state = filters.get("state")
    if not state:
        queryset = queryset.exclude(state=InstanceState.DECOMMISSIONED)
    elif state != ANY_STATE:
        queryset = queryset.filter(state=state)
    page = newest_first_page(
        queryset, older=request.GET.get("older"), newer=request.GET.get("newer"), size=INSTANCES_PER_PAGE
    )
    query = "&".join(f"{name}={value}" for name, value in filters.items() if value)
    units = list(business_units_of(request.user))
    return render(
        request,
        "portal/instances/list.html",
        {
            "form": form,
            "page": page,
            "query": query,
            # A row's badge polls while its instance changes (not while an
            # order waits for approval: that may take days).
            "rows": [
                (instance, monthly_cost(instance), instance.state in BUSY_STATES) for instance in page.items
            ],
            "offers": list(transfers_offered_to(request.user)),
            # Only when nothing in service is left to list: say where the rest went.
            "decommissioned_only": not page.items
            and not state
            and not filters.get("product")
            and my_services(request.user).filter(state=InstanceState.DECOMMISSIONED).exists(),
            "business_units": units,
            # One unit is named above the table: a column of it says nothing.
            "several_units": len(units) > 1,
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
    return _detail_page(request, _instance_or_404(request, pk))


def _detail_page(
    request: AuthenticatedHttpRequest,
    instance: ServiceInstance,
    *,
    transfer_form: TransferForm | None = None,
    status: int = 200,
) -> HttpResponse:
    busy = instance.state in BUSY_STATES or instance.busy_with_id is not None
    orders = list(instance_orders(instance)[:50])
    history = list(instance_history(instance))
    offer = pending_transfer(instance)
    offered_to_me = offer is not None and offer.to_user_id == request.user.pk
    accept_units = list(business_units_of(request.user)) if offered_to_me else []
    owner = instance.owner_id == request.user.pk
    return render(
        request,
        "portal/instances/detail.html",
        {
            "instance": instance,
            "attributes": attribute_rows(instance),
            "history": history,
            "orders": orders,
            # An instance handed over keeps its history, but the orders its
            # earlier owner placed stay theirs: listed, not linked (a 404).
            "linked_orders": set(
                orders_visible_to(request.user)
                .filter(
                    pk__in={order.pk for order in orders}
                    | {event.order_id for event in history if event.order_id}
                    | {instance.busy_with_id}
                )
                .values_list("pk", flat=True)
            ),
            "operations": operations_offered(request.user, instance),
            "monthly_cost": monthly_cost(instance),
            "dependencies": instance_dependencies(request.user, instance),
            "dependents": instance_dependents(request.user, instance),
            "busy": busy,
            "offer": offer,
            "offered_to_me": offered_to_me,
            # A recipient in several units says which one it is charged to.
            "accept_units": accept_units if len(accept_units) > 1 else [],
            "offered_by_me": offer is not None and owner and offer.from_user_id == request.user.pk,
            # Why an offer cannot be accepted now (said before anyone tries).
            "not_acceptable": (
                f"It is {instance.get_state_display().lower()}: it cannot change hands now."
                if instance.state not in ACCEPTABLE_STATES
                else "An order is working on it: you can accept once that order ends."
                if busy
                else ""
            ),
            "transfer_form": (transfer_form or TransferForm())
            if owner and offer is None and instance.state in OFFERABLE_STATES
            else None,
            "owner": owner,
        },
        status=status,
    )


@login_required
@require_GET
def instance_state(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The instance's state badge, polled while an order works on it. On
    its page, once it is settled the whole page is reloaded to show what
    changed; in a row of My services (``?row=1``) only the badge is, and
    it polls while the instance changes state."""
    instance = _instance_or_404(request, pk)
    row = request.GET.get("row") == "1"
    busy = instance.state in BUSY_STATES or (not row and instance.busy_with_id is not None)
    response = render(
        request, "portal/instances/_state.html", {"instance": instance, "busy": busy, "row": row}
    )
    if not busy and not row and request.GET.get("was") == "busy":
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
    schema = live_schema(form_defaults(instance, operation.form_schema or {}), request.user)
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
            "dependents": (
                instance_dependents(request.user, instance)
                if operation.kind == OperationKind.DELETE
                else None
            ),
        },
        status=status,
    )


# --- Transfers --------------------------------------------------------------------------


@login_required
@post_only(lambda request, pk: reverse("instance-detail", args=[pk]))
def instance_transfer(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Offer the instance to someone; a recipient who cannot take it (or a
    note too long) is shown next to its field, and nothing is offered."""
    instance = _instance_or_404(request, pk)
    form = TransferForm(request.POST)
    if form.is_valid():
        try:
            offer = transfer_offer(
                actor=request.user,
                instance=instance,
                to=form.cleaned_data["to"],
                note=form.cleaned_data["note"],
            )
        except InvalidTransfer as error:
            form.add_error(error.field if error.field in form.fields else None, str(error))
        except OrderError as error:
            messages.error(request, str(error))
            return redirect("instance-detail", pk=instance.pk)
        else:
            messages.success(
                request,
                f"{instance.name} is offered to {display_name(offer.to_user)}: it stays yours until they "
                "accept.",
            )
            return redirect("instance-detail", pk=instance.pk)
    return _detail_page(request, instance, transfer_form=form, status=422)


#: What each decision calls and says when it succeeded.
DECISIONS = {
    "accept": (transfer_accept, "You now own {instance}."),
    "decline": (transfer_decline, "You declined {instance}; it stays {owner}'s."),
    "withdraw": (transfer_withdraw, "You withdrew the offer of {instance}; it stays yours."),
}


@login_required
@post_only(lambda request, pk, decision: reverse("instance-detail", args=[pk]))
def instance_transfer_decision(request: AuthenticatedHttpRequest, pk: int, decision: str) -> HttpResponse:
    """Accept, decline or withdraw the pending offer of the instance, then go
    back to where the buttons were (My services, or the instance's page if
    the person still sees it), with the outcome as a message."""
    instance = _instance_or_404(request, pk)
    service, said = DECISIONS[decision]
    # Accepting may name the business unit of theirs it is charged to.
    chosen = {"business_unit": request.POST.get("business_unit") or None} if decision == "accept" else {}
    try:
        service(actor=request.user, instance=instance, **chosen)
    except OrderError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, said.format(instance=instance.name, owner=display_name(instance.owner)))
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    if instances_visible_to(request.user).filter(pk=instance.pk).exists():
        return redirect("instance-detail", pk=instance.pk)
    return redirect(reverse("instance-list"))
