"""Comparing two versions of a runbook's playbook in the admin: who may (the
runbook's curators; for anyone else the runbook does not exist), what the page
shows (numbered changes, never a credential's secret), how a bad choice of
versions is told, and that looking changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from runbooks.diffs import playbook_diff
from runbooks.models import Credential, Runbook, RunbookVersion
from runbooks.services import runbook_set_playbook
from tests.admin_forms import CURATORS, LOGIN_URL, admin_url, snapshot
from tests.factories import PLAYBOOK

SECOND = PLAYBOOK.replace("msg: hello", "msg: hello again")
THIRD = SECOND + "    - name: Say goodbye\n      ansible.builtin.debug:\n        msg: bye\n"


def diff_url(runbook: Runbook, **query: Any) -> str:
    url = reverse("admin:runbooks_runbook_diff", args=[runbook.pk])
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    return url


@pytest.fixture
def history(runbook: Runbook, member: Any) -> Runbook:
    """The runbook with three versions: the factory's, a changed message, a task added."""
    runbook_set_playbook(runbook=runbook, content=SECOND, user=member)
    runbook_set_playbook(runbook=runbook, content=THIRD, user=member)
    runbook.refresh_from_db()
    return runbook


# --- The diff itself ------------------------------------------------------------


def test_playbook_diff_numbers_each_side_and_counts_the_changes() -> None:
    diff = playbook_diff(PLAYBOOK, SECOND)

    assert (diff.added, diff.removed) == (1, 1)
    assert diff.rows[0].kind == "hunk" and diff.rows[0].text == "@@ -4,4 +4,4 @@"
    changed = [
        (row.kind, row.old_number, row.new_number, row.text) for row in diff.rows if row.kind != "context"
    ]
    assert changed[1:] == [
        ("removed", 7, None, "        msg: hello"),
        ("added", None, 7, "        msg: hello again"),
    ]
    context = [row for row in diff.rows if row.kind == "context"]
    assert [(row.old_number, row.new_number) for row in context] == [(4, 4), (5, 5), (6, 6)]


def test_playbook_diff_of_identical_texts_has_no_rows() -> None:
    diff = playbook_diff(PLAYBOOK, PLAYBOOK)

    assert diff.identical and (diff.added, diff.removed) == (0, 0)


def test_playbook_diff_separates_distant_changes_into_hunks() -> None:
    old = "\n".join(f"line {n}" for n in range(1, 31))
    new = old.replace("line 2\n", "line two\n").replace("line 29", "line twenty-nine")

    diff = playbook_diff(old, new)

    assert [row.text for row in diff.rows if row.kind == "hunk"] == ["@@ -1,5 +1,5 @@", "@@ -26,5 +26,5 @@"]
    assert "line 15" not in [row.text for row in diff.rows]


# --- The page -----------------------------------------------------------------------


def test_playbook_diff_of_a_long_repetitive_playbook_is_the_one_line_changed() -> None:
    """Exact matching of 100,000 repeated lines would take minutes: the
    lines both versions share at either end are set aside first."""
    old = "- debug: msg=x\n" * 100_000
    new = "- debug: msg=x\n" * 50_000 + "- debug: msg=y\n" + "- debug: msg=x\n" * 50_000

    diff = playbook_diff(old, new)

    assert (diff.added, diff.removed) == (1, 0)
    assert [(row.kind, row.new_number) for row in diff.rows if row.kind == "added"] == [("added", 50_001)]
    assert [row.text for row in diff.rows] == [
        "@@ -49998,6 +49998,7 @@",
        *["- debug: msg=x"] * 3,
        "- debug: msg=y",
        *["- debug: msg=x"] * 3,
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("a\nb\n" * 2_000, "b\na\n" * 2_000),
        ("\n" * 2_000 + "x\n" * 2_000, "x\n" * 2_000 + "\n" * 2_000),
        ("".join(f"line {n}\n" for n in range(3_000)), "".join(f"line {n}\n" for n in range(7, 3_007))),
    ],
    ids=["alternating", "halves-swapped", "shifted"],
)
def test_playbook_diff_of_a_middle_too_large_for_exact_matching_is_still_true(old: str, new: str) -> None:
    """Past EXACT_PAIRS the heuristic may mark more lines changed, but the
    old version with the removals taken out and the additions put in is the
    new one, line for line and number for number."""
    diff = playbook_diff(old, new, context=0)

    old_lines, new_lines = old.splitlines(), new.splitlines()
    removed = {row.old_number for row in diff.rows if row.kind == "removed"}
    added = {row.new_number: row.text for row in diff.rows if row.kind == "added"}
    kept = [line for number, line in enumerate(old_lines, 1) if number not in removed]
    rebuilt = iter(kept)
    numbers = range(1, len(new_lines) + 1)
    assert [added[number] if number in added else next(rebuilt) for number in numbers] == new_lines
    assert next(rebuilt, None) is None
    assert all(row.text == old_lines[row.old_number - 1] for row in diff.rows if row.kind == "removed")
    assert (diff.added, diff.removed) == (len(added), len(removed))


