"""Dynamic choices at curation and when read: x-choices-from's shape, the
lists and products it names, choice lists in the catalogue file, and URL
sources fetched from a real local server (allow-list, SSRF guard, cache,
a source that is down)."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError

from catalogue.dynamic_choices import LABELS, MAX_CHOICES, UNAVAILABLE, live_schema
from catalogue.exporter import export_catalogue
from catalogue.inputs import validate_inputs
from catalogue.models import ChoiceItem, ChoiceList, Product
from catalogue.schema import form_schema_problems
from catalogue.services import CatalogueError, choice_lists_delete
from tests.admin_forms import admin_url, field_errors, product_data
from tests.choices_server import choices_server
from tests.factories import ProductFactory, SquadFactory, UserFactory


def _form(**spec: object) -> dict:
    return {"type": "object", "properties": {"zone": spec}}


@pytest.mark.parametrize(
    ("spec", "where", "message"),
    [
        ({"type": "string", "x-choices-from": "zones"}, "properties.zone.x-choices-from", "is {instances"),
        (
            {"type": "string", "x-choices-from": {"squad_list": "a", "url": "b"}},
            "properties.zone.x-choices-from",
            "is {instances",
        ),
        ({"type": "string", "x-choices-from": {"database": "x"}}, "properties.zone.x-choices-from", "is {"),
        (
            {"type": "string", "x-choices-from": {"squad_list": ""}},
            "properties.zone.x-choices-from.squad_list",
            "names a slug",
        ),
        (
            {"type": "string", "x-choices-from": {"instances": "vlan"}},
            "properties.zone.type",
            "need type integer",
        ),
        (
            {"type": "string", "enum": ["a"], "x-choices-from": {"squad_list": "zones"}},
            "properties.zone.enum",
            "cannot go with x-choices-from",
        ),
        (
            {"type": "string", "x-choices-from": {"url": "https://evil.example/zones"}},
            "properties.zone.x-choices-from.url",
            "evil.example is not a host choices may be fetched from",
        ),
        (
            {"type": "string", "x-choices-from": {"url": "file:///etc/passwd"}},
            "properties.zone.x-choices-from.url",
            "starts with https://",
        ),
        (
            {"type": "boolean", "x-choices-from": {"squad_list": "zones"}},
            "properties.zone.x-choices-from",
            "not",
        ),
    ],
)
def test_a_malformed_extension_is_refused_with_its_place(spec, where, message):
    problems = [str(problem) for problem in form_schema_problems(_form(**spec))]
    assert any(problem.startswith(f"{where}: ") and message in problem for problem in problems), problems


@pytest.mark.django_db
def test_the_model_refuses_an_unknown_list_or_product(product):
    before = product.form_schema
    ProductFactory(slug="plain", instance=False)
    product.form_schema = {
        "type": "object",
        "properties": {
            "zone": {"type": "string", "x-choices-from": {"squad_list": "zones"}},
            "vlan": {"type": "integer", "x-choices-from": {"instances": "plain"}},
        },
    }
    with pytest.raises(ValidationError) as refused:
        product.full_clean()
    assert refused.value.message_dict["form_schema"] == [
        "properties.zone.x-choices-from.squad_list: property 'zone': no choice list 'zones'",
        "properties.vlan.x-choices-from.instances: property 'vlan': "
        "no product 'plain' that creates instances",
    ]
    product.refresh_from_db()
    assert product.form_schema == before


@pytest.mark.django_db
def test_a_squad_list_gives_its_options_with_labels_and_checks_the_value(squad):
    zones = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    ChoiceItem.objects.create(choice_list=zones, value="dmz", label="DMZ", position=1)
    ChoiceItem.objects.create(choice_list=zones, value="office", label="", position=0)
    schema = _form(type="string", **{"x-choices-from": {"squad_list": "zones"}})
    live = live_schema(schema, UserFactory())
    assert live["properties"]["zone"]["enum"] == ["office", "dmz"]
    assert live["properties"]["zone"][LABELS] == ["office", "DMZ"]
    assert schema["properties"]["zone"] == {"type": "string", "x-choices-from": {"squad_list": "zones"}}
    assert validate_inputs(live, {"zone": "dmz"})[1] == {}
    ChoiceItem.objects.filter(value="dmz").delete()
    live = live_schema(schema, UserFactory())
    assert validate_inputs(live, {"zone": "dmz"})[1] == {
        "zone": ["This choice is not available (any more): choose one of the current options."]
    }


@pytest.mark.django_db
def test_a_list_over_the_cap_is_unavailable_rather_than_listed_whole(squad):
    """Any squad's form may choose from a list: one grown past the cap must
    not make every page showing those forms list all its options."""
    zones = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    ChoiceItem.objects.bulk_create(
        ChoiceItem(choice_list=zones, value=f"zone-{number}", position=number)
        for number in range(MAX_CHOICES)
    )
    schema = _form(type="string", **{"x-choices-from": {"squad_list": "zones"}})
    assert len(live_schema(schema, UserFactory())["properties"]["zone"]["enum"]) == MAX_CHOICES

    ChoiceItem.objects.create(choice_list=zones, value="one-too-many", position=MAX_CHOICES)

    spec = live_schema(schema, UserFactory())["properties"]["zone"]
    assert spec["enum"] == []
    assert f"more than {MAX_CHOICES:,} options: its squad must shorten it" in spec[UNAVAILABLE]


@pytest.mark.django_db
def test_the_import_refuses_a_list_over_the_cap_with_its_location(tmp_path: Path):
    options = "".join(f"      - zone-{number}\n" for number in range(MAX_CHOICES + 1))
    text = CATALOGUE.replace("      - {value: dmz, label: DMZ}\n      - office\n", options)
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=StringIO(), stderr=stderr)
    assert f"choice_lists[0].items: has {MAX_CHOICES + 1:,} options; a list has at most {MAX_CHOICES:,}" in (
        stderr.getvalue()
    )
    assert not ChoiceList.objects.exists() and not Product.objects.exists()


CATALOGUE = """
squads:
  - slug: network
    name: Network Squad
    mission: Connectivity
    members: []
