"""Who may do what in the admin: ownership decides, through real requests.

Roles: a member of the owning squad, a member of another squad, an outsider
without squad, a superuser and an anonymous visitor. Every refused attempt
asserts that the database is unchanged, not only the status code.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from catalogue.choices import ProductStatus
from catalogue.models import Category, Product
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import credential_set_secrets
from squads.choices import Role
from squads.models import Chapter, Membership, Squad
from tests.factories import (
    PLAYBOOK,
    CategoryFactory,
    ChapterFactory,
    CredentialFactory,
    MembershipFactory,
    ProductFactory,
    RunbookFactory,
    UserFactory,
)

ROLES = ("member", "other_member", "outsider", "admin_user", "anonymous")
#: Roles that may curate what the owning squad ("network") owns.
CURATORS = {"member", "admin_user"}
LOGIN_URL = "/admin/login/"


# --- Fixtures -------------------------------------------------------------
@pytest.fixture
def category(db: None) -> Category:
    return CategoryFactory(slug="network", name="Network")


@pytest.fixture
def runbook(squad: Squad) -> Runbook:
    return RunbookFactory(squad=squad, slug="create-vlan", name="Create VLAN")


@pytest.fixture
def other_runbook(other_squad: Squad) -> Runbook:
    return RunbookFactory(squad=other_squad, slug="create-vm", name="Create VM")


@pytest.fixture
def product(squad: Squad, runbook: Runbook, category: Category) -> Product:
    return ProductFactory(
        squad=squad, runbook=runbook, category=category, slug="vlan", name="New VLAN", status="draft"
    )


@pytest.fixture
def other_product(other_squad: Squad, other_runbook: Runbook, category: Category) -> Product:
    return ProductFactory(
        squad=other_squad, runbook=other_runbook, category=category, slug="vm", name="New VM"
    )


@pytest.fixture
def credential(squad: Squad) -> Credential:
    credential = CredentialFactory(squad=squad, slug="switch-token", name="Switch token", kind="token_env")
    credential_set_secrets(credential=credential, secrets={"env": {"SWITCH_TOKEN": "s3cr3t-network"}})
    return credential


@pytest.fixture
def other_credential(other_squad: Squad) -> Credential:
    credential = CredentialFactory(squad=other_squad, slug="vcenter", name="vCenter", kind="token_env")
    credential_set_secrets(credential=credential, secrets={"env": {"VCENTER_TOKEN": "s3cr3t-compute"}})
    return credential


@pytest.fixture
def two_squad_member(squad: Squad, other_squad: Squad) -> AbstractBaseUser:
    user = UserFactory(username="tess")
    MembershipFactory(user=user, squad=squad, role=Role.ENGINEER)
    MembershipFactory(user=user, squad=other_squad, role=Role.ENGINEER)
    return user


@pytest.fixture
def staff_outsider(db: None) -> AbstractBaseUser:
    return UserFactory(username="stan", is_staff=True)


@pytest.fixture(params=ROLES)
def role(request: pytest.FixtureRequest, client: Client) -> str:
    """Logs ``client`` in as the role (or not at all for anonymous)."""
    if request.param != "anonymous":
        client.force_login(request.getfixturevalue(request.param))
    return request.param


# --- Helpers --------------------------------------------------------------
def admin_url(model: type[Model], view: str, *args: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def snapshot(obj: Model) -> dict[str, Any]:
    """Every stored column of ``obj`` (including ``updated_at``, so even a
    save that changes nothing visible shows) and its many-to-many ids."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    values: dict[str, Any] = {
        field.attname: getattr(fresh, field.attname) for field in fresh._meta.concrete_fields
    }
    for field in fresh._meta.many_to_many:
        values[field.name] = sorted(getattr(fresh, field.name).values_list("pk", flat=True))
    return values


