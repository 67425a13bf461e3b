"""``SQUADRON_REQUIRE_MFA``: whom it obliges to use a two-step login, and
that they reach nothing but its setup until it is done."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.identity.models import EncryptedTOTPDevice
from portal.identity.selectors import two_step_required_for
from tests.factories import UserFactory
from tests.portal.identity.conftest import PASSWORD, app_code, logged_in_as, post_login
from tests.portal.identity.test_two_step_login import key_on_the_page

PAGE = "/account/security/"


@pytest.mark.django_db
def test_who_must_use_a_two_step_login_under_each_policy(settings, requester, member, admin_user):
    staff = UserFactory(username="stan", is_staff=True)
    people = {"requester": requester, "member": member, "admin": admin_user, "staff": staff}
    expected = {
        "none": set(),
        "staff": {"member", "admin", "staff"},
        "all": {"requester", "member", "admin", "staff"},
    }
    for policy, obliged in expected.items():
        settings.SQUADRON_REQUIRE_MFA = policy
        assert {name for name, user in people.items() if two_step_required_for(user)} == obliged, policy


@pytest.mark.django_db
def test_staff_policy_sends_a_curator_to_enrolment_and_nowhere_else(settings, client, member):
    settings.SQUADRON_REQUIRE_MFA = "staff"
    response = post_login(client, "nora", PASSWORD, follow=True)
    assert response.redirect_chain[-1] == (PAGE, 302)
    assert "Your role requires two-step login" in response.content.decode()
    assert logged_in_as(client) == str(member.pk)
    for path in ["/", "/orders/", "/admin/", "/approvals/", "/integrations/tokens/", "/no-such-page/"]:
        response = client.get(path)
        assert (response.status_code, response["Location"]) == (302, PAGE), path
    api = client.get("/api/v1/orders/")
    assert api.status_code == 403 and PAGE in api.json()["detail"]
    live = client.get("/orders/badges/", HTTP_HX_REQUEST="true")
    assert live["HX-Redirect"] == PAGE
    # Nothing could be created meanwhile, not even an API token to get round it.
    client.post("/integrations/tokens/", {"name": "bypass"})
    assert not member.api_tokens.exists()

    key = key_on_the_page(client.get(PAGE).content.decode())
    assert client.post(PAGE, {"code": app_code(key)}).status_code == 302
    assert client.get("/orders/").status_code == 200
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_staff_policy_leaves_people_who_only_order_alone(settings, client, requester):
    settings.SQUADRON_REQUIRE_MFA = "staff"
    post_login(client, "rita", PASSWORD)
    assert client.get("/orders/").status_code == 200


@pytest.mark.django_db
def test_all_policy_sends_everyone_to_enrolment(settings, client, requester):
    settings.SQUADRON_REQUIRE_MFA = "all"
    post_login(client, "rita", PASSWORD)
    assert client.get("/orders/")["Location"] == PAGE


@pytest.mark.django_db
def test_logging_out_stays_possible_before_enrolment(settings, client, member):
    settings.SQUADRON_REQUIRE_MFA = "staff"
    post_login(client, "nora", PASSWORD)
    response = client.post("/logout/")
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert logged_in_as(client) is None


@pytest.mark.django_db
def test_a_session_that_never_gave_a_code_must_log_in_again(settings, member, enrol):
    """Enrolled elsewhere after this session logged in: it gave no code, so
    under the policy it is logged out and sent to the login page."""
    settings.SQUADRON_REQUIRE_MFA = "staff"
    enrol(member)
    client = Client()
    client.force_login(member)
    response = client.get("/orders/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/orders/"
    assert logged_in_as(client) is None


@pytest.mark.django_db
def test_a_required_two_step_login_cannot_be_turned_off(settings, client, member, enrol):
    settings.SQUADRON_REQUIRE_MFA = "staff"
    _, key = enrol(member)
    post_login(client, "nora", PASSWORD)
    client.post("/login/code/", {"code": app_code(key, steps_ahead=1)})
    assert client.get("/orders/").status_code == 200
    page = client.get(PAGE).content.decode()
    assert "cannot be turned off" in page and "/account/security/off/" not in page
    response = client.post("/account/security/off/", {"disable-code": app_code(key, steps_ahead=1)})
    assert response.status_code == 400
    assert "Your role requires two-step login" in response.content.decode()
    assert EncryptedTOTPDevice.objects.filter(user=member).exists()


@pytest.mark.django_db
def test_the_policy_costs_no_query_for_people_it_does_not_oblige(settings, client, requester):
    """The check reads what the page reads anyway (the squads the person is
    in, cached for the request): the anonymous login page and an ordinary
    person's pages make the same queries with the policy as without."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    counts = {}
    for policy in ("none", "staff"):
        settings.SQUADRON_REQUIRE_MFA = policy
        client.logout()
        anonymous = queries("/login/")
        client.force_login(requester)
        counts[policy] = (anonymous, queries("/orders/"))
    assert counts["staff"] == counts["none"]
