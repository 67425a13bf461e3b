"""A playbook the portal cannot analyse (YAML aliases, too large, invalid)
is reported on its own squad's debt panel and breaks no other page.

Versions stored before aliases were refused may still hold them, so these
tests store such versions directly, as the database may already hold them.
"""

from __future__ import annotations

import pytest

from portal.insights import debt
from portal.insights.reports import OverviewReport, SquadReport
from runbooks.analysis import analyse_playbook
from runbooks.models import Runbook, RunbookVersion
from runbooks.playbooks import playbook_checksum
from tests.deadline import deadline
from tests.factories import ProductFactory, RunbookFactory
from tests.insights.conftest import NOW

#: 134 bytes: a task whose argument contains the task itself.
RECURSIVE_ALIAS = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - &task
      name: Loop
      ansible.builtin.debug:
        msg: [*task]
"""
assert len(RECURSIVE_ALIAS.encode()) <= 134


def _billion_laughs() -> str:
    """Nine levels of nine aliases each: 9^9 strings once expanded, 648 bytes
    or so written."""
    first = '    a: &a ["{{ lol }}","lol","lol","lol","lol","lol","lol","lol","lol"]'
    lines = ["- hosts: localhost", "  vars:", first]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"    {name}: &{name} [{','.join(['*' + previous] * 9)}]")
    lines += ["  tasks:", "    - ansible.builtin.debug:", "        msg: '{{ i }}'"]
    return "\n".join(lines) + "\n"


BILLION_LAUGHS = _billion_laughs()
assert len(BILLION_LAUGHS.encode()) < 700

PLAIN = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "{{ record_name }}"
"""


def store_version(runbook: Runbook, content: str) -> RunbookVersion:
    """A version written as an older release of the portal would have stored
    it: straight to the table, past today's checks."""
    number = runbook.versions.count() + 1
    version = RunbookVersion.objects.create(
        runbook=runbook, number=number, content=content, checksum=playbook_checksum(content)
    )
    Runbook.objects.filter(pk=runbook.pk).update(current_version=version)
    runbook.refresh_from_db()
    return version


# --- The analysis itself ---------------------------------------------------------


def test_a_recursive_alias_is_not_analysed_and_says_where():
    features = analyse_playbook(RECURSIVE_ALIAS)

    assert not features.valid
    assert "alias" in features.error
    assert "line 4" in features.error  # the anchor
    assert features.task_count == 0


def test_a_billion_laughs_is_refused_at_once():
    with deadline(5):
        features = analyse_playbook(BILLION_LAUGHS)

    assert not features.valid
    assert "alias" in features.error
    assert "line 3" in features.error


def test_a_playbook_too_large_to_analyse_says_so():
    tasks = "".join(f"    - ansible.builtin.debug: {{msg: '{{{{ v{n} }}}}'}}\n" for n in range(30_000))
    huge = "- hosts: localhost\n  tasks:\n" + tasks

    with deadline(30):
        features = analyse_playbook(huge)

    assert not features.valid
    assert "too large to analyse" in features.error


def test_nesting_too_deep_to_analyse_is_a_result_not_a_recursion_error():
    deep = "- hosts: localhost\n  vars:\n    x: " + "[" * 5000 + "]" * 5000 + "\n"

    features = analyse_playbook(deep)

    assert not features.valid
    assert "too deep" in features.error


def test_a_long_chain_of_jinja_filters_is_analysed_without_recursion():
    chain = "{{ name" + " | lower" * 3000 + " }}"
    playbook = f"- hosts: localhost\n  tasks:\n    - ansible.builtin.debug:\n        msg: '{chain}'\n"

    features = analyse_playbook(playbook)

    assert features.valid, features.error
    assert features.inputs == {"name"}


def test_templates_beyond_the_budget_are_too_large_to_analyse():
    many = " ".join(f"{{{{ v{n} }}}}" for n in range(20_000))
    playbook = f"- hosts: localhost\n  tasks:\n    - ansible.builtin.debug:\n        msg: '{many}'\n"

    with deadline(30):
        features = analyse_playbook(playbook)

    assert not features.valid
    assert "too large to analyse" in features.error


def test_deeply_nested_jinja_is_a_result_not_a_recursion_error():
    nested = "{{ " + "(" * 2000 + "name" + ")" * 2000 + " }}"
    playbook = f"- hosts: localhost\n  tasks:\n    - ansible.builtin.debug:\n        msg: '{nested}'\n"

    features = analyse_playbook(playbook)

    assert not features.valid
    assert "too large to analyse" in features.error