products:
  - slug: firewall
    name: Firewall rule
    category: Network
    squad: network
    summary: A rule
    fulfilment: manual
    form:
      type: object
      properties:
        zone: {type: string, x-choices-from: {squad_list: zones}}
        vlan: {type: integer, x-choices-from: {instances: vlan}}
  - slug: vlan
    name: VLAN
    category: Network
    squad: network
    summary: A VLAN
    fulfilment: manual
    instance: true
choice_lists:
  - slug: zones
    name: Firewall zones
    squad: network
    items:
      - {value: dmz, label: DMZ}
      - office
"""


@pytest.mark.django_db
def test_choice_lists_travel_in_the_catalogue_file(tmp_path: Path):
    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    call_command("import_catalogue", str(path), stdout=StringIO(), stderr=StringIO())
    zones = ChoiceList.objects.get(slug="zones")
    assert zones.squad.slug == "network"
    assert list(zones.items.values_list("value", "label", "position")) == [
        ("dmz", "DMZ", 0),
        ("office", "", 1),
    ]
    exported = yaml.safe_load(export_catalogue(output=tmp_path / "out" / "catalogue.yaml").text)
    assert exported["choice_lists"] == [
        {
            "slug": "zones",
            "name": "Firewall zones",
            "squad": "network",
            "items": [{"value": "dmz", "label": "DMZ"}, "office"],
        }
    ]
    # Items become exactly the file's.
    path.write_text(CATALOGUE.replace("      - office\n", "      - internet\n"))
    call_command("import_catalogue", str(path), stdout=StringIO(), stderr=StringIO())
    assert list(zones.items.values_list("value", flat=True)) == ["dmz", "internet"]


@pytest.mark.django_db
def test_renaming_a_list_in_the_file_leaves_its_options_and_their_trail_alone(tmp_path: Path):
    """Only the list's name changed: its options are not written again (a
    1,000-option list would put 2,000 entries on the audit trail)."""
    from portal.audit.models import AuditEntry

    path = tmp_path / "catalogue.yaml"
    path.write_text(CATALOGUE)
    call_command("import_catalogue", str(path), stdout=StringIO(), stderr=StringIO())
    options = list(ChoiceItem.objects.order_by("pk").values_list("pk", "value"))
    entries = AuditEntry.objects.filter(object_type="catalogue.choiceitem").count()

    path.write_text(CATALOGUE.replace("name: Firewall zones", "name: Firewall zones (all sites)"))
    call_command("import_catalogue", str(path), stdout=StringIO(), stderr=StringIO())

    assert ChoiceList.objects.get(slug="zones").name == "Firewall zones (all sites)"
    assert list(ChoiceItem.objects.order_by("pk").values_list("pk", "value")) == options
    assert AuditEntry.objects.filter(object_type="catalogue.choiceitem").count() == entries


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "line", "message"),
    [
        (
            ("{squad_list: zones}", "{squad_list: zonez}"),
            "        zone: {type: string, x-choices-from: {squad_list: zonez}}",
            "products[0].form.properties.zone.x-choices-from.squad_list: "
            "property 'zone': no choice list 'zonez'",
        ),
        (
            ("{instances: vlan}", "{instances: firewall}"),
            "        vlan: {type: integer, x-choices-from: {instances: firewall}}",
            "products[0].form.properties.vlan.x-choices-from.instances: property 'vlan': "
            "no product 'firewall' that creates instances",
        ),
        (
            ("    squad: network\n    items:", "    squad: nobody\n    items:"),
            "    squad: nobody",
            "choice_lists[0].squad: unknown squad 'nobody'",
        ),
    ],
)
def test_the_import_refuses_what_a_form_names_wrongly_with_its_location(
    tmp_path: Path, change, line, message
):
    text = CATALOGUE.replace(*change)
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    stderr = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_catalogue", str(path), stdout=StringIO(), stderr=stderr)
    number = text.splitlines().index(line) + 1
    assert f"{path}:{number}: {message}" in stderr.getvalue()
    assert not Product.objects.exists() and not ChoiceList.objects.exists()


# --- URL sources ---------------------------------------------------------------------


@pytest.fixture
def url_settings(settings):
    settings.SQUADRON_CHOICES_URL_HOSTS = ["127.0.0.1"]
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    settings.SQUADRON_CHOICES_URL_TIMEOUT_SECONDS = 2
    cache.clear()
    yield settings
    cache.clear()


def _url_form(url: str) -> dict:
    return _form(type="string", **{"x-choices-from": {"url": url}})


@pytest.mark.django_db
def test_a_url_source_is_fetched_once_then_read_from_the_cache(url_settings):
    with choices_server() as server:
        schema = _url_form(server.url("/labelled"))
        assert form_schema_problems(schema) == []
        first = live_schema(schema, None)
        second = live_schema(schema, None)
    assert first["properties"]["zone"]["enum"] == ["eu", "us"]
    assert first["properties"]["zone"][LABELS] == ["Europe", "Americas"]
    assert second == first
    assert server.hits == {"/labelled": 1}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/down", "the source answered HTTP 503"),
        ("/broken", "the source did not answer JSON"),
        ("/moved", "the source answered HTTP 302"),
    ],
)
def test_a_url_source_that_cannot_answer_leaves_nothing_to_choose(url_settings, path, reason):
    with choices_server() as server:
        live = live_schema(_url_form(server.url(path)), None)
    spec = live["properties"]["zone"]
    assert spec["enum"] == [] and reason in spec[UNAVAILABLE]
    _, errors = validate_inputs(live, {"zone": "dmz"})
    assert "could not be loaded" in errors["zone"][0] and "cannot be placed" in errors["zone"][0]
    assert server.hits.get("/zones", 0) == 0  # a redirect is not followed


@pytest.mark.django_db
def test_a_source_that_drips_its_answer_is_cut_at_the_timeout_not_at_each_byte(url_settings):
    """Each byte comes within the timeout, the whole answer far past it: a
    page that shows the form waits no longer than the timeout in all."""
    url_settings.SQUADRON_CHOICES_URL_TIMEOUT_SECONDS = 1
    with choices_server() as server:
        spec = live_schema(_url_form(server.url("/drip")), None)["properties"]["zone"]
    assert spec["enum"] == []
    assert "no complete answer within 1 s" in spec[UNAVAILABLE]
    assert server.hits == {"/drip": 1}


@pytest.mark.django_db
def test_a_stale_answer_is_not_used_once_the_source_is_down(url_settings):
    url_settings.SQUADRON_CHOICES_URL_CACHE_SECONDS = 0
    with choices_server() as server:
        url = server.url("/zones")
        assert live_schema(_url_form(url), None)["properties"]["zone"]["enum"] == ["dmz", "office"]
    # The server is gone (its port closed): the choices are unavailable, not the old ones.
    spec = live_schema(_url_form(url), None)["properties"]["zone"]
    assert spec["enum"] == [] and "could not be loaded" in spec[UNAVAILABLE]


def test_the_ssrf_guard_refuses_a_loopback_source_even_when_allow_listed(settings):
    settings.SQUADRON_CHOICES_URL_HOSTS = ["127.0.0.1", "169.254.169.254"]
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = False
    problems = [str(problem) for problem in form_schema_problems(_url_form("http://127.0.0.1:9/zones"))]
    assert problems == [
        "properties.zone.x-choices-from.url: property 'zone': "
        "127.0.0.1 is on a private, loopback or link-local address"
    ]
    # Link-local (a cloud's metadata service) is refused even where private addresses are allowed.
    settings.SQUADRON_WEBHOOK_ALLOW_PRIVATE = True
    assert form_schema_problems(_url_form("http://169.254.169.254/latest/meta-data/"))


@pytest.mark.django_db
def test_a_squad_curates_only_its_own_lists_in_the_admin(client, squad, other_squad, member):
    ours = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    theirs = ChoiceList.objects.create(slug="regions", name="Regions", squad=other_squad)
    client.force_login(member)
    assert client.get(f"/admin/catalogue/choicelist/{ours.pk}/change/").status_code == 200
    listed = client.get("/admin/catalogue/choicelist/").content.decode()
    assert "Zones" in listed and "Regions" not in listed
    response = client.post(
        f"/admin/catalogue/choicelist/{theirs.pk}/change/",
        {
            "name": "Mine now",
            "slug": "regions",
            "squad": squad.pk,
            "items-TOTAL_FORMS": "0",
            "items-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code in (302, 403, 404)
    theirs.refresh_from_db()
    assert theirs.name == "Regions" and theirs.squad == other_squad
    assert SquadFactory  # the base cast's squads come from the factories


@pytest.mark.django_db
def test_a_squad_member_edits_the_options_of_their_list_in_the_admin(client, squad, member):
    """The options are the list's: whoever may change the list changes them
    (a squad member has no Django model permissions of their own)."""
    zones = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    ChoiceItem.objects.create(choice_list=zones, value="dmz", label="DMZ")
    client.force_login(member)
    page = client.get(f"/admin/catalogue/choicelist/{zones.pk}/change/").content.decode()
    assert 'name="items-TOTAL_FORMS"' in page and 'value="dmz"' in page

    dmz = zones.items.get()
    response = client.post(
        f"/admin/catalogue/choicelist/{zones.pk}/change/",
        {
            "name": "Zones",
            "slug": "zones",
            "squad": squad.pk,
            "description": "",
            "items-TOTAL_FORMS": "2",
            "items-INITIAL_FORMS": "1",
            "items-0-id": dmz.pk,
            "items-0-choice_list": zones.pk,
            "items-0-position": "0",
            "items-0-value": "dmz",
            "items-0-label": "Demilitarised zone",
            "items-1-choice_list": zones.pk,
            "items-1-position": "1",
            "items-1-value": "office",
            "items-1-label": "",
        },
    )

    assert response.status_code == 302
    assert list(zones.items.values_list("value", "label")) == [("dmz", "Demilitarised zone"), ("office", "")]


@pytest.mark.django_db
def test_the_admin_refuses_a_list_over_the_cap_even_from_a_crafted_post(client, squad, member, settings):
    # Django's own limit on a request's fields would refuse this first (3,000
    # fields): lifted here, the formset's cap must still hold.
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = None
    zones = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    client.force_login(member)
    count = MAX_CHOICES + 1
    data = {"name": "Zones", "slug": "zones", "squad": squad.pk, "description": ""}
    data |= {"items-TOTAL_FORMS": str(count), "items-INITIAL_FORMS": "0", "items-MAX_NUM_FORMS": "1000"}
    for number in range(count):
        data |= {f"items-{number}-position": str(number), f"items-{number}-value": f"zone-{number}"}

    response = client.post(f"/admin/catalogue/choicelist/{zones.pk}/change/", data)

    assert response.status_code == 200
    assert f"Please submit at most {MAX_CHOICES} forms" in response.content.decode()
    assert not zones.items.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "message"),
    [
        (
            {"type": "string", "x-choices-from": {"squad_list": "nowhere"}},
            "properties.zone.x-choices-from.squad_list: property 'zone': no choice list 'nowhere'",
        ),
        (
            {"type": "string", "x-choices-from": {"url": "https://evil.example/zones"}},
            "properties.zone.x-choices-from.url: property 'zone': evil.example is not a host",
        ),
    ],
)
def test_the_admin_refuses_a_form_naming_a_wrong_source_on_the_schema_field(
    member_client, product, field, message
):
    schema = {"type": "object", "properties": {"zone": field}}
    response = member_client.post(
        admin_url(Product, "change", product.pk), product_data(product, form_schema=json.dumps(schema))
    )
    assert response.status_code == 200
    assert message in field_errors(response, "form_schema")
    product.refresh_from_db()
    assert product.version == 1 and "zone" not in product.form_schema["properties"]


@pytest.fixture
def named_zones(squad, other_squad, database):
    """Our squad's list of zones, which another squad's product and one of
    our database's operations take their choices from."""
    zones = ChoiceList.objects.create(slug="zones", name="Zones", squad=squad)
    ChoiceItem.objects.create(choice_list=zones, value="dmz", label="DMZ")
    ProductFactory(
        slug="firewall-rule",
        name="Firewall rule change",
        squad=other_squad,
        form_schema=_form(type="string", **{"x-choices-from": {"squad_list": "zones"}}),
    )
    resize = database.operations.get(slug="resize")
    resize.form_schema = {
        **resize.form_schema,
        "properties": {
            **resize.form_schema["properties"],
            "zone": {"type": "string", "x-choices-from": {"squad_list": "zones"}},
        },
    }
    resize.save()
    return zones


