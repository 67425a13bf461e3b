"""What an instance depends on, as its runbooks report it
(``squadron.instance.depends_on``): recorded only for instances the order's
requester may see that are still in service, replaced by a later report,
every id left out said in the run's log; and each viewer sees the other
side of a dependency by name only if they may see it."""

from __future__ import annotations

import pytest

from portal.instances.choices import InstanceState
from portal.instances.dependencies import instance_dependencies, instance_dependents
from portal.instances.models import InstanceDependency, ServiceInstance
from portal.instances.services import operation_order
from portal.orders.choices import OrderStatus
from portal.orders.models import Order
from portal.orders.submission import order_submit
from runbooks.choices import RunStatus
from runbooks.models import RunEvent
from squads.choices import Role
from tests.factories import MembershipFactory, SquadFactory, UserFactory
from tests.instances import create, create_app, depending, make_app, play, reporting

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(other_squad):
    return make_app(other_squad)


def recorded(instance: ServiceInstance) -> list[int]:
    return sorted(
        InstanceDependency.objects.filter(instance=instance).values_list("depends_on_id", flat=True)
    )


def report_log(order: Order) -> list[str]:
    order = Order.objects.get(pk=order.pk)
    return list(
        RunEvent.objects.filter(run=order.current_run, event="squadron_report")
        .order_by("counter")
        .values_list("stdout", flat=True)
    )


def decommission(instance: ServiceInstance, actor) -> None:
    delete = instance.product.operations.get(kind="delete")
    play(operation_order(actor=actor, instance=instance, operation=delete.slug, inputs={}))
    assert ServiceInstance.objects.get(pk=instance.pk).state == InstanceState.DECOMMISSIONED


def test_a_reported_dependency_is_recorded_with_the_order_that_reported_it(database, app, requester):
    orders_db = create(database, requester)
    server = create_app(app, requester, orders_db.pk)

    dependency = InstanceDependency.objects.get()
    assert (dependency.instance, dependency.depends_on) == (server, orders_db)
    assert dependency.source == server.created_by_order
    assert report_log(server.created_by_order) == [
        f"Squadron recorded on the instance: name 'app', depends on 1 instance(s) (#{orders_db.pk})."
    ]


def test_ids_as_text_count_and_each_id_is_recorded_once(database, app, requester):
    """Ansible versions that render templates to text report "12", not 12."""
    first, second = create(database, requester), create(database, requester)
    server = create_app(app, requester, str(first.pk), second.pk, first.pk)
    assert recorded(server) == sorted([first.pk, second.pk])


def test_ids_that_may_not_be_recorded_are_left_out_and_the_log_says_which(database, app, requester):
    mine = create(database, requester)
    olgas = create(database, UserFactory(username="olga"), reported=reporting("olgas-db"))
    gone = create(database, requester, reported=reporting("gone-db"))
    decommission(gone, requester)
    unknown = ServiceInstance.objects.order_by("-pk").first().pk + 1000

    order = order_submit(requester=requester, product=app, inputs={"app_name": "billing"})
    finished = play(order, reported=depending(mine.pk, olgas.pk, unknown, gone.pk, "db-1", True, 0, [1]))

    assert finished.status == OrderStatus.SUCCEEDED, "a report never fails the order"
    server = ServiceInstance.objects.get(created_by_order=order)
    assert recorded(server) == [mine.pk]
    log = report_log(order)
    assert log[0] == f"Squadron recorded on the instance: depends on 1 instance(s) (#{mine.pk})."
    sees_none = "the order's requester sees no instance with this id"
    assert set(log[1:]) == {
        f"Dependency #{olgas.pk} ignored: {sees_none}.",
        f"Dependency #{unknown} ignored: {sees_none}.",
        f"Dependency #{gone.pk} ignored: that instance is decommissioned.",
        "Dependency 'db-1' ignored: an instance id is a whole number.",
        "Dependency 'True' ignored: an instance id is a whole number.",
        "Dependency '0' ignored: an instance id is a whole number.",
        "Dependency '[1]' ignored: an instance id is a whole number.",
    }
    assert "olgas-db" not in "\n".join(log), "an instance the requester may not see is never named"


def test_an_instance_cannot_depend_on_itself(database, requester):
    orders_db = create(database, requester)
    order = operation_order(actor=requester, instance=orders_db, operation="resize", inputs={"size_gb": 40})
    play(order, reported=depending(orders_db.pk))
    assert recorded(orders_db) == []
    assert f"Dependency #{orders_db.pk} ignored: an instance cannot depend on itself." in report_log(order)