def test_a_hundred_lines_repeated_in_another_order_cannot_hold_the_diff_page() -> None:
    """The attack on difflib's heuristic: no line is common enough for it to
    skip, so it compares every pair (minutes for 100,000 lines). Too large to
    compare line by line, the middle is shown replaced whole, at once."""
    steps = [f"    - name: step {number}" for number in range(100)]
    old = [steps[number % 100] for number in range(100_000)]
    new = [steps[(number * 7) % 100] for number in range(100_000)]
    old[0], new[0], old[-1], new[-1] = "- hosts: a", "- hosts: b", "# old", "# new"

    diff = playbook_diff("\n".join(old), "\n".join(new), context=0)

    assert (diff.removed, diff.added) == (100_000, 100_000)
    assert diff.rows[0].text == "@@ -1,100000 +1,100000 @@"


def test_curator_sees_what_the_latest_save_changed_by_default(
    member_client: Client, history: Runbook
) -> None:
    response = member_client.get(diff_url(history))

    assert response.status_code == 200
    page = response.content.decode()
    assert "Version 2 → version 3" in page
    assert "3 lines added" in page and "0 lines removed" in page
    assert "msg: bye" in page
    rows = response.context["diff"].rows
    assert [row.text for row in rows if row.kind == "added"] == [
        "    - name: Say goodbye",
        "      ansible.builtin.debug:",
        "        msg: bye",
    ]


def test_curator_compares_any_two_versions_in_either_direction(
    member_client: Client, history: Runbook
) -> None:
    response = member_client.get(diff_url(history, old=3, new=1))

    assert response.status_code == 200
    diff = response.context["diff"]
    assert (diff.added, diff.removed) == (1, 4)
    assert [row.text for row in diff.rows if row.kind == "added"] == ["        msg: hello"]
    assert (response.context["old"].number, response.context["new"].number) == (3, 1)


def test_the_page_escapes_the_playbook(member_client: Client, runbook: Runbook, member: Any) -> None:
    runbook_set_playbook(
        runbook=runbook, content=PLAYBOOK.replace("msg: hello", 'msg: "<script>x()</script>"')
    )

    page = member_client.get(diff_url(runbook)).content.decode()

    assert "<script>x()</script>" not in page
    assert "&lt;script&gt;x()&lt;/script&gt;" in page


def test_the_page_never_shows_the_runbooks_credential_secrets(
    member_client: Client, history: Runbook, credential: Credential
) -> None:
    history.credentials.add(credential)

    response = member_client.get(diff_url(history, old=1, new=3))

    assert response.status_code == 200
    page = response.content.decode()
    assert "s3cr3t-network" not in page
    assert credential.secret_ciphertext not in page


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"old": 1, "new": 99}, "This runbook has no version 99."),
        ({"old": "abc", "new": 2}, "This runbook has no version abc."),
        ({"old": 2, "new": 2}, "Pick two different versions"),
        ({"old": 1}, "Pick the version to compare with."),
        ({"old": "", "new": 3}, "Pick the version to compare from."),
    ],
)
def test_a_bad_choice_of_versions_is_a_clear_error_without_a_diff(
    member_client: Client, history: Runbook, query: dict[str, Any], message: str
) -> None:
    response = member_client.get(diff_url(history, **query))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert response.context["diff"] is None


def test_a_version_of_another_runbook_is_no_version_of_this_one(
    member_client: Client, history: Runbook, squad: Any
) -> None:
    from tests.factories import RunbookFactory

    sibling = RunbookFactory(squad=squad, slug="sibling")
    for content in (SECOND, THIRD, THIRD + "# four\n", THIRD + "# five\n"):
        runbook_set_playbook(runbook=sibling, content=content)

    response = member_client.get(diff_url(history, old=1, new=5))

    assert response.status_code == 400
    assert "This runbook has no version 5." in response.content.decode()