def test_an_ordinary_playbook_is_still_analysed():
    features = analyse_playbook(PLAIN)

    assert features.valid
    assert features.inputs == {"record_name"}


# --- Where squads meet it ----------------------------------------------------------


@pytest.fixture
def broken(other_squad):
    """A product of the Compute squad whose runbook's stored current version
    holds a recursive alias."""
    runbook = RunbookFactory(slug="loop", name="Loop", squad=other_squad)
    store_version(runbook, RECURSIVE_ALIAS)
    ProductFactory(slug="loop", name="Loop", squad=other_squad, runbook=runbook)
    return runbook


@pytest.fixture
def healthy(squad):
    runbook = RunbookFactory(slug="dns", name="DNS", squad=squad, playbook=PLAIN)
    ProductFactory(slug="vlan", name="VLAN", squad=squad, runbook=runbook)
    return runbook


@pytest.mark.django_db
def test_the_broken_runbook_is_reported_on_its_own_squads_debt_panel(broken, other_squad):
    subject = next(entry for entry in debt.debt_subjects(squad_id=other_squad.pk, now=NOW) if entry.runbook)

    factors = {factor.key: factor for factor in subject.factors}
    assert factors["not_analysed"].detail.startswith("The playbook could not be analysed: ")
    assert "alias" in factors["not_analysed"].detail


@pytest.mark.django_db
def test_one_squads_recursive_alias_breaks_no_other_squads_page(
    client, member, admin_user, healthy, broken, squad
):
    client.force_login(member)
    dashboard = f"/squads/{squad.slug}/dashboard/"
    assert client.get(dashboard).status_code == 200
    for table in SquadReport.TABLES:
        assert client.get(f"{dashboard}{table}.csv").status_code == 200, table
    assert client.get(f"/api/v1/squads/{squad.slug}/metrics/").status_code == 200
    assert client.get("/api/v1/products/vlan/metrics/").status_code == 200

    client.force_login(admin_user)
    assert client.get("/insights/").status_code == 200
    for table in OverviewReport.TABLES:
        assert client.get(f"/insights/{table}.csv").status_code == 200, table
    assert client.get("/insights/graph/").status_code == 200


@pytest.mark.django_db
def test_the_owning_squad_reads_why_on_its_dashboard_and_its_api(client, other_member, broken, other_squad):
    client.force_login(other_member)

    page = client.get(f"/squads/{other_squad.slug}/dashboard/")
    metrics = client.get(f"/api/v1/squads/{other_squad.slug}/metrics/")
    table = client.get(f"/squads/{other_squad.slug}/dashboard/debt.csv")

    assert page.status_code == 200
    assert "The playbook could not be analysed" in page.content.decode()
    assert metrics.status_code == 200
    [entry] = [entry for entry in metrics.json()["debt"] if entry["slug"] == "loop"]
    assert "not_analysed" in [factor["key"] for factor in entry["factors"]]
    assert "could not be analysed" in table.content.decode()


@pytest.mark.django_db
def test_a_billion_laughs_in_one_squads_runbook_hangs_no_page(
    client, member, admin_user, healthy, other_squad
):
    runbook = RunbookFactory(slug="laughs", name="Laughs", squad=other_squad)
    store_version(runbook, BILLION_LAUGHS)

    with deadline(20):
        client.force_login(member)
        assert client.get(f"/squads/{healthy.squad.slug}/dashboard/").status_code == 200
        assert client.get(f"/api/v1/squads/{healthy.squad.slug}/metrics/").status_code == 200
        client.force_login(admin_user)
        assert client.get("/insights/").status_code == 200
        assert client.get("/insights/debt.csv").status_code == 200


@pytest.mark.django_db
def test_invalid_yaml_already_stored_is_reported_not_raised(client, other_member, other_squad):
    runbook = RunbookFactory(slug="broken-yaml", name="Broken YAML", squad=other_squad)
    store_version(runbook, "- hosts: localhost\n  tasks: [unclosed\n")
    client.force_login(other_member)

    page = client.get(f"/squads/{other_squad.slug}/dashboard/")

    assert page.status_code == 200
    assert "The playbook could not be analysed: not valid YAML" in page.content.decode()