@pytest.mark.parametrize(
    ("depends_on", "says"),
    [
        ("42", "depends_on must be a list of instance ids; it was ignored."),
        ({"id": 42}, "depends_on must be a list of instance ids; it was ignored."),
        (list(range(1, 60)), "More than 50 dependencies: the rest were ignored."),
    ],
)
def test_a_malformed_depends_on_records_nothing_and_the_order_still_succeeds(
    database, app, requester, depends_on, says
):
    order = order_submit(requester=requester, product=app, inputs={})
    finished = play(order, reported={"squadron": {"instance": {"depends_on": depends_on}}})
    assert finished.status == OrderStatus.SUCCEEDED
    assert not InstanceDependency.objects.exists()
    assert says in report_log(order)


def test_a_later_report_replaces_them_a_report_without_them_keeps_them_and_an_empty_list_clears_them(
    database, app, requester
):
    first, second = create(database, requester), create(database, requester)
    server = create_app(app, requester, first.pk)

    play(
        operation_order(actor=requester, instance=server, operation="resize", inputs={}),
        reported=depending(second.pk),
    )
    assert recorded(server) == [second.pk]

    play(
        operation_order(actor=requester, instance=server, operation="resize", inputs={}),
        reported=reporting(cpu=4),
    )
    assert recorded(server) == [second.pk], "a report that says nothing of them leaves them"

    clearing = operation_order(actor=requester, instance=server, operation="resize", inputs={})
    play(clearing, reported=depending())
    assert recorded(server) == []
    assert report_log(clearing) == ["Squadron recorded on the instance: depends on no instance."]


def test_a_failed_operation_records_nothing(database, app, requester):
    first, second = create(database, requester), create(database, requester)
    server = create_app(app, requester, first.pk)
    order = operation_order(actor=requester, instance=server, operation="resize", inputs={})
    play(order, status=RunStatus.FAILED, reported=depending(second.pk))
    assert recorded(server) == [first.pk]


def test_what_may_be_named_is_what_the_orders_requester_sees_not_the_owner(
    database, app, requester, other_member
):
    """Otto runs the application servers (his squad's product): he may order
    Rita's server's operations, and name only the instances he sees."""
    ritas_db = create(database, requester)
    ullas_app = create_app(app, UserFactory(username="ulla"), name="ullas-app")
    server = create_app(app, requester, name="billing")
    order = operation_order(actor=other_member, instance=server, operation="resize", inputs={})
    play(order, reported=depending(ritas_db.pk, ullas_app.pk))
    assert recorded(server) == [ullas_app.pk]
    assert (
        f"Dependency #{ritas_db.pk} ignored: the order's requester sees no instance with this id."
        in report_log(order)
    )


# --- As each viewer sees them -------------------------------------------------------------


@pytest.fixture
def chain(database, app, requester, member):
    """Rita's database, which Nora (of the database's squad) uses for an
    application server of another squad's product: Rita may not see it."""
    orders_db = create(database, requester)
    noras_app = create_app(app, member, orders_db.pk, name="noras-app")
    return orders_db, noras_app


def test_a_dependent_the_viewer_may_not_see_is_only_counted_per_product(chain, requester, member):
    orders_db, noras_app = chain
    as_rita = instance_dependents(requester, orders_db)
    assert (as_rita.shown, as_rita.hidden, as_rita.total) == ([], [("Application server", 1)], 1)
    as_nora = instance_dependents(member, orders_db)
    assert (as_nora.shown, as_nora.hidden) == ([noras_app], [])


def test_what_an_instance_depends_on_is_hidden_alike(chain, other_member):
    _, noras_app = chain
    seen = instance_dependencies(other_member, noras_app)
    assert (seen.shown, seen.hidden) == ([], [("PostgreSQL database", 1)])


def test_a_platform_lead_sees_both_sides(chain):
    orders_db, noras_app = chain
    lead = MembershipFactory(
        user=UserFactory(username="pat"), squad=SquadFactory(slug="platform"), role=Role.PLATFORM_LEAD
    ).user
    assert instance_dependents(lead, orders_db).shown == [noras_app]
    assert instance_dependencies(lead, noras_app).shown == [orders_db]


def test_a_decommissioned_dependent_no_longer_depends(chain, member):
    orders_db, noras_app = chain
    decommission(noras_app, member)
    assert not instance_dependents(member, orders_db)
    assert instance_dependencies(member, noras_app).shown == [orders_db], "its own page keeps the record"


def test_the_admin_shows_what_an_instance_depends_on_and_lets_nothing_change_it(chain, admin_user, client):
    orders_db, noras_app = chain
    client.force_login(admin_user)
    page = client.get(f"/admin/portal/serviceinstance/{noras_app.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "what it depends on" in html.lower() and str(orders_db) in html
    assert 'name="dependencies-0-depends_on"' not in html, "read only"
