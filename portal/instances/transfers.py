"""Handing an instance to someone else: its owner offers it, the person it
is offered to accepts (and becomes its owner) or declines, and the owner
may withdraw the offer while it is pending.

Every decision is a conditional UPDATE of the transfer from ``pending``
inside a transaction that first locks the instance's row, so of two people
deciding at once (two accepts, an accept and a withdrawal) exactly one wins
and the other is told what happened. Accepting changes the owner with a
second conditional UPDATE that only matches while the offerer still owns
the instance and no order works on it.

Ownership is not a state: ``portal.instances.lifecycle`` stays the only
writer of ``state``; these services write the owner, the history entry,
the ``instance.changed`` webhook and the notifications of both sides.
"""

from __future__ import annotations

from datetime import datetime

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from portal.instances.choices import ACCEPTABLE_STATES, OFFERABLE_STATES, TransferState
from portal.instances.errors import (
    InstanceBusy,
    InstanceNotFound,
    InstanceNotOperable,
    InvalidTransfer,
    TransferConflict,
    TransferNotAllowed,
)
from portal.instances.hooks import instance_handover
from portal.instances.lifecycle import EVENT_CHANGED, instance_link, instance_note, instance_payload
from portal.instances.models import InstanceTransfer, ServiceInstance
from portal.instances.permissions import can_view
from portal.integrations.webhooks.delivery import webhooks_instance_changed
from portal.notifications.choices import NotificationKind
from portal.notifications.services import notifications_settle_link, notify
from squads.selectors import display_name

#: The longest note an offer carries.
NOTE_MAX_LENGTH = 2000


def transfer_recipient(name: str) -> User:
    """The person ``name`` designates: a username (exactly, else ignoring
    case), else an email address that one account alone uses. Refused with
    a message for the recipient field when nobody, or several, match."""
    name = name.strip()
    if not name:
        raise InvalidTransfer("Say whom to offer it to: a username or an email address.", field="to")
    user = User.objects.filter(username=name).first()
    if user is not None:
        return user
    for lookup, what in (
        ({"username__iexact": name}, "username"),
        ({"email__iexact": name}, "email address"),
    ):
        found = list(User.objects.filter(**lookup)[:2])
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidTransfer(
                f"Several accounts have the {what} {name!r}: give the exact username.", field="to"
            )
    raise InvalidTransfer(f"Nobody has the username or email address {name!r}.", field="to")


def transfer_offer(
    *, actor: User, instance: ServiceInstance, to: User | str, note: str = ""
) -> InstanceTransfer:
    """Offer ``instance`` to ``to`` (a person, or a username or email
    address). Only its owner may, to an active person other than
    themselves, while it is neither being made nor going away and no other
    offer of it is pending. The recipient is told; the instance stays the
    owner's until they accept."""
    note = note.strip()
    with transaction.atomic():
        locked = _locked(actor, instance)
        if locked.owner_id != actor.pk:
            raise TransferNotAllowed(
                f"Only its owner, {display_name(locked.owner)}, may offer {locked.name} to someone else."
            )
        if locked.state not in OFFERABLE_STATES:
            raise InstanceNotOperable(
                f"{locked.name} is {locked.get_state_display().lower()}: it cannot be offered to anyone now."
            )
        pending = InstanceTransfer.objects.filter(instance_id=locked.pk, state=TransferState.PENDING).first()
        if pending is not None:
            raise _already_offered(locked, pending)
        recipient = to if isinstance(to, User) else transfer_recipient(to)
        if recipient.pk == locked.owner_id:
            raise InvalidTransfer(f"You own {locked.name} already: offer it to someone else.", field="to")
        if not recipient.is_active:
            raise InvalidTransfer(
                f"{recipient.get_username()}'s account is deactivated: offer it to someone who can accept.",
                field="to",
            )
        if len(note) > NOTE_MAX_LENGTH:
            raise InvalidTransfer(f"Keep the note to {NOTE_MAX_LENGTH} characters.", field="note")
        try:
            with transaction.atomic():
                transfer = InstanceTransfer.objects.create(
                    instance=locked, from_user=actor, to_user=recipient, note=note
                )
        except IntegrityError:
            # Another offer was made between the check and the insert (a
            # database without row locks): the constraint keeps it at one.
            pending = InstanceTransfer.objects.get(instance_id=locked.pk, state=TransferState.PENDING)
            raise _already_offered(locked, pending) from None
        instance_note(
            locked,
            order=None,
            actor=actor,
            message=f"Offered to {display_name(recipient)} by {display_name(actor)}"
            + (f": {note}" if note else ""),
        )
        notify(
            recipients=[recipient],
            kind=NotificationKind.TRANSFER_OFFERED,
            title=f"{display_name(actor)} offers you {locked.name} ({locked.product.name})",
            body=(f"{note}\n\n" if note else "")
            + "Accept it to become its owner, or decline it, on its page.",
            link=instance_link(locked.pk),
        )
    return transfer


