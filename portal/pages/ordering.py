"""Ordering in the browser: the product's order form, the review of what
will be ordered (sealed, ``portal.orders.submission``) and placing it."""

from __future__ import annotations

from django.contrib import messages
from django.http import (
    HttpResponse,
    QueryDict,
)
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from catalogue.inputs import validate_inputs
from catalogue.models import Product
from catalogue.schema import secret_fields
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
from portal.pages.forms import OrderForm
from portal.web.inputs import input_rows


def _form_data(schema: dict, inputs: dict) -> QueryDict:
    """Inputs as the browser would post them, to show them in the form again
    (secrets left out: a password field is never filled in by the server)."""
    data = QueryDict(mutable=True)
    secrets = secret_fields(schema)
    for name, value in inputs.items():
        key = f"{OrderForm.prefix}-{name}"
        if name in secrets or value is None:
            continue
        if isinstance(value, bool):
            if value:
                data[key] = "on"
        elif isinstance(value, list):
            data.setlist(key, [str(item) for item in value])
        else:
            data[key] = str(value)
    return data


@login_required
@require_POST
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
            form = OrderForm(product.form_schema, data=_form_data(product.form_schema, review.inputs))
            return render_product(request, product, form, retype_secrets=True)
        if review.product_version != product.version:
            messages.warning(
                request, f"{product.name} changed while you were reviewing your order: please check it again."
            )
            return _review_page(request, product, review.inputs)
        return _place_order(request, product, review.inputs, nonce=review.nonce)
    form = OrderForm(product.form_schema, data=request.POST)
    form.is_valid()
    inputs = form.inputs()
    _, errors = validate_inputs(product.form_schema, inputs)
    if errors or form.errors:
        form.add_schema_errors(errors)
        return render_product(request, product, form, status=422)
    return _review_page(request, product, inputs)


def _review_page(request: AuthenticatedHttpRequest, product: Product, inputs: dict) -> HttpResponse:
    completed, _ = validate_inputs(product.form_schema, inputs)
    token = seal_review(
        user_id=request.user.pk, product_id=product.pk, product_version=product.version, inputs=inputs
    )
    return render(
        request,
        "portal/order_review.html",
        {
            "product": product,
            "rows": input_rows(product.form_schema, completed),
            "review": token,
            "approval_steps": steps_described(steps_for(product)),
        },
    )


def _place_order(
    request: AuthenticatedHttpRequest, product: Product, inputs: dict, *, nonce: str
) -> HttpResponse:
    try:
        # The review's nonce as an idempotency key: the same review placed
        # twice (Back, then "Place order" again) is the same order.
        answer = order_submit_once(
            requester=request.user,
            key=f"review:{nonce}",
            request_hash=fingerprint({"review": nonce}),
            submit=lambda: order_submit(requester=request.user, product=product, inputs=inputs),
            render=lambda order: {"id": order.pk},
        )
    except InvalidInputs as error:
        form = OrderForm(product.form_schema, data=_form_data(product.form_schema, inputs))
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
        steps = len(order.approval_steps)
        if steps == 1:
            return f"it waits for approval by {first}"
        return f"it waits for approval in {steps} steps, first by {first}"
    if order.status == OrderStatus.QUEUED:
        return "it will start in a moment"
    if order.status == OrderStatus.AWAITING_FULFILMENT:
        return f"it is in the {order.squad.name}'s queue"
    return order.get_status_display().lower()