def product_data(product: Product, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``product`` as a browser would post it."""
    data: dict[str, Any] = {
        "name": product.name,
        "slug": product.slug,
        "squad": product.squad_id,
        "category": product.category_id,
        "summary": product.summary,
        "description": product.description,
        "tags": product.tags,
        "fulfilment": product.fulfilment,
        "runbook": product.runbook_id or "",
        "approval_policy": product.approval_policy,
        "approval_remind_after_hours": 24,
        "approval_escalate_after_hours": 72,
        "approval_steps-TOTAL_FORMS": "0",
        "approval_steps-INITIAL_FORMS": "0",
        "sla_minutes": product.sla_minutes,
        "unit_cost": product.unit_cost if product.unit_cost is not None else "",
        "form_schema": json.dumps(product.form_schema),
        "depends_on": [dependency.pk for dependency in product.depends_on.all()],
        "_save": "Save",
    }
    data.update(changes)
    return data


def runbook_data(runbook: Runbook, **changes: Any) -> dict[str, Any]:
    """The admin change form of ``runbook`` (with the versions inline's empty
    management form, as the inline is read-only)."""
    data: dict[str, Any] = {
        "name": runbook.name,
        "slug": runbook.slug,
        "squad": runbook.squad_id,
        "description": runbook.description,
        "timeout": runbook.timeout,
        "queue": runbook.queue,
        "network": runbook.network,
        "credentials": [credential.pk for credential in runbook.credentials.all()],
        "playbook": runbook.playbook,
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    data.update(changes)
    return data


def assert_sent_to_login(response: Any) -> None:
    assert response.status_code == 302
    assert response.url.startswith(LOGIN_URL)


def assert_refused(response: Any, role: str) -> None:
    """How Django's admin refuses: anonymous and squadless users go to the
    login page; a member of another squad is told the object does not exist
    (it is outside their queryset), which reveals nothing about it."""
    if role in ("anonymous", "outsider"):
        assert_sent_to_login(response)
    else:
        assert response.status_code == 302
        assert response.url == reverse("admin:index")


def field_errors(response: Any, field: str) -> str:
    """The error messages the admin form shows on ``field``, as plain text."""
    return " ".join(response.context["adminform"].form.errors.get(field, []))


def changelist_objects(response: Any) -> list[Model]:
    return list(response.context["cl"].result_list)


# --- Products: the permission matrix ------------------------------------------
def test_product_changelist_shows_only_what_the_role_may_curate(
    client: Client, role: str, product: Product, other_product: Product
) -> None:
    response = client.get(admin_url(Product, "changelist"))

    if role in ("anonymous", "outsider"):
        assert_sent_to_login(response)
        return
    assert response.status_code == 200
    shown = changelist_objects(response)
    assert (product in shown) == (role in CURATORS)
    assert (other_product in shown) == (role in ("other_member", "admin_user"))


def test_product_change_page_opens_only_for_curators(client: Client, role: str, product: Product) -> None:
    response = client.get(admin_url(Product, "change", product.pk))

    if role in CURATORS:
        assert response.status_code == 200
        assert response.context["has_change_permission"]
    else:
        assert_refused(response, role)


def test_product_change_post_saves_only_for_curators(client: Client, role: str, product: Product) -> None:
    before = snapshot(product)

    response = client.post(admin_url(Product, "change", product.pk), product_data(product, name="Renamed"))

    if role in CURATORS:
        assert response.status_code == 302, response.context["adminform"].form.errors
        assert Product.objects.get(pk=product.pk).name == "Renamed"
    else:
        assert_refused(response, role)
        assert snapshot(product) == before


def test_product_delete_only_for_curators(client: Client, role: str, product: Product) -> None:
    before = snapshot(product)

    response = client.post(admin_url(Product, "delete", product.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Product.objects.filter(pk=product.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(product) == before


def test_publish_action_with_forged_selection_changes_nothing_for_non_curators(
    client: Client, role: str, product: Product
) -> None:
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "changelist"),
        {"action": "publish_selected", "_selected_action": [product.pk], "index": "0"},
    )

    if role in CURATORS:
        assert Product.objects.get(pk=product.pk).status == ProductStatus.PUBLISHED
    else:
        if role in ("anonymous", "outsider"):
            assert_sent_to_login(response)
        assert snapshot(product) == before


# --- Products: forged forms -------------------------------------------------------
def test_member_cannot_assign_product_to_foreign_squad(
    client: Client, member: Any, product: Product, other_squad: Squad
) -> None:
    client.force_login(member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "squad")
    assert snapshot(product) == before


def test_member_cannot_add_product_to_foreign_squad(
    client: Client, member: Any, product: Product, other_squad: Squad
) -> None:
    client.force_login(member)
    data = product_data(product, slug="sneaky", name="Sneaky", squad=other_squad.pk, runbook="")
    count = Product.objects.count()

    response = client.post(admin_url(Product, "add"), data)

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Product.objects.count() == count
    assert not Product.objects.filter(slug="sneaky").exists()


def test_member_cannot_pick_another_squads_runbook_for_own_product(
    client: Client, member: Any, product: Product, other_runbook: Runbook
) -> None:
    client.force_login(member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, runbook=other_runbook.pk)
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "runbook")
    assert snapshot(product) == before


def test_member_of_two_squads_cannot_run_a_product_on_the_other_squads_runbook(
    client: Client, two_squad_member: Any, product: Product, other_runbook: Runbook
) -> None:
    # Both runbooks are offered to this user, so the model rule must refuse.
    client.force_login(two_squad_member)
    before = snapshot(product)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, runbook=other_runbook.pk)
    )

    assert response.status_code == 200
    assert "belongs to another squad" in field_errors(response, "runbook")
    assert snapshot(product) == before


def test_member_is_offered_only_own_squads_and_runbooks(
    client: Client, member: Any, product: Product, other_runbook: Runbook, squad: Squad
) -> None:
    client.force_login(member)

    response = client.get(admin_url(Product, "add"))

    form = response.context["adminform"].form
    assert list(form.fields["squad"].queryset) == [squad]
    assert list(form.fields["runbook"].queryset) == [product.runbook]
    # The only squad is preselected.
    assert form.initial["squad"] == squad.pk


def test_member_may_depend_on_another_squads_product(
    client: Client, member: Any, product: Product, other_product: Product
) -> None:
    client.force_login(member)

    response = client.post(
        admin_url(Product, "change", product.pk), product_data(product, depends_on=[other_product.pk])
    )

    assert response.status_code == 302
    assert list(Product.objects.get(pk=product.pk).depends_on.all()) == [other_product]


# --- Runbooks -----------------------------------------------------------------
def test_runbook_change_post_saves_only_for_curators(client: Client, role: str, runbook: Runbook) -> None:
    before = snapshot(runbook)
    versions = RunbookVersion.objects.count()

    response = client.post(
        admin_url(Runbook, "change", runbook.pk),
        runbook_data(runbook, name="Renamed", playbook=PLAYBOOK.replace("hello", "changed")),
    )

    if role in CURATORS:
        assert response.status_code == 302
        assert Runbook.objects.get(pk=runbook.pk).name == "Renamed"
        assert RunbookVersion.objects.count() == versions + 1
    else:
        assert_refused(response, role)
        assert snapshot(runbook) == before
        assert RunbookVersion.objects.count() == versions


def test_member_cannot_attach_forged_credential_of_another_squad_to_own_runbook(
    client: Client, member: Any, runbook: Runbook, other_credential: Credential
) -> None:
    client.force_login(member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, credentials=[other_credential.pk])
    )

    assert response.status_code == 200
    assert "Select a valid choice" in field_errors(response, "credentials")
    assert snapshot(runbook) == before


def test_member_of_two_squads_cannot_give_a_runbook_the_other_squads_credential(
    client: Client, two_squad_member: Any, runbook: Runbook, other_credential: Credential
) -> None:
    client.force_login(two_squad_member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, credentials=[other_credential.pk])
    )

    assert response.status_code == 200
    errors = field_errors(response, "credentials")
    assert "only its own squad's credentials" in errors
    assert snapshot(runbook) == before


def test_member_cannot_move_runbook_to_foreign_squad(
    client: Client, member: Any, runbook: Runbook, other_squad: Squad
) -> None:
    client.force_login(member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert snapshot(runbook) == before


def test_runbook_used_by_products_cannot_move_to_a_squad_that_does_not_own_them(
    client: Client, two_squad_member: Any, product: Product, runbook: Runbook, other_squad: Squad
) -> None:
    client.force_login(two_squad_member)
    before = snapshot(runbook)

    response = client.post(
        admin_url(Runbook, "change", runbook.pk), runbook_data(runbook, squad=other_squad.pk)
    )

    assert response.status_code == 200
    assert "New VLAN" in field_errors(response, "squad")
    assert snapshot(runbook) == before


def test_member_cannot_add_runbook_to_foreign_squad(client: Client, member: Any, other_squad: Squad) -> None:
    client.force_login(member)
    count = Runbook.objects.count()

    response = client.post(
        admin_url(Runbook, "add"),
        {
            "name": "Sneaky",
            "slug": "sneaky",
            "squad": other_squad.pk,
            "timeout": 60,
            "playbook": PLAYBOOK,
            "versions-TOTAL_FORMS": "0",
            "versions-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Runbook.objects.count() == count
    assert not RunbookVersion.objects.filter(runbook__slug="sneaky").exists()


def test_runbook_delete_only_for_curators(client: Client, role: str, squad: Squad) -> None:
    # A runbook without playbook yet: deleting one with versions is blocked by
    # the PROTECT on ``Runbook.current_version`` (reported to the lead).
    runbook = Runbook.objects.create(slug="draft-runbook", name="Draft runbook", squad=squad)
    before = snapshot(runbook)

    response = client.post(admin_url(Runbook, "delete", runbook.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Runbook.objects.filter(pk=runbook.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(runbook) == before


# --- Runbook versions: read-only for everybody ----------------------------------
def test_version_page_opens_read_only_for_curators(client: Client, role: str, runbook: Runbook) -> None:
    version = runbook.current_version

    response = client.get(admin_url(RunbookVersion, "change", version.pk))

    if role in CURATORS:
        assert response.status_code == 200
        assert not response.context["has_change_permission"]
        assert "Say hello" in response.content.decode()
    else:
        assert_refused(response, role)


@pytest.mark.parametrize("user_fixture", ["member", "admin_user"])
def test_nobody_can_change_add_or_delete_a_version(
    client: Client, request: pytest.FixtureRequest, user_fixture: str, runbook: Runbook
) -> None:
    client.force_login(request.getfixturevalue(user_fixture))
    version = runbook.current_version
    before = snapshot(version)

    changed = client.post(
        admin_url(RunbookVersion, "change", version.pk),
        {"content": "- hosts: all\n", "checksum": "0" * 64, "number": 7},
    )
    deleted = client.post(admin_url(RunbookVersion, "delete", version.pk), {"post": "yes"})
    added = client.post(admin_url(RunbookVersion, "add"), {"runbook": runbook.pk, "number": 9})

    assert (changed.status_code, deleted.status_code, added.status_code) == (403, 403, 403)
    assert snapshot(version) == before
    assert RunbookVersion.objects.count() == 1


def test_version_changelist_lists_only_own_squads_versions(
    client: Client, member: Any, runbook: Runbook, other_runbook: Runbook
) -> None:
    client.force_login(member)

    response = client.get(admin_url(RunbookVersion, "changelist"))

    assert changelist_objects(response) == [runbook.current_version]


# --- Credentials ---------------------------------------------------------------
def test_credential_change_page_opens_only_for_curators(
    client: Client, role: str, credential: Credential
) -> None:
    response = client.get(admin_url(Credential, "change", credential.pk))

    if role in CURATORS:
        assert response.status_code == 200
    else:
        assert_refused(response, role)


def test_credential_secret_cannot_be_replaced_by_non_curators(
    client: Client, role: str, credential: Credential
) -> None:
    before = snapshot(credential)

    response = client.post(
        admin_url(Credential, "change", credential.pk),
        {
            "name": credential.name,
            "slug": credential.slug,
            "squad": credential.squad_id,
            "username": "",
            "env": "SWITCH_TOKEN=replaced",
        },
    )

    if role in CURATORS:
        assert response.status_code == 302
        assert Credential.objects.get(pk=credential.pk).secrets() == {"env": {"SWITCH_TOKEN": "replaced"}}
    else:
        assert_refused(response, role)
        assert snapshot(credential) == before


def test_credential_delete_only_for_curators(client: Client, role: str, credential: Credential) -> None:
    before = snapshot(credential)

    response = client.post(admin_url(Credential, "delete", credential.pk), {"post": "yes"})

    if role in CURATORS:
        assert response.status_code == 302
        assert not Credential.objects.filter(pk=credential.pk).exists()
    else:
        assert_refused(response, role)
        assert snapshot(credential) == before


def test_member_cannot_create_credential_for_foreign_squad(
    client: Client, member: Any, other_squad: Squad
) -> None:
    client.force_login(member)
    count = Credential.objects.count()

    response = client.post(
        admin_url(Credential, "add"),
        {"name": "Sneaky", "slug": "sneaky", "squad": other_squad.pk, "kind": "token_env", "env": "A=b"},
    )

    assert response.status_code == 200
    assert "squad" in response.context["adminform"].form.errors
    assert Credential.objects.count() == count


def test_credential_used_by_runbooks_cannot_move_to_another_squad(
    client: Client, two_squad_member: Any, runbook: Runbook, credential: Credential, other_squad: Squad
) -> None:
    runbook.credentials.add(credential)
    client.force_login(two_squad_member)
    before = snapshot(credential)

    response = client.post(
        admin_url(Credential, "change", credential.pk),
        {
            "name": credential.name,
            "slug": credential.slug,
            "squad": other_squad.pk,
            "username": "",
            "env": "",
        },
    )

    assert response.status_code == 200
    assert "Create VLAN" in field_errors(response, "squad")
    assert snapshot(credential) == before


# --- Squads, memberships, chapters, categories ----------------------------------
def test_member_views_own_squad_read_only(client: Client, member: Any, squad: Squad) -> None:
    client.force_login(member)

    response = client.get(admin_url(Squad, "change", squad.pk))

    assert response.status_code == 200
    assert not response.context["has_change_permission"]
    # The members inline is there, read-only.
    (memberships,) = response.context["inline_admin_formsets"]
    assert [form.original.user.username for form in memberships] == ["nora"]
    assert not memberships.has_change_permission
    assert not memberships.has_add_permission


def test_member_cannot_change_own_squad(client: Client, member: Any, squad: Squad) -> None:
    client.force_login(member)
    before = snapshot(squad)

    response = client.post(
        admin_url(Squad, "change", squad.pk),
        {
            "name": "Hijacked",
            "slug": squad.slug,
            "mission": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 403
    assert snapshot(squad) == before


def test_member_cannot_see_another_squad(client: Client, member: Any, other_squad: Squad) -> None:
    client.force_login(member)

    response = client.get(admin_url(Squad, "change", other_squad.pk))

    assert response.status_code == 302
    assert response.url == reverse("admin:index")


def test_member_cannot_join_another_squad_through_the_admin(
    client: Client, member: Any, other_squad: Squad
) -> None:
    client.force_login(member)
    memberships = Membership.objects.count()

    through_membership_admin = client.post(
        admin_url(Membership, "add"), {"user": member.pk, "squad": other_squad.pk, "role": "engineer"}
    )
    through_squad_inline = client.post(
        admin_url(Squad, "change", other_squad.pk),
        {
            "name": other_squad.name,
            "slug": other_squad.slug,
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": member.pk,
            "memberships-0-role": "engineer",
        },
    )

    assert (through_membership_admin.status_code, through_squad_inline.status_code) == (403, 403)
    assert Membership.objects.count() == memberships
    assert not Membership.objects.filter(user=member, squad=other_squad).exists()


def test_member_cannot_enter_membership_or_chapter_admin(client: Client, member: Any) -> None:
    ChapterFactory(slug="network-engineering")
    client.force_login(member)

    responses = [
        client.get(admin_url(Membership, "changelist")),
        client.get(admin_url(Chapter, "changelist")),
        client.post(admin_url(Chapter, "add"), {"name": "Mine", "slug": "mine"}),
    ]

    assert [response.status_code for response in responses] == [403, 403, 403]
    assert Chapter.objects.count() == 1


def test_admin_index_lists_only_what_a_member_may_use(client: Client, member: Any) -> None:
    client.force_login(member)

    response = client.get(reverse("admin:index"))

    models = {model["object_name"] for app in response.context["app_list"] for model in app["models"]}
    assert models == {"Product", "Category", "Runbook", "RunbookVersion", "Credential", "Squad", "DebtItem"}


def test_superuser_manages_memberships(client: Client, admin_user: Any, other_squad: Squad) -> None:
    client.force_login(admin_user)
    newcomer = UserFactory(username="nina")

    response = client.post(
        admin_url(Membership, "add"), {"user": newcomer.pk, "squad": other_squad.pk, "role": "sme"}
    )

    assert response.status_code == 302
    assert Membership.objects.filter(user=newcomer, squad=other_squad, role="sme").exists()


def test_member_views_categories_but_cannot_change_them(
    client: Client, member: Any, category: Category
) -> None:
    client.force_login(member)
    before = snapshot(category)
    count = Category.objects.count()

    viewed = client.get(admin_url(Category, "change", category.pk))
    changed = client.post(admin_url(Category, "change", category.pk), {"name": "Mine", "slug": "mine"})
    added = client.post(admin_url(Category, "add"), {"name": "Mine", "slug": "mine", "position": 0})
    deleted = client.post(admin_url(Category, "delete", category.pk), {"post": "yes"})

    assert viewed.status_code == 200
    assert (changed.status_code, added.status_code, deleted.status_code) == (403, 403, 403)
    assert snapshot(category) == before
    assert Category.objects.count() == count


# --- Users who are neither member nor superuser ------------------------------------
def test_staff_without_squad_sees_nothing_of_the_squads(
    client: Client, staff_outsider: Any, product: Product, runbook: Runbook, credential: Credential
) -> None:
    # Staff may enter the site (for whatever Django model permissions grant),
    # but ownership rules the Squadron models: no squad, nothing to curate.
    client.force_login(staff_outsider)
    before = snapshot(product)

    index = client.get(reverse("admin:index"))
    pages = [
        client.get(admin_url(Product, "changelist")),
        client.get(admin_url(Runbook, "changelist")),
        client.get(admin_url(Credential, "changelist")),
        client.post(admin_url(Product, "change", product.pk), product_data(product, name="Renamed")),
    ]

    assert index.status_code == 200
    assert index.context["app_list"] == []
    assert [page.status_code for page in pages] == [403, 403, 403, 403]
    assert snapshot(product) == before


def test_inactive_member_is_refused(client: Client, member: Any, product: Product) -> None:
    member.is_active = False
    member.save()
    client.force_login(member)
    before = snapshot(product)

    response = client.post(admin_url(Product, "change", product.pk), product_data(product, name="Renamed"))

    assert_sent_to_login(response)
    assert snapshot(product) == before


# --- Cost of the list pages --------------------------------------------------------
def test_product_changelist_query_count_does_not_grow_with_products(
    client: Client, member: Any, squad: Squad, category: Category, django_assert_max_num_queries: Any
) -> None:
    runbook = RunbookFactory(squad=squad)
    for number in range(15):
        ProductFactory(squad=squad, category=category, runbook=runbook, slug=f"p-{number}")
    client.force_login(member)

    with django_assert_max_num_queries(12):
        response = client.get(admin_url(Product, "changelist"))

    assert len(changelist_objects(response)) == 15


@pytest.mark.django_db
def test_squad_members_log_in_on_the_admins_own_login_page(client: Client, squad: Squad) -> None:
    """Squad members are not staff: Django's admin login form would refuse
    them although the admin admits them."""
    member = MembershipFactory(user=UserFactory(username="nora"), squad=squad, role=Role.ENGINEER).user
    member.set_password("curate-it-1")
    member.save()
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "nora", "password": "curate-it-1", "next": "/admin/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_the_admin_login_refuses_people_in_no_squad_and_says_why(client: Client) -> None:
    outsider = UserFactory(username="bea")
    outsider.set_password("order-it-1")
    outsider.save()
    response = client.post("/admin/login/", {"username": "bea", "password": "order-it-1"})
    assert response.status_code == 200
    assert "This account is in no squad" in response.content.decode()
    assert "_auth_user_id" not in client.session
