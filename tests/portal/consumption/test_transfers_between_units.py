"""An instance that changes hands is charged to a business unit of its new
owner: it stays in its unit when they belong to it, else goes to the unit
they name, their only one, or none; a member of several names one; taking
it over must fit that unit's quotas. Every refusal changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from portal.consumption.errors import BusinessUnitChoiceError, QuotaExceeded
from portal.instances.choices import TransferState
from portal.instances.models import InstanceEvent, InstanceTransfer, ServiceInstance
from portal.instances.transfers import transfer_accept, transfer_offer
from tests.consumption import count_quota, total_quota, unit
from tests.instances import create, reporting

pytestmark = pytest.mark.django_db


@pytest.fixture
def offered(database, requester, outsider, finance):
    """rita's database, charged to Finance, offered to oscar."""
    instance = create(database, requester)
    assert instance.business_unit_id == finance.pk
    transfer_offer(actor=requester, instance=instance, to=outsider, note="")
    return instance


def state(instance):
    return (
        ServiceInstance.objects.filter(pk=instance.pk).values("owner_id", "business_unit_id").get(),
        list(InstanceTransfer.objects.values_list("state", flat=True)),
        InstanceEvent.objects.filter(instance=instance).count(),
    )


def test_a_recipient_of_the_same_unit_keeps_it_there(offered, outsider, finance):
    finance.memberships.create(user=outsider)
    transfer_accept(actor=outsider, instance=offered)
    assert ServiceInstance.objects.get(pk=offered.pk).business_unit_id == finance.pk


def test_it_follows_a_recipient_of_one_other_unit_and_says_so(offered, outsider, logistics):
    logistics.memberships.create(user=outsider)
    transfer_accept(actor=outsider, instance=offered)
    assert ServiceInstance.objects.get(pk=offered.pk).business_unit_id == logistics.pk
    assert InstanceEvent.objects.filter(instance=offered).last().message.endswith("now charged to Logistics")


def test_a_recipient_of_no_unit_takes_it_unassigned(offered, outsider):
    transfer_accept(actor=outsider, instance=offered)
    instance = ServiceInstance.objects.get(pk=offered.pk)
    assert (instance.owner_id, instance.business_unit_id) == (outsider.pk, None)
    assert "charged to no business unit" in InstanceEvent.objects.filter(instance=offered).last().message


def test_a_member_of_several_units_must_name_one(offered, outsider, logistics):
    purchasing = unit("purchasing", outsider, name="Purchasing")
    logistics.memberships.create(user=outsider)
    before = state(offered)
    with pytest.raises(BusinessUnitChoiceError, match="choose the one orders-db is charged to"):
        transfer_accept(actor=outsider, instance=offered)
    with pytest.raises(BusinessUnitChoiceError, match="not a member of a business unit 'finance'"):
        transfer_accept(actor=outsider, instance=offered, business_unit="finance")
    assert state(offered) == before
    transfer_accept(actor=outsider, instance=offered, business_unit="purchasing")
    assert ServiceInstance.objects.get(pk=offered.pk).business_unit_id == purchasing.pk


def test_taking_it_over_must_fit_the_new_units_quota(offered, database, outsider, logistics):
    logistics.memberships.create(user=outsider)
    count_quota(logistics, database, 1)
    create(database, outsider)  # Logistics' one database
    before = state(offered)
    with pytest.raises(QuotaExceeded) as refused:
        transfer_accept(actor=outsider, instance=offered)
    assert "Logistics's quota for PostgreSQL database is 1 instances" in str(refused.value)
    assert "taking orders-db over would make 2" in str(refused.value)
    assert state(offered) == before
    assert InstanceTransfer.objects.get().state == TransferState.PENDING


def test_an_attribute_quota_counts_what_the_instance_holds(database, requester, outsider, finance, logistics):
    logistics.memberships.create(user=outsider)
    total_quota(logistics, database, "size_gb", 100)
    instance = create(database, requester, reported=reporting(size_gb=120))
    transfer_offer(actor=requester, instance=instance, to=outsider, note="")
    with pytest.raises(QuotaExceeded, match="adds 120"):
        transfer_accept(actor=outsider, instance=instance)


def test_the_api_takes_the_unit_and_names_the_field_when_it_is_missing(offered, outsider, logistics):
    unit("purchasing", outsider, name="Purchasing")
    logistics.memberships.create(user=outsider)
    client = Client()
    client.force_login(outsider)
    url = f"/api/v1/instances/{offered.pk}/transfer/accept/"
    before = state(offered)
    refused = client.post(url, {}, content_type="application/json")
    assert refused.status_code == 400 and "business_unit" in refused.json()["errors"]
    assert state(offered) == before
    accepted = client.post(url, {"business_unit": "logistics"}, content_type="application/json")
    assert accepted.status_code == 200, accepted.content
    detail = client.get(f"/api/v1/instances/{offered.pk}/").json()
    assert detail["business_unit"] == "logistics"


def test_the_page_offers_a_choice_of_units_to_a_member_of_several(offered, outsider, logistics):
    unit("purchasing", outsider, name="Purchasing")
    logistics.memberships.create(user=outsider)
    client = Client()
    client.force_login(outsider)
    html = client.get(f"/instances/{offered.pk}/").content.decode()
    assert 'name="business_unit"' in html and "Purchasing" in html and "Logistics" in html
    response = client.post(
        f"/instances/{offered.pk}/transfer/accept/", {"business_unit": "purchasing"}, follow=True
    )
    assert "You now own orders-db." in response.content.decode()
    assert ServiceInstance.objects.get(pk=offered.pk).business_unit.slug == "purchasing"


def test_the_page_says_why_when_no_unit_was_chosen(offered, outsider, logistics):
    unit("purchasing", outsider, name="Purchasing")
    logistics.memberships.create(user=outsider)
    client = Client()
    client.force_login(outsider)
    before = state(offered)
    response = client.post(f"/instances/{offered.pk}/transfer/accept/", follow=True)
    assert "choose the one orders-db is charged to" in response.content.decode()
    assert state(offered) == before
