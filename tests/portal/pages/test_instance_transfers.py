"""Handing an instance over in the portal: the owner offers it from its
page (a recipient who cannot take it is a field error), sees the offer and
withdraws it; the recipient finds it under "Offered to you", looks at it,
accepts or declines. Every command is a POST with CSRF that redirects with
a message; anyone else gets a 404, and a refusal changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.instances.choices import TransferState
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.transfers import transfer_offer
from portal.notifications.models import Notification
from tests.factories import UserFactory
from tests.instances import create

pytestmark = pytest.mark.django_db

COMMANDS = ["transfer", "transfer/accept", "transfer/decline", "transfer/withdraw"]


@pytest.fixture
def instance(database, requester):
    return create(database, requester)


@pytest.fixture
def offered(instance, requester, outsider):
    """The instance, offered by rita to oscar."""
    transfer_offer(actor=requester, instance=instance, to=outsider, note="Billing is yours now.")
    return instance


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def snapshot(instance: ServiceInstance) -> dict:
    return {
        "instance": ServiceInstance.objects.filter(pk=instance.pk).values().get(),
        "transfers": list(InstanceTransfer.objects.order_by("pk").values()),
        "history": InstanceEvent.objects.count(),
        "notifications": Notification.objects.count(),
    }


def page(client: Client, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.content.decode()


# --- The owner ----------------------------------------------------------------------------


def test_the_owner_offers_it_from_its_page_and_sees_the_offer_with_a_withdraw_button(
    instance, requester, outsider
):
    client = logged_in(requester)
    html = page(client, f"/instances/{instance.pk}/")
    assert f'action="/instances/{instance.pk}/transfer/"' in html and 'name="to"' in html
    response = client.post(f"/instances/{instance.pk}/transfer/", {"to": "oscar", "note": "Yours now."})
    assert response.status_code == 302 and response["Location"] == f"/instances/{instance.pk}/"
    transfer = InstanceTransfer.objects.get()
    assert (transfer.to_user, transfer.note, transfer.state) == (
        outsider,
        "Yours now.",
        TransferState.PENDING,
    )
    html = page(client, response["Location"])
    assert "orders-db is offered to oscar: it stays yours until they accept." in html
    assert "Offered to <strong>oscar</strong>" in html and "Yours now." in html
    assert f'action="/instances/{instance.pk}/transfer/withdraw/"' in html
    assert 'name="to"' not in html, "one offer at a time"


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("nobody-here", "Nobody has the username or email address &#x27;nobody-here&#x27;."),
        ("rita", "You own orders-db already: offer it to someone else."),
        ("gone", "gone&#x27;s account is deactivated"),
        ("", "This field is required."),
    ],
)
def test_a_recipient_who_cannot_take_it_is_an_error_next_to_the_field(instance, requester, to, says):
    UserFactory(username="gone", is_active=False)
    before = snapshot(instance)
    response = logged_in(requester).post(f"/instances/{instance.pk}/transfer/", {"to": to, "note": "x"})
    assert response.status_code == 422
    html = response.content.decode()
    assert says in html
    assert 'id="id_to_error"' in html and "It was not offered" in html
    assert ">\nx</textarea>" in html, "the note is kept for another try"
    assert snapshot(instance) == before


def test_the_owner_withdraws_the_offer(offered, requester):
    client = logged_in(requester)
    response = client.post(f"/instances/{offered.pk}/transfer/withdraw/", follow=True)
    assert response.redirect_chain == [(f"/instances/{offered.pk}/", 302)]
    html = response.content.decode()
    assert "You withdrew the offer of orders-db; it stays yours." in html
    assert InstanceTransfer.objects.get().state == TransferState.WITHDRAWN
    assert 'name="to"' in html, "it may be offered again"


def test_a_squad_member_sees_the_offer_but_no_form(offered, member):
    html = page(logged_in(member), f"/instances/{offered.pk}/")
    assert "rita offers it to <strong>oscar</strong>" in html
    assert 'name="to"' not in html and "/transfer/withdraw/" not in html and "/transfer/accept/" not in html


def test_a_decommissioned_instance_offers_no_transfer(instance, requester):
    ServiceInstance.objects.filter(pk=instance.pk).update(state="decommissioned")
    html = page(logged_in(requester), f"/instances/{instance.pk}/")
    assert 'name="to"' not in html and "transfer-heading" not in html


# --- The recipient ------------------------------------------------------------------------


def test_the_recipient_finds_the_offer_at_the_top_of_my_services_and_looks_at_the_instance(offered, outsider):
    client = logged_in(outsider)
    html = page(client, "/instances/")
    assert "Offered to you" in html
    assert html.index("Offered to you") < html.index("You own no service yet")
    assert (
        f'href="/instances/{offered.pk}/"' in html and "from rita" in html and "Billing is yours now." in html
    )
    assert f'action="/instances/{offered.pk}/transfer/accept/"' in html
    detail = page(client, f"/instances/{offered.pk}/")
    assert "rita offers you this service" in detail and "Billing is yours now." in detail
    assert f'action="/instances/{offered.pk}/transfer/decline/"' in detail
    # It looks, but orders nothing.
    assert f"/instances/{offered.pk}/operations/" not in detail and 'name="to"' not in detail


def test_the_recipient_accepts_and_finds_it_under_my_services_while_the_owner_loses_it(
    offered, outsider, requester
):
    client = logged_in(outsider)
    response = client.post(f"/instances/{offered.pk}/transfer/accept/", follow=True)
    assert response.redirect_chain == [(f"/instances/{offered.pk}/", 302)]
    html = response.content.decode()
    assert "You now own orders-db." in html and "owned by oscar" in html
    assert f"/instances/{offered.pk}/operations/resize/" in html
    listed = page(client, "/instances/")
    assert "Offered to you" not in listed and "orders-db" in listed
    assert ServiceInstance.objects.get(pk=offered.pk).owner == outsider
    assert logged_in(requester).get(f"/instances/{offered.pk}/").status_code == 404


def test_the_new_owner_sees_the_earlier_owners_orders_listed_but_not_linked(offered, outsider):
    """The history goes with the instance; the orders stay their requester's
    (another user's order is a 404): a link would lead nowhere."""
    created_by = offered.created_by_order_id
    logged_in(outsider).post(f"/instances/{offered.pk}/transfer/accept/")
    html = page(logged_in(outsider), f"/instances/{offered.pk}/")
    assert f"#{created_by}" in html
    assert f'href="/orders/{created_by}/"' not in html
    assert logged_in(outsider).get(f"/orders/{created_by}/").status_code == 404


def test_the_owner_sees_their_orders_linked(offered, requester):
    html = page(logged_in(requester), f"/instances/{offered.pk}/")
    assert f'href="/orders/{offered.created_by_order_id}/"' in html


def test_the_recipient_declines_from_my_services_and_goes_back_there(offered, outsider, requester):
    client = logged_in(outsider)
    response = client.post(f"/instances/{offered.pk}/transfer/decline/", {"next": "/instances/"}, follow=True)
    assert response.redirect_chain == [("/instances/", 302)]
    html = response.content.decode()
    assert "You declined orders-db; it stays rita&#x27;s." in html and "Offered to you" not in html
    assert ServiceInstance.objects.get(pk=offered.pk).owner == requester
    assert client.get(f"/instances/{offered.pk}/").status_code == 404


def test_declining_from_the_instance_page_lands_on_my_services_which_still_shows_it(offered, outsider):
    response = logged_in(outsider).post(f"/instances/{offered.pk}/transfer/decline/")
    assert response.status_code == 302 and response["Location"] == "/instances/"


def test_an_offer_away_to_another_site_is_not_followed(offered, outsider):
    response = logged_in(outsider).post(
        f"/instances/{offered.pk}/transfer/decline/", {"next": "https://evil.example.com/"}
    )
    assert response["Location"] == "/instances/"


def test_a_refused_decision_says_why_and_changes_nothing(offered, outsider, requester):
    before = snapshot(offered)
    response = logged_in(outsider).post(f"/instances/{offered.pk}/transfer/withdraw/", follow=True)
    assert "decline it instead" in response.content.decode()
    response = logged_in(requester).post(f"/instances/{offered.pk}/transfer/accept/", follow=True)
    assert "only they may accept it" in response.content.decode()
    assert snapshot(offered) == before


def test_an_offer_withdrawn_meanwhile_is_said_when_the_recipient_accepts(offered, outsider, requester):
    client = logged_in(outsider)
    page(client, f"/instances/{offered.pk}/")
    logged_in(requester).post(f"/instances/{offered.pk}/transfer/withdraw/")
    response = client.post(f"/instances/{offered.pk}/transfer/accept/", follow=True)
    # No longer theirs to see: a 404 for the instance, as for anyone else.
    assert response.status_code == 404
    assert ServiceInstance.objects.get(pk=offered.pk).owner == requester


def test_an_instance_an_order_works_on_shows_why_it_cannot_be_accepted_yet(offered, requester, outsider):
    logged_in(requester).post(f"/instances/{offered.pk}/operations/extend/", {})
    html = page(logged_in(outsider), f"/instances/{offered.pk}/")
    assert "you can accept once that order ends" in html
    assert "/transfer/accept/" not in html and "/transfer/decline/" in html


# --- Everyone else, CSRF, methods -----------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_someone_elses_instance_is_a_404_for_every_command(offered, other_member, command):
    stranger = UserFactory(username="stan")
    before = snapshot(offered)
    for user in (other_member, stranger):
        response = logged_in(user).post(f"/instances/{offered.pk}/{command}/", {"to": "stan"})
        assert response.status_code == 404
        assert logged_in(user).get(f"/instances/{offered.pk}/").status_code == 404
    assert snapshot(offered) == before


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_needs_a_post_with_its_csrf_token(offered, requester, outsider, command):
    before = snapshot(offered)
    for user in (requester, outsider):
        client = logged_in(user, enforce_csrf_checks=True)
        assert client.post(f"/instances/{offered.pk}/{command}/", {"to": "otto"}).status_code == 403
        # A GET changes nothing: it is sent to the instance's page (a 404 there for an outsider).
        response = client.get(f"/instances/{offered.pk}/{command}/")
        assert response.status_code == 302 and response["Location"] == f"/instances/{offered.pk}/"
    assert snapshot(offered) == before


def test_the_forms_carry_their_csrf_token(offered, requester, outsider):
    for user, path in ((requester, f"/instances/{offered.pk}/"), (outsider, "/instances/")):
        html = page(logged_in(user, enforce_csrf_checks=True), path)
        forms = html.count('method="post"')
        assert forms and html.count('name="csrfmiddlewaretoken"') >= forms


def test_my_services_costs_the_same_queries_whatever_the_number_of_offers(
    database, requester, outsider, django_assert_max_num_queries
):
    client = logged_in(outsider)
    transfer_offer(actor=requester, instance=create(database, requester), to=outsider)
    client.get("/instances/")  # warm the session
    with django_assert_max_num_queries(14) as few:
        client.get("/instances/")
    for _ in range(3):
        transfer_offer(actor=requester, instance=create(database, requester), to=outsider)
    with django_assert_max_num_queries(len(few.captured_queries)):
        html = client.get("/instances/").content.decode()
    assert html.count("/transfer/accept/") == 4