def transfer_accept(
    *, actor: User, instance: ServiceInstance, business_unit: str | None = None
) -> InstanceTransfer:
    """Accept the offer of ``instance`` made to ``actor``: they become its
    owner (and, by the handover checks, it may be charged to a business unit
    of theirs: ``business_unit``, a slug, names one). Refused, changing
    nothing, when it is not offered to them (any more), when its owner
    changed since the offer, while it is not in a state to change hands or
    an order works on it, or when a handover check refuses it."""
    with transaction.atomic():
        locked = _locked(actor, instance)
        transfer = _pending_for_recipient(actor, locked, doing="accept")
        if locked.owner_id != transfer.from_user_id:
            raise TransferConflict(
                f"{locked.name} changed hands since {display_name(transfer.from_user)} offered it: "
                "the offer no longer stands.",
                code="owner_changed",
            )
        if locked.state not in ACCEPTABLE_STATES:
            raise InstanceNotOperable(
                f"{locked.name} is {locked.get_state_display().lower()}: it cannot change hands now."
            )
        if locked.busy_with_id is not None:
            raise InstanceBusy(
                f"{locked.name} is busy with order #{locked.busy_with_id}: accept the offer once that "
                "order ends.",
                order_id=locked.busy_with_id,
            )
        handover = instance_handover(locked, actor, business_unit)
        now = _decide(transfer, TransferState.ACCEPTED, locked)
        handed = ServiceInstance.objects.filter(
            pk=locked.pk,
            owner_id=transfer.from_user_id,
            state__in=ACCEPTABLE_STATES,
            busy_with__isnull=True,
        ).update(updated_at=now, owner_id=transfer.to_user_id, **handover.columns)
        if handed != 1:
            # Only a change this transaction could not lock out (a database
            # without row locks): the transaction rolls the decision back.
            raise TransferConflict(
                f"{locked.name} was changed by someone else just now; reload it.", code="instance_changed"
            )
        locked.refresh_from_db()
        _told_of_acceptance(locked, transfer, handover.note)
    return transfer


def _told_of_acceptance(instance: ServiceInstance, transfer: InstanceTransfer, note: str) -> None:
    """The history, the webhooks and both sides hear that the instance
    changed hands."""
    giver, taker = transfer.from_user, transfer.to_user
    instance_note(
        instance,
        order=None,
        actor=taker,
        message=f"Transferred from {display_name(giver)} to {display_name(taker)}, who accepted it"
        + (f"; {note}" if note else ""),
    )
    webhooks_instance_changed(
        instance_id=instance.pk,
        owner_id=taker.pk,
        previous_owner_id=giver.pk,
        squad_id=instance.product.squad_id,
        event=EVENT_CHANGED,
        order_id=None,
        payload_of=instance_payload,
        details={"transfer": {"from": giver.get_username(), "to": taker.get_username()}},
    )
    notify(
        recipients=[taker],
        kind=NotificationKind.TRANSFER_DECIDED,
        title=f"You now own {instance.name} ({instance.product.name})",
        body=f"{display_name(giver)} handed it over to you. It is listed under My services.",
        link=instance_link(instance.pk),
    )
    notify(
        recipients=[giver],
        kind=NotificationKind.TRANSFER_DECIDED,
        title=f"{display_name(taker)} accepted {instance.name}: it is theirs now",
        body=f"{instance.name} ({instance.product.name}) is no longer yours.",
        # They may no longer see it: a link to a 404 helps nobody.
        link=instance_link(instance.pk) if can_view(giver, instance) else "",
    )


def transfer_decline(*, actor: User, instance: ServiceInstance) -> InstanceTransfer:
    """Decline the offer of ``instance`` made to ``actor``: it stays its
    owner's, who is told (and the recipient no longer sees it)."""
    with transaction.atomic():
        locked = _locked(actor, instance)
        transfer = _pending_for_recipient(actor, locked, doing="decline")
        _settle(
            transfer,
            TransferState.DECLINED,
            locked,
            actor=actor,
            history=f"{display_name(actor)} declined the offer from {display_name(transfer.from_user)}",
            told=transfer.from_user,
            kind=NotificationKind.TRANSFER_DECIDED,
            title=f"{display_name(actor)} declined {locked.name}",
            body=f"{locked.name} ({locked.product.name}) stays yours; you may offer it to someone else.",
            link=instance_link(locked.pk),
        )
    return transfer


def transfer_withdraw(*, actor: User, instance: ServiceInstance) -> InstanceTransfer:
    """Withdraw the pending offer of ``instance``: only its owner, who made
    it, may. The person it was offered to is told."""
    with transaction.atomic():
        locked = _locked(actor, instance)
        transfer = _pending_transfer(locked)
        if transfer is None or transfer.from_user_id != actor.pk:
            if transfer is not None and transfer.to_user_id == actor.pk:
                raise TransferNotAllowed(
                    f"Only {display_name(transfer.from_user)}, who offered it, may withdraw the offer; "
                    "decline it instead."
                )
            if transfer is not None:
                raise TransferNotAllowed(
                    f"Only its owner, {display_name(transfer.from_user)}, may withdraw the offer of "
                    f"{locked.name}."
                )
            raise _not_pending(actor, locked)
        _settle(
            transfer,
            TransferState.WITHDRAWN,
            locked,
            actor=actor,
            history=f"{display_name(actor)} withdrew the offer to {display_name(transfer.to_user)}",
            told=transfer.to_user,
            kind=NotificationKind.TRANSFER_OFFERED,
            title=f"{display_name(actor)} no longer offers you {locked.name}",
            body=f"{display_name(actor)} withdrew the offer of {locked.name} ({locked.product.name}).",
        )
    return transfer