NAMED_BY = (
    "Product &#x27;Firewall rule change&#x27; (firewall-rule) of Compute Squad: "
    "field &#x27;zone&#x27; chooses from &#x27;zones&#x27;",
    "Operation &#x27;Resize&#x27; (resize) of product &#x27;PostgreSQL database&#x27; (postgres) "
    "of Network Squad: field &#x27;zone&#x27; chooses from &#x27;zones&#x27;",
)


def _unchanged(zones: ChoiceList) -> None:
    stored = ChoiceList.objects.get(pk=zones.pk)
    assert (stored.slug, stored.name) == ("zones", "Zones")
    assert list(stored.items.values_list("value", "label")) == [("dmz", "DMZ")]


@pytest.mark.django_db
def test_a_list_forms_name_cannot_be_deleted_in_the_admin_and_the_page_says_which(member_client, named_zones):
    url = admin_url(ChoiceList, "delete", named_zones.pk)
    page = member_client.get(url).content.decode()
    assert "protected" in page and all(named in page for named in NAMED_BY)

    response = member_client.post(url, {"post": "yes"})
    assert response.status_code == 200
    assert all(named in response.content.decode() for named in NAMED_BY)
    _unchanged(named_zones)


@pytest.mark.django_db
def test_a_list_forms_name_cannot_be_deleted_by_the_admin_action(member_client, named_zones):
    spare = ChoiceList.objects.create(slug="spare", name="Spare", squad=named_zones.squad)
    response = member_client.post(
        admin_url(ChoiceList, "changelist"),
        {"action": "delete_selected", "_selected_action": [named_zones.pk, spare.pk], "post": "yes"},
    )
    assert response.status_code == 200
    assert all(named in response.content.decode() for named in NAMED_BY)
    _unchanged(named_zones)
    assert ChoiceList.objects.filter(pk=spare.pk).exists()