def test_a_runbook_with_one_version_says_there_is_nothing_to_compare(
    member_client: Client, runbook: Runbook
) -> None:
    response = member_client.get(diff_url(runbook, old=1, new=1))

    assert response.status_code == 200
    assert "nothing to compare" in response.content.decode()
    assert response.context["diff"] is None


def test_only_the_runbooks_curators_may_compare_its_versions(
    client: Client, role: str, history: Runbook
) -> None:
    before = snapshot(history), list(RunbookVersion.objects.values_list("pk", "content"))

    response = client.get(diff_url(history, old=1, new=3))

    if role in CURATORS:
        assert response.status_code == 200
        assert "msg: bye" in response.content.decode()
    elif role in ("anonymous", "outsider"):
        # Nobody in a squad is let into the admin at all.
        assert response.status_code == 302 and response["Location"].startswith(LOGIN_URL)
    else:
        # Another squad's runbook, like a missing one: nothing tells it exists.
        assert response.status_code == 404
        assert "msg: bye" not in response.content.decode()
    assert (snapshot(history), list(RunbookVersion.objects.values_list("pk", "content"))) == before


def test_another_squads_runbook_is_a_404_like_a_missing_one(
    client: Client, other_member: Any, history: Runbook
) -> None:
    client.force_login(other_member)

    foreign = client.get(diff_url(history, old=1, new=2))
    missing = client.get(reverse("admin:runbooks_runbook_diff", args=[987654]))
    garbage = client.get(reverse("admin:runbooks_runbook_diff", args=["not-an-id"]))

    assert (foreign.status_code, missing.status_code, garbage.status_code) == (404, 404, 404)
    assert "msg: bye" not in foreign.content.decode()


# --- Where it is linked from ---------------------------------------------------------


def test_the_runbook_page_links_to_the_comparison_and_each_version_to_its_changes(
    member_client: Client, history: Runbook
) -> None:
    page = member_client.get(admin_url(Runbook, "change", history.pk)).content.decode()

    assert f'href="{escape(diff_url(history))}"' in page
    assert f'href="{escape(diff_url(history, old=2, new=3))}"' in page
    assert f'href="{escape(diff_url(history, old=1, new=2))}"' in page
    assert "first version" in page


def test_a_versions_page_links_to_its_changes_and_to_the_current_version(
    member_client: Client, history: Runbook
) -> None:
    version = history.versions.get(number=2)

    page = member_client.get(admin_url(RunbookVersion, "change", version.pk)).content.decode()

    assert f'href="{escape(diff_url(history, old=1, new=2))}"' in page
    assert f'href="{escape(diff_url(history, old=2, new=3))}"' in page
    assert 'data-code-editor="yaml"' in page


# --- The editor's hooks ---------------------------------------------------------------


def test_the_runbook_page_loads_the_vendored_editor_over_the_text_area(
    member_client: Client, runbook: Runbook
) -> None:
    page = member_client.get(admin_url(Runbook, "change", runbook.pk)).content.decode()

    assert '<script src="/static/vendor/codemirror/code-editor.min.js"></script>' in page
    # Progressive enhancement: the text area is there and named as the form posts it.
    assert re.search(r'<textarea name="playbook"[^>]*data-code-editor="yaml"', page)


def test_who_may_only_read_a_runbook_sees_its_playbook_as_code_not_a_text_area(
    member_client: Client, runbook: Runbook, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runbooks.admin import RunbookAdmin

    # No role reads without curating yet; Django's view-only mode is what this exercises.
    monkeypatch.setattr(RunbookAdmin, "has_change_permission", lambda self, request, obj=None: False)

    response = member_client.get(admin_url(Runbook, "change", runbook.pk))

    page = response.content.decode()
    assert response.status_code == 200
    assert '<textarea name="playbook"' not in page
    assert '<pre class="code-block" data-code-editor="yaml" aria-label="Playbook">' in page
    assert "msg: hello" in page


def test_the_vendored_editor_keeps_its_licences_beside_it() -> None:
    from django.conf import settings

    vendor = settings.BASE_DIR / "portal" / "static" / "vendor" / "codemirror"
    licences = (vendor / "LICENSE").read_text()
    for package in ("@codemirror/view", "@codemirror/state", "@codemirror/lang-yaml", "@lezer/yaml"):
        assert f"{package} " in licences
    assert "MIT License" in licences
    assert (vendor / "code-editor.min.js").stat().st_size > 0