def _settle(
    transfer: InstanceTransfer,
    state: str,
    instance: ServiceInstance,
    *,
    actor: User,
    history: str,
    told: User,
    kind: str,
    title: str,
    body: str,
    link: str = "",
) -> None:
    """End a pending offer without a change of hands (declined, withdrawn):
    the decision, a line on the instance's history, and the other side told."""
    _decide(transfer, state, instance)
    instance_note(instance, order=None, actor=actor, message=history)
    notify(recipients=[told], kind=kind, title=title, body=body, link=link)


# --- Steps ----------------------------------------------------------------------------


def _locked(actor: User, instance: ServiceInstance) -> ServiceInstance:
    """The instance's row, locked until the transaction ends (every
    transfer service takes this lock first, so they queue up on it), as it
    is now; a 404 for someone who may see neither it nor an offer of it."""
    locked = ServiceInstance.objects.select_for_update().filter(pk=instance.pk).first()
    if locked is None or not actor.is_active:
        raise InstanceNotFound("No such instance.")
    involved = InstanceTransfer.objects.filter(instance_id=locked.pk).filter(
        Q(from_user_id=actor.pk) | Q(to_user_id=actor.pk)
    )
    # Someone an offer was made to may be told what became of it, though
    # they no longer see the instance once it was declined or withdrawn.
    if not can_view(actor, locked) and not involved.exists():
        raise InstanceNotFound("No such instance.")
    return locked


def _pending_transfer(instance: ServiceInstance) -> InstanceTransfer | None:
    return (
        InstanceTransfer.objects.select_related("from_user", "to_user")
        .filter(instance_id=instance.pk, state=TransferState.PENDING)
        .first()
    )


def _pending_for_recipient(actor: User, instance: ServiceInstance, *, doing: str) -> InstanceTransfer:
    transfer = _pending_transfer(instance)
    if transfer is not None and transfer.to_user_id == actor.pk:
        return transfer
    if transfer is None:
        raise _not_pending(actor, instance)
    if transfer.from_user_id == actor.pk:
        raise TransferNotAllowed(
            f"You offered {instance.name} to {display_name(transfer.to_user)}: only they may {doing} it; "
            "withdraw the offer instead."
        )
    raise TransferNotAllowed(
        f"{instance.name} is offered to {display_name(transfer.to_user)}: only they may {doing} it."
    )


def _decide(transfer: InstanceTransfer, to: str, instance: ServiceInstance) -> datetime:
    """Move the transfer from pending to ``to``, or say what became of it
    if someone decided first. Returns the moment of the decision. The offer
    is no longer news for its recipient: its notification is marked read."""
    now = timezone.now()
    decided = InstanceTransfer.objects.filter(pk=transfer.pk, state=TransferState.PENDING).update(
        state=to, decided_at=now
    )
    if decided != 1:
        transfer.refresh_from_db()
        raise TransferConflict(_what_became(transfer, instance), code="transfer_decided")
    transfer.state, transfer.decided_at = to, now
    notifications_settle_link(
        recipient=transfer.to_user,
        kinds=(NotificationKind.TRANSFER_OFFERED,),
        link=instance_link(instance.pk),
    )
    return now


def _not_pending(actor: User, instance: ServiceInstance) -> TransferConflict:
    """The refusal of a decision on an instance offered to nobody now,
    saying what became of the last offer the person took part in."""
    latest = (
        InstanceTransfer.objects.select_related("from_user", "to_user")
        .filter(instance_id=instance.pk)
        .filter(Q(from_user_id=actor.pk) | Q(to_user_id=actor.pk))
        .first()
    )
    if latest is None:
        return TransferConflict(f"{instance.name} is not offered to anyone.", code="no_pending_transfer")
    return TransferConflict(_what_became(latest, instance), code="no_pending_transfer")


def _what_became(transfer: InstanceTransfer, instance: ServiceInstance) -> str:
    giver, taker = display_name(transfer.from_user), display_name(transfer.to_user)
    ended = {
        TransferState.ACCEPTED: f"{taker} already accepted the offer of {instance.name}.",
        TransferState.DECLINED: f"{taker} already declined the offer of {instance.name}.",
        TransferState.WITHDRAWN: f"{giver} withdrew the offer of {instance.name}.",
        TransferState.CANCELLED: f"The offer of {instance.name} ended: it was decommissioned.",
    }
    return ended.get(TransferState(transfer.state), f"{instance.name} is offered to {taker}.")


def _already_offered(instance: ServiceInstance, pending: InstanceTransfer) -> TransferConflict:
    return TransferConflict(
        f"{instance.name} is already offered to {display_name(pending.to_user)}: withdraw that offer first.",
        code="transfer_pending",
    )