@pytest.mark.django_db
def test_a_list_no_form_names_is_deleted_in_the_admin(member_client, named_zones):
    spare = ChoiceList.objects.create(slug="spare", name="Spare", squad=named_zones.squad)
    ChoiceItem.objects.create(choice_list=spare, value="x")
    response = member_client.post(admin_url(ChoiceList, "delete", spare.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not ChoiceList.objects.filter(pk=spare.pk).exists()
    assert not ChoiceItem.objects.filter(value="x").exists()
    _unchanged(named_zones)


def _list_data(choice_list: ChoiceList, **changes: object) -> dict[str, object]:
    items = list(choice_list.items.all())
    data: dict[str, object] = {
        "name": choice_list.name,
        "slug": choice_list.slug,
        "squad": choice_list.squad_id,
        "description": choice_list.description,
        "items-TOTAL_FORMS": str(len(items)),
        "items-INITIAL_FORMS": str(len(items)),
    }
    for index, item in enumerate(items):
        data.update(
            {
                f"items-{index}-id": item.pk,
                f"items-{index}-choice_list": choice_list.pk,
                f"items-{index}-position": item.position,
                f"items-{index}-value": item.value,
                f"items-{index}-label": item.label,
            }
        )
    data.update(changes)
    return data


@pytest.mark.django_db
def test_a_list_forms_name_keeps_its_slug_in_the_admin(member_client, named_zones):
    url = admin_url(ChoiceList, "change", named_zones.pk)
    response = member_client.post(url, _list_data(named_zones, slug="zones-eu", name="EU zones"))
    assert response.status_code == 200
    errors = field_errors(response, "slug")
    assert errors.startswith("Forms name this list by its slug 'zones': ")
    assert "product 'Firewall rule change' (firewall-rule) of Compute Squad" in errors
    _unchanged(named_zones)

    response = member_client.post(url, _list_data(named_zones, name="EU zones"))
    assert response.status_code == 302
    named_zones.refresh_from_db()
    assert (named_zones.slug, named_zones.name) == ("zones", "EU zones")


@pytest.mark.django_db
def test_deleting_lists_one_of_which_a_form_names_deletes_none(named_zones):
    spare = ChoiceList.objects.create(slug="spare", name="Spare", squad=named_zones.squad)
    with pytest.raises(CatalogueError) as refused:
        choice_lists_delete(choice_lists=[spare, named_zones])
    assert str(refused.value) == (
        "Forms take their choices from these lists: product 'Firewall rule change' (firewall-rule) "
        "of Compute Squad: field 'zone' chooses from 'zones'; operation 'Resize' (resize) of product "
        "'PostgreSQL database' (postgres) of Network Squad: field 'zone' chooses from 'zones'. "
        "Change those forms first."
    )
    _unchanged(named_zones)
    assert ChoiceList.objects.filter(pk=spare.pk).exists()
