"""Ordering in the browser: the product's order form, the review of what
will be ordered (sealed, ``portal.orders.submission``) and placing it.

A member of several business units picks the one the order is for on the
form; the review names it and seals it with the inputs, and the placement
checks it again (with the unit's quotas)."""

from __future__ import annotations

from django.contrib import messages
from django.http import (
    HttpRequest,
    HttpResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse

from catalogue.dynamic_choices import live_schema
from catalogue.inputs import validate_inputs
from catalogue.models import Product
from catalogue.schema import secret_fields
from portal.consumption.errors import BusinessUnitChoiceError
from portal.consumption.membership import UnitRef, choose_unit, unit_refs_of
from portal.orders.approval_steps import steps_described, steps_for
from portal.orders.choices import OrderStatus
from portal.orders.errors import InvalidInputs, OrderError
from portal.orders.models import Order
from portal.orders.selectors import orders_visible_to
from portal.orders.submission import (
    ReviewExpired,
    fingerprint,
    open_review,
    order_submit,
    order_submit_once,
    seal_review,
)
from portal.pages.base import AuthenticatedHttpRequest, login_required
from portal.pages.catalogue import product_or_404, render_product
from portal.pages.forms import BusinessUnitForm, OrderForm, form_data
from portal.pages.resume import post_only
from portal.web.inputs import input_rows


def _secret_field_names(request: HttpRequest, slug: str) -> list[str]:
    """The order form's secret fields, as posted: never kept when the session expired."""
    product = Product.objects.filter(slug=slug).only("form_schema").first()
    schema = product.form_schema if product is not None else {}
    return [f"{OrderForm.prefix}-{name}" for name in secret_fields(schema)]


@login_required
@post_only(
    lambda request, slug: reverse("product-detail", args=[slug]),
    keeps_input=True,
    private=_secret_field_names,
)
def product_order(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The order form's two steps: review what will be ordered, then place it."""
    product = product_or_404(slug)
    step = request.POST.get("step", "review")
    if step in ("confirm", "edit"):
        try:
            review = open_review(
                request.POST.get("review", ""), user_id=request.user.pk, product_id=product.pk
            )
        except ReviewExpired:
            messages.error(request, "That review has expired. Check your order and review it again.")
            return redirect("product-detail", slug=product.slug)
        if step == "edit":
            schema = live_schema(product.form_schema, request.user)
            form = OrderForm(schema, data=form_data(schema, review.inputs))
            unit_form = _unit_form(request, initial={"business_unit": review.business_unit})
            return render_product(request, product, form, unit_form=unit_form, retype_secrets=True)
        if review.product_version != product.version:
            messages.warning(
                request, f"{product.name} changed while you were reviewing your order: please check it again."
            )
            return _review_page(
                request, product, review.inputs, _reviewed_unit(request, review.business_unit)
            )
        return _place_order(
            request, product, review.inputs, nonce=review.nonce, business_unit=review.business_unit
        )
    # The choices as they are now for this person (``catalogue.dynamic_choices``).
    schema = live_schema(product.form_schema, request.user)
    form = OrderForm(schema, data=request.POST)
    form.is_valid()
    inputs = form.inputs()
    _, errors = validate_inputs(schema, inputs)
    unit_form = _unit_form(request, data={"business_unit": request.POST.get("business_unit", "")})
    unit, unit_error = _chosen_unit(request)
    if errors or form.errors or unit_error:
        form.add_schema_errors(errors)
        if unit_error and unit_form is not None:
            # The placement's rule says it, rather than the field's own "required".
            unit_form.is_valid()
            unit_form.errors["business_unit"] = unit_form.error_class([unit_error])
        elif unit_error:
            form.add_error(None, unit_error)
        return render_product(request, product, form, unit_form=unit_form, status=422)
    return _review_page(request, product, inputs, unit)


def _unit_form(request: AuthenticatedHttpRequest, **kwargs: object) -> BusinessUnitForm | None:
    """The business unit's choice, for a member of several units only."""
    units = unit_refs_of(request.user)
    if len(units) < 2:
        return None
    return BusinessUnitForm([(unit.slug, unit.name) for unit in units], **kwargs)


def _chosen_unit(request: AuthenticatedHttpRequest) -> tuple[UnitRef | None, str]:
    """The unit the form's order is for, or why there is none to use."""
    chosen = request.POST.get("business_unit") or None
    try:
        return choose_unit(unit_refs_of(request.user), chosen), ""
    except BusinessUnitChoiceError as error:
        return None, str(error)


def _reviewed_unit(request: AuthenticatedHttpRequest, slug: str | None) -> UnitRef | None:
    """The unit a review named, if the person still belongs to it."""
    return next((unit for unit in unit_refs_of(request.user) if unit.slug == slug), None)


def _review_page(
    request: AuthenticatedHttpRequest, product: Product, inputs: dict, unit: UnitRef | None
) -> HttpResponse:
    schema = live_schema(product.form_schema, request.user)
    completed, _ = validate_inputs(schema, inputs)
    token = seal_review(
        user_id=request.user.pk,
        product_id=product.pk,
        product_version=product.version,
        inputs=inputs,
        business_unit=unit.slug if unit else None,
    )
    return render(
        request,
        "portal/order_review.html",
        {
            "product": product,
            "rows": input_rows(schema, completed),
            "review": token,
            "business_unit": unit,
            "approval_steps": steps_described(steps_for(product)),
        },
    )


def _place_order(
    request: AuthenticatedHttpRequest,
    product: Product,
    inputs: dict,
    *,
    nonce: str,
    business_unit: str | None,
) -> HttpResponse:
    try:
        # The review's nonce as an idempotency key: the same review placed
        # twice (Back, then "Place order" again) is the same order.
        answer = order_submit_once(
            requester=request.user,
            key=f"review:{nonce}",
            request_hash=fingerprint({"review": nonce}),
            submit=lambda: order_submit(
                requester=request.user, product=product, inputs=inputs, business_unit=business_unit
            ),
            render=lambda order: {"id": order.pk},
        )
    except InvalidInputs as error:
        schema = live_schema(product.form_schema, request.user)
        form = OrderForm(schema, data=form_data(schema, inputs))
        form.is_valid()
        form.add_schema_errors(error.errors)
        return render_product(request, product, form, status=422, retype_secrets=True)
    except OrderError as error:
        messages.error(request, str(error))
        return redirect("product-detail", slug=product.slug)
    order = orders_visible_to(request.user).get(pk=answer.body["id"])
    if answer.replayed:
        messages.info(request, f"You placed this order already: it is Order #{order.pk}.")
    else:
        messages.success(request, f"Order #{order.pk} placed: {_what_happens_next(order)}.")
    return redirect("order-detail", pk=order.pk)


def _what_happens_next(order: Order) -> str:
    """The confirmation's second half: what the order waits for now."""
    if order.status == OrderStatus.PENDING_APPROVAL:
        first = steps_described(order.approval_steps[:1])[0]["who"]
        if order.quota_excess:
            return f"it is over its business unit's quota, so it waits for approval by {first}"
        steps = len(order.approval_steps)
        if steps == 1:
            return f"it waits for approval by {first}"
        return f"it waits for approval in {steps} steps, first by {first}"
    if order.status == OrderStatus.QUEUED:
        return "it will start in a moment"
    if order.status == OrderStatus.AWAITING_FULFILMENT:
        return f"it is in the {order.squad.name}'s queue"
    return order.get_status_display().lower()
