"""The conversation on an order's page: its messages as this person may read
them, and the form that adds one (``portal.orders.conversation``)."""

from __future__ import annotations

from typing import Any

from django import forms

from catalogue.markdown import render_markdown
from portal.orders.conversation import MAX_BODY, may_ask, order_comments_for, squad_side
from portal.orders.models import Order, OrderComment
from portal.pages.base import AuthenticatedHttpRequest

Kind = OrderComment.Kind


class CommentForm(forms.Form):
    body = forms.CharField(max_length=MAX_BODY, strip=True, label="Message")
    kind = forms.ChoiceField(choices=Kind.choices, required=False)


def conversation_context(request: AuthenticatedHttpRequest, order: Order) -> dict[str, Any]:
    """What the order page shows of its conversation to this person."""
    comments = list(order_comments_for(request.user, order))
    for comment in comments:
        comment.body_html = render_markdown(comment.body)  # type: ignore[attr-defined]  # for the template
    return {
        "comments": comments,
        "talks_for_squad": squad_side(request.user, order),
        "may_ask": may_ask(request.user, order),
        "comment_kinds": Kind,
    }


#: What the person is told once their message is in.
POSTED = {
    Kind.COMMENT: "Comment added.",
    Kind.QUESTION: "Question sent: the order shows it waits on the requester until they reply.",
    Kind.WORK_NOTE: "Work note kept (the requester does not see it).",
}
