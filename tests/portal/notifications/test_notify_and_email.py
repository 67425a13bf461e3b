"""Notifications: who is told what, in the portal and by email, according to
their preferences; emails go out from a task (never inside a request), with
retries, and their links work."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from portal.notifications import selectors as notification_selectors
from portal.notifications import services as notification_services
from portal.notifications.choices import NotificationKind
from portal.notifications.models import Notification
from portal.orders.approvals import order_approve, order_reject
from portal.orders.fulfilment import order_claim
from portal.orders.recovery import orders_sweep
from portal.orders.submission import order_submit
from squads.choices import Role
from tests.factories import MembershipFactory, UserFactory
from tests.portal.conftest import broker_outage, drain_queued_tasks

pytestmark = pytest.mark.django_db(transaction=True)

INPUTS = {"hostname": "web-01"}


@pytest.fixture
def sme(squad):
    return MembershipFactory(user=UserFactory(username="sara"), squad=squad, role=Role.SME).user


def notified(user) -> list[tuple[str, str]]:
    return list(
        Notification.objects.filter(recipient=user).order_by("id").values_list("kind", "email_status")
    )


def deliver_emails() -> list[int]:
    """Do what the worker does with the email tasks on the queue."""
    sent = []
    for task, args in drain_queued_tasks():
        if task == notification_services.EMAIL_TASK:
            notification_services.notification_send_email(notification_id=args[0])
            sent.append(args[0])
    return sent


def test_approvers_are_told_and_emailed_after_commit(approval_product, requester, member, sme, engineer):
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)

    assert notified(member) == [(NotificationKind.APPROVAL_REQUESTED, "pending")]
    assert notified(sme) == [(NotificationKind.APPROVAL_REQUESTED, "pending")]
    assert notified(engineer) == [], "engineers do not approve under the squad policy"
    assert notified(requester) == [], "nobody is told what they just did themselves"
    assert mail.outbox == [], "the request never sends mail itself"

    assert len(deliver_emails()) == 2
    assert sorted(message.to[0] for message in mail.outbox) == ["nora@example.com", "sara@example.com"]
    message = mail.outbox[0]
    assert message.subject == f"[Squadron] Order #{order.pk} (Firewall rule) waits for your approval"
    link = f"http://testserver.example/orders/{order.pk}/"
    assert link in message.body
    html = message.alternatives[0][0]
    assert f'href="{link}"' in html
    assert "http://testserver.example/notifications/preferences/" in message.body
    assert set(Notification.objects.values_list("email_status", flat=True)) == {"sent"}


@pytest.fixture(autouse=True)
def _base_url_and_empty_queue(settings):
    settings.SQUADRON_BASE_URL = "http://testserver.example"
    # Tasks that earlier tests of this process left on its queue are not ours.
    drain_queued_tasks()


def test_requester_hears_of_each_status_change_made_by_others(approval_product, requester, member):
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    order_reject(order=order, actor=member, reason="Not without a change ticket")

    assert notified(requester) == [(NotificationKind.ORDER_FINISHED, "pending")]
    note = Notification.objects.get(recipient=requester)
    assert note.title == f"Order #{order.pk} (Firewall rule) was rejected"
    assert note.body == "Not without a change ticket"
    assert note.link == f"/orders/{order.pk}/"


def test_progress_is_not_emailed_by_default_but_shown_in_the_portal(approval_product, requester, member):
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    order_approve(order=order, actor=member)
    assert notified(requester) == [(NotificationKind.ORDER_PROGRESS, "not_wanted")]
    assert notification_selectors.unread_count(requester) == 1


def test_preferences_decide_what_is_emailed(approval_product, requester, member, sme):
    notification_services.email_preferences_set(user=member, email_kinds=[])
    notification_services.email_preferences_set(user=requester, email_kinds=[NotificationKind.ORDER_PROGRESS])
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    order_approve(order=order, actor=sme)

    assert notified(member) == [(NotificationKind.APPROVAL_REQUESTED, "not_wanted")]
    assert notified(requester) == [(NotificationKind.ORDER_PROGRESS, "pending")]
    deliver_emails()
    assert sorted(message.to[0] for message in mail.outbox) == ["rita@example.com", "sara@example.com"]


def test_unknown_preference_is_refused_and_nothing_changes(requester):
    before = notification_selectors.email_preferences(requester)
    with pytest.raises(ValueError, match="Unknown notification kind"):
        notification_services.email_preferences_set(user=requester, email_kinds=["order_finished", "gossip"])
    assert notification_selectors.email_preferences(requester) == before


def test_squad_members_hear_of_manual_orders_in_their_queue(
    manual_product, requester, member, engineer, other_member
):
    order_submit(requester=requester, product=manual_product, inputs=INPUTS)
    assert notified(member) == [(NotificationKind.MANUAL_QUEUED, "pending")]
    assert notified(engineer) == [(NotificationKind.MANUAL_QUEUED, "pending")]
    assert notified(other_member) == []


def test_people_without_an_email_address_are_told_in_the_portal_only(approval_product, requester, member):
    member.email = ""
    member.save()
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    assert notified(member) == [(NotificationKind.APPROVAL_REQUESTED, "not_wanted")]


class BrokenMailServer:
    """The SMTP server is outside our control: here it refuses every message."""

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


def attempt_due_emails(now) -> None:  # type: ignore[no-untyped-def]
    """What beat and the worker do at ``now``: the sweep queues what is due,
    the worker sends it."""
    if not notification_services.notification_emails_resend(now=now):
        return  # nothing queued: no need to wait on the broker
    for task, args in drain_queued_tasks():
        if task == notification_services.EMAIL_TASK:
            notification_services.notification_send_email(notification_id=args[0], now=now)


def test_a_mail_server_down_for_a_day_loses_no_email(approval_product, requester, member, settings):
    assert sum(notification_services.EMAIL_RETRY_DELAYS) >= 24 * 60 * 60
    settings.EMAIL_BACKEND = "tests.portal.notifications.test_notify_and_email.BrokenMailServer"
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    note = Notification.objects.get(recipient=member)
    start = timezone.now()
    assert notification_services.notification_send_email(notification_id=note.pk, now=start) is False
    # Every half hour of a day's outage the sweep tries what is due: the
    # email stays pending (retryable), never failed.
    for minute in range(30, 24 * 60, 30):
        attempt_due_emails(start + timedelta(minutes=minute))
        note.refresh_from_db()
        assert note.email_status == Notification.EmailStatus.PENDING, minute
    assert 5 < note.email_attempts < notification_services.EMAIL_MAX_ATTEMPTS
    assert "mail server down" in note.email_error and note.email_next_attempt_at is not None
    # The next morning the server is back: the next due attempt sends it.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    attempt_due_emails(note.email_next_attempt_at)
    note.refresh_from_db()
    assert note.email_status == Notification.EmailStatus.SENT
    assert [message.to for message in mail.outbox] == [["nora@example.com"]]


def test_an_email_that_never_goes_through_is_recorded_failed_after_its_last_attempt(
    approval_product, requester, member, settings
):
    settings.EMAIL_BACKEND = "tests.portal.notifications.test_notify_and_email.BrokenMailServer"
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    note = Notification.objects.get(recipient=member)
    now = timezone.now()
    for _attempt in range(notification_services.EMAIL_MAX_ATTEMPTS):
        assert notification_services.notification_send_email(notification_id=note.pk, now=now) is False
        note.refresh_from_db()
        now = note.email_next_attempt_at or now
    assert note.email_status == Notification.EmailStatus.FAILED
    assert note.email_attempts == notification_services.EMAIL_MAX_ATTEMPTS
    assert notification_services.notification_emails_resend(now=now + timedelta(days=7)) == 0
    # It stays in the portal whatever happened to the email.
    assert notification_selectors.unread_count(member) == 1


class ResendWhileSending:
    """A mail server slow enough that the sweep's resend of the same email
    arrives while the first attempt is still sending it."""

    sent: list = []

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        note = Notification.objects.get(email_status=Notification.EmailStatus.SENDING)
        # The racing resend: it must find the email taken and send nothing.
        assert notification_services.notification_send_email(notification_id=note.pk) is True
        ResendWhileSending.sent.extend(messages)
        return len(messages)


def test_a_resend_racing_the_original_never_sends_twice(approval_product, requester, member, settings):
    settings.EMAIL_BACKEND = "tests.portal.notifications.test_notify_and_email.ResendWhileSending"
    ResendWhileSending.sent = []
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    note = Notification.objects.get(recipient=member)
    assert notification_services.notification_send_email(notification_id=note.pk) is True
    assert len(ResendWhileSending.sent) == 1
    note.refresh_from_db()
    assert (note.email_status, note.email_attempts) == (Notification.EmailStatus.SENT, 1)
    # Nor does a late original delivered by the broker after it was sent.
    assert notification_services.notification_send_email(notification_id=note.pk) is True
    assert len(ResendWhileSending.sent) == 1


def held_by_an_attempt(approval_product, requester, member, *, attempts: int):  # type: ignore[no-untyped-def]
    """An order's email to ``member``, its ``attempts``-th attempt sending it
    (claimed for another minute) when the worker running it dies: the
    email, and now."""
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    drain_queued_tasks()
    note = Notification.objects.get(recipient=member)
    now = timezone.now()
    Notification.objects.filter(pk=note.pk).update(
        email_status=Notification.EmailStatus.SENDING,
        email_attempts=attempts,
        email_claimed_until=now + timedelta(seconds=60),
    )
    return note, now


def test_an_attempt_that_died_mid_send_is_taken_up_again_once_its_claim_runs_out(
    approval_product, requester, member
):
    note, now = held_by_an_attempt(approval_product, requester, member, attempts=1)
    assert notification_services.notification_emails_resend(now=now) == 0  # still held
    later = now + timedelta(seconds=notification_services.EMAIL_CLAIM_SECONDS)
    attempt_due_emails(later)
    note.refresh_from_db()
    assert note.email_status == Notification.EmailStatus.SENT and len(mail.outbox) == 1


def test_a_last_attempt_that_died_mid_send_is_recorded_failed_not_left_sending(
    approval_product, requester, member
):
    """No attempt is left after the last one: once its claim runs out the
    sweep says the email failed, instead of showing it "sending" for ever."""
    note, now = held_by_an_attempt(
        approval_product, requester, member, attempts=notification_services.EMAIL_MAX_ATTEMPTS
    )
    assert notification_services.notification_emails_resend(now=now) == 0
    note.refresh_from_db()
    assert note.email_status == Notification.EmailStatus.SENDING  # still held by its attempt

    later = now + timedelta(seconds=notification_services.EMAIL_CLAIM_SECONDS)
    assert notification_services.notification_emails_resend(now=later) == 0

    note.refresh_from_db()
    assert (note.email_status, note.email_claimed_until) == (Notification.EmailStatus.FAILED, None)
    assert "did not finish" in note.email_error
    assert note.email_attempts == notification_services.EMAIL_MAX_ATTEMPTS
    assert drain_queued_tasks() == [] and mail.outbox == []


def test_the_sweep_queues_an_email_once_while_its_task_waits_for_a_worker(
    approval_product, requester, member
):
    """The email workers are down: each sweep (every 30 s) used to queue the
    same due emails again, hundreds of copies an hour on the broker. Queued,
    an email waits out a lease before the sweep queues it again."""
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    drain_queued_tasks()
    note = Notification.objects.get(recipient=member)
    now = timezone.now()
    Notification.objects.filter(pk=note.pk).update(created_at=now - timedelta(hours=1))

    assert notification_services.notification_emails_resend(now=now) == 1
    assert notification_services.notification_emails_resend(now=now + timedelta(seconds=30)) == 0
    assert [args for _task, args in drain_queued_tasks()] == [[note.pk]]

    # No worker took it within the lease: queued again, once.
    later = now + timedelta(seconds=notification_services.EMAIL_CLAIM_SECONDS + 1)
    assert notification_services.notification_emails_resend(now=later) == 1
    # A worker takes it whenever its task arrives: the lease holds the sweep, not the send.
    assert notification_services.notification_send_email(notification_id=note.pk, now=later) is True
    note.refresh_from_db()
    assert (note.email_status, note.email_attempts, len(mail.outbox)) == (Notification.EmailStatus.SENT, 1, 1)


def test_an_email_the_broker_did_not_take_is_not_held_back_by_the_lease(approval_product, requester, member):
    """With the broker down the sweep queues nothing, so nothing waits out a
    lease: the next sweep, with the broker back, queues it at once."""
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    drain_queued_tasks()
    now = timezone.now()
    Notification.objects.update(created_at=now - timedelta(hours=1))

    with broker_outage():
        assert notification_services.notification_emails_resend(now=now) == 0

    assert Notification.objects.get(recipient=member).email_claimed_until is None
    assert notification_services.notification_emails_resend(now=now + timedelta(seconds=30)) == 1


def test_the_sweep_resends_emails_whose_task_never_ran(approval_product, requester, member, settings):
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    drain_queued_tasks()  # lost with the broker
    Notification.objects.update(created_at=timezone.now() - timedelta(hours=1))
    report = orders_sweep()
    assert report.emails_resent == 1
    assert len(deliver_emails()) == 1
    assert mail.outbox[0].to == ["nora@example.com"]


def test_marking_read_is_personal(approval_product, requester, member, sme):
    order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    mine = Notification.objects.get(recipient=member)
    theirs = Notification.objects.get(recipient=sme)
    assert notification_services.notification_mark_read(user=member, notification_id=theirs.pk) is False
    theirs.refresh_from_db()
    assert theirs.read_at is None
    assert notification_services.notification_mark_read(user=member, notification_id=mine.pk) is True
    assert notification_selectors.unread_count(member) == 0
    assert notification_services.notifications_mark_all_read(user=sme) == 1
    assert notification_selectors.unread_count(sme) == 0


def test_a_request_to_act_is_settled_for_everyone_once_someone_has_acted(
    approval_product, manual_product, requester, member, sme, engineer
):
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    assert notification_selectors.unread_count(sme) == 1
    order_approve(order=order, actor=member)
    asked = Notification.objects.get(recipient=sme, order=order, kind=NotificationKind.APPROVAL_REQUESTED)
    assert asked.read_at is not None, "nora decided: nothing waits for the SME any more"

    manual = order_submit(requester=requester, product=manual_product, inputs={"hostname": "a"})
    queued = Notification.objects.filter(order=manual, kind=NotificationKind.MANUAL_QUEUED)
    assert queued.filter(read_at=None).count() == queued.count() > 1
    order_claim(order=manual, actor=engineer)
    assert not queued.filter(read_at=None).exists()
    assert Notification.objects.filter(recipient=requester, read_at=None).exists(), (
        "the requester's own news stays"
    )


def test_the_requester_hears_of_every_step_of_their_order(squad_twice, requester, member, jonas):
    order = order_submit(requester=requester, product=squad_twice, inputs={"label": "a"})
    order_approve(order=order, actor=jonas, step=0)
    titles = list(Notification.objects.filter(recipient=requester).values_list("title", flat=True))
    assert any("step 1 of 2 approved" in title for title in titles), titles


def test_the_requester_hears_when_someone_claims_their_manual_order(manual_product, requester, member):
    order = order_submit(requester=requester, product=manual_product, inputs=INPUTS)
    order_claim(order=order, actor=member)
    told = Notification.objects.get(recipient=requester, order=order)
    assert "is being worked on" in told.title and told.kind == NotificationKind.ORDER_PROGRESS


def test_seeing_an_order_or_watching_it_live_marks_its_notifications_read(
    client, approval_product, requester, member
):
    order = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    other = order_submit(requester=requester, product=approval_product, inputs=INPUTS)
    order_reject(order=other, actor=member, reason="no")
    client.force_login(requester)
    shown = client.get(f"/orders/{order.pk}/live/?v=x")  # the page polling, the order unchanged
    assert shown.status_code == 200
    order_approve(order=order, actor=member)
    assert notification_selectors.unread_count(requester) == 2
    version = "pending_approval.0"  # what the page showed before the approval
    client.get(f"/orders/{order.pk}/live/?v={version}")
    assert not Notification.objects.filter(recipient=requester, order=order, read_at=None).exists()
    assert notification_selectors.unread_count(requester) == 1  # the other order's stays unread
    client.get(f"/orders/{other.pk}/")
    assert notification_selectors.unread_count(requester) == 0
