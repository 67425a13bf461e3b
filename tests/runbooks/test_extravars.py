"""Inputs reach Ansible as data, under safe names: the extra-vars file read
back the way ansible-playbook reads it (``DataLoader.load_from_file`` with
``trusted_as_template``, as ``load_extra_vars`` does) and rendered by
Ansible's own templar. Real runs prove the same end to end
(``tests/runbooks/execution/test_credentials_and_inputs.py``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleParserError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from runbooks.extravars import ExtraVarsError, render_extravars, render_unsafe_vars

TRUSTED = {"squadron_run_id": 7, "squadron_check_mode": False}


def load(text: str, tmp_path: Path) -> dict:
    """The file as ansible-playbook reads ``-e @file``."""
    path = tmp_path / "extravars"
    path.write_text(text)
    return DataLoader().load_from_file(str(path), cache="none", trusted_as_template=True)


def rendered(variables: dict, template: str) -> Any:
    """What ``template`` (playbook text, hence trusted) renders to with ``variables``."""
    return Templar(loader=DataLoader(), variables=variables).template(trust_as_template(template))


def test_every_input_string_stays_literal_at_any_depth(tmp_path):
    inputs = {
        "text": "{{ lookup('pipe', 'id') }}",
        "items": ["{{ 7 * 7 }}", {"{{ key }}": "{% if x %}{% endif %}", "n": 3}],
        "digits": "0123",
        "flag": "yes",
    }

    loaded = load(render_extravars(inputs=inputs, trusted=TRUSTED), tmp_path)

    assert rendered(loaded, "{{ text }}") == inputs["text"]
    assert rendered(loaded, "{{ items[0] }}") == "{{ 7 * 7 }}"
    assert rendered(loaded, "{{ items }}") == inputs["items"]
    assert rendered(loaded, "{{ items[1] | dict2items | map(attribute='key') | first }}") == "{{ key }}"
    # Strings stay strings even where YAML would read a number or a boolean.
    assert rendered(loaded, "{{ digits }}") == "0123" and rendered(loaded, "{{ flag }}") == "yes"


def test_the_check_above_does_render_a_trusted_template(tmp_path):
    # What the file must never produce: a plain string, which Ansible trusts.
    loaded = load('{"text": "{{ 7 * 7 }}"}', tmp_path)

    assert rendered(loaded, "{{ text }}") == 49


def test_numbers_booleans_and_null_stay_typed_and_trusted_variables_are_plain(tmp_path):
    inputs = {"count": 3, "ratio": 0.5, "on": True, "none": None}

    text = render_extravars(inputs=inputs, trusted=TRUSTED)

    assert load(text, tmp_path) == {**inputs, **TRUSTED}
    written = json.loads(text)
    assert written["count"] == 3 and written["squadron_run_id"] == 7
    assert written["squadron_check_mode"] is False


def test_awkward_strings_survive_the_round_trip(tmp_path):
    value = 'it\'s "quoted"\n\ttabbed \\ back\x07 é ✓ 😀 {{'

    loaded = load(render_extravars(inputs={"text": value}, trusted={}), tmp_path)

    assert loaded["text"] == value and rendered(loaded, "{{ text }}") == value


def test_the_file_is_json_that_yaml_refuses(tmp_path):
    """Ansible falls back to YAML when JSON fails, and YAML would trust every
    string: the file must be unreadable as YAML."""
    text = render_extravars(inputs={"text": "{{ 7 * 7 }}"}, trusted=TRUSTED)

    assert json.loads(text)["text"] == {"__ansible_unsafe": "{{ 7 * 7 }}"}
    with pytest.raises(yaml.YAMLError):
        yaml.safe_load(text)
    # Not even once Ansible's JSON reader failed on something in it.
    broken = text.replace('"__ansible_unsafe": "{{ 7 * 7 }}"', '"__ansible_unsafe": 5')
    with pytest.raises(AnsibleParserError, match=r"Tabs are usually invalid"):
        load(broken, tmp_path)


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


def test_common_form_field_names_are_allowed(tmp_path):
    loaded = load(render_extravars(inputs={"name": "a", "port": 22, "vlan_id": 42}, trusted={}), tmp_path)

    assert loaded == {"name": "a", "port": 22, "vlan_id": 42}


@pytest.mark.parametrize(
    "inputs",
    [
        {"data": {"__ansible_unsafe": "{{ 7 * 7 }}"}},
        {"data": [{"__ansible_vault": "$ANSIBLE_VAULT;1.1;AES256"}]},
        {"data": {"nested": {"__ansible_anything_later": 1}}},
    ],
)
def test_keys_ansible_reads_as_its_markers_are_refused(inputs):
    """Such a key would make a marker of the user's object, or break the
    JSON so that Ansible read the file as YAML, trusting every string."""
    with pytest.raises(ExtraVarsError, match="keys beginning with '__ansible'"):
        render_extravars(inputs=inputs, trusted={})


@pytest.mark.parametrize("value", [object(), {1: "x"}, float("nan"), [float("inf")]])
def test_values_that_are_not_json_data_are_refused(value):
    with pytest.raises(ExtraVarsError, match="JSON"):
        render_extravars(inputs={"data": value}, trusted={})


def test_unsafe_vars_file_keeps_every_string_literal(tmp_path):
    loaded = load(render_unsafe_vars({"ansible_password": "p{{ 7 * 7 }}"}), tmp_path)

    assert rendered(loaded, "{{ ansible_password }}") == "p{{ 7 * 7 }}"


def test_half_a_surrogate_pair_is_refused_not_written():
    with pytest.raises(ExtraVarsError, match="surrogates"):
        render_extravars(inputs={"notes": ["fine", "bad \ud800"]}, trusted={})
    with pytest.raises(ExtraVarsError, match="surrogates"):
        render_extravars(inputs={"notes": {"bad \ud800": 1}}, trusted={})


def test_squadrons_data_variables_are_written_unsafe_and_only_under_its_own_names(tmp_path):
    text = render_extravars(
        inputs={"size": "10"},
        trusted={"squadron_run_id": 7},
        data={"squadron_instance": {"name": "{{ lookup('pipe', 'id') }}", "attributes": {"n": 1}}},
    )
    loaded = load(text, tmp_path)

    assert rendered(loaded, "{{ squadron_instance.name }}") == "{{ lookup('pipe', 'id') }}"
    assert rendered(loaded, "{{ squadron_run_id + 1 }}") == 8
    for name in ("instance", "squadron_run_id"):
        with pytest.raises(ExtraVarsError, match="squadron_"):
            render_extravars(inputs={}, trusted={"squadron_run_id": 7}, data={name: {}})
