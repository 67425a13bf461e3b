"""Inputs reach Ansible as data: tagged !unsafe, under safe names."""

from __future__ import annotations

import pytest
from ansible.parsing.yaml.loader import AnsibleLoader
from ansible.utils.unsafe_proxy import AnsibleUnsafeText

from runbooks.extravars import ExtraVarsError, render_extravars, render_unsafe_vars

TRUSTED = {"squadron_run_id": 7, "squadron_check_mode": False}


def load(text: str) -> dict:
    return AnsibleLoader(text).get_single_data()


def test_every_input_string_is_unsafe_at_any_depth():
    inputs = {
        "text": "{{ lookup('pipe', 'id') }}",
        "items": ["{{ a }}", {"{{ key }}": "{% if x %}", "n": 3}],
        "digits": "0123",
        "flag": "yes",
    }

    loaded = load(render_extravars(inputs=inputs, trusted=TRUSTED))

    assert loaded["text"] == inputs["text"] and isinstance(loaded["text"], AnsibleUnsafeText)
    assert isinstance(loaded["items"][0], AnsibleUnsafeText)
    nested = loaded["items"][1]
    assert all(isinstance(key, AnsibleUnsafeText) for key in nested if key != "n")
    assert isinstance(nested["{{ key }}"], AnsibleUnsafeText)
    # Strings stay strings even where YAML would read a number or a boolean.
    assert loaded["digits"] == "0123" and loaded["flag"] == "yes"


def test_numbers_booleans_and_null_stay_typed():
    loaded = load(render_extravars(inputs={"count": 3, "ratio": 0.5, "on": True, "none": None}, trusted={}))

    assert loaded == {"count": 3, "ratio": 0.5, "on": True, "none": None}


def test_trusted_variables_are_not_tagged():
    text = render_extravars(inputs={"name": "web"}, trusted=TRUSTED)

    assert "squadron_run_id: 7" in text
    assert "squadron_check_mode: false" in text
    assert "name: !unsafe 'web'" in text


def test_awkward_strings_survive_the_round_trip():
    value = 'it\'s "quoted"\n\ttabbed \\ back\x07 é ✓ {{'

    assert load(render_extravars(inputs={"text": value}, trusted={}))["text"] == value


@pytest.mark.parametrize(
    "name",
    [
        "bad-name",
        "1st",
        "with space",
        "class",
        "_private",
        "ansible_python_interpreter",
        "ansible_connection",
        "squadron_run_id",
        "hostvars",
        "lookup",
        "naïve",
    ],
)
def test_names_that_could_steer_ansible_are_refused(name):
    with pytest.raises(ExtraVarsError, match="Invalid input names"):
        render_extravars(inputs={name: "x"}, trusted=TRUSTED)


def test_common_form_field_names_are_allowed():
    loaded = load(render_extravars(inputs={"name": "a", "port": 22, "vlan_id": 42}, trusted={}))

    assert loaded == {"name": "a", "port": 22, "vlan_id": 42}


def test_values_that_are_not_json_data_are_refused():
    with pytest.raises(ExtraVarsError, match="JSON data"):
        render_extravars(inputs={"when": object()}, trusted={})


def test_unsafe_vars_file_tags_every_string():
    loaded = load(render_unsafe_vars({"ansible_password": "p{{ass}}"}))

    assert loaded == {"ansible_password": "p{{ass}}"}
    assert isinstance(loaded["ansible_password"], AnsibleUnsafeText)


def test_half_a_surrogate_pair_is_refused_not_written():
    with pytest.raises(ExtraVarsError, match="surrogates"):
        render_extravars(inputs={"notes": ["fine", "bad \ud800"]}, trusted={})


def test_squadrons_data_variables_are_written_unsafe_and_only_under_its_own_names():
    text = render_extravars(
        inputs={"size": "10"},
        trusted={"squadron_run_id": 7},
        data={"squadron_instance": {"name": "{{ lookup('pipe', 'id') }}", "attributes": {"n": 1}}},
    )
    assert "  !unsafe 'name': !unsafe '{{ lookup(''pipe'', ''id'') }}'" in text
    assert "squadron_run_id: 7" in text
    for name in ("instance", "squadron_run_id"):
        with pytest.raises(ExtraVarsError, match="squadron_"):
            render_extravars(inputs={}, trusted={"squadron_run_id": 7}, data={name: {}})
