"""Secret values never survive masking, in the forms Ansible prints them."""

from __future__ import annotations

import base64
import json

import yaml

from runbooks.masking import MASK, Masker, mask_inputs


def test_masks_raw_value_and_substrings():
    masker = Masker(["hunter2"])

    assert masker.text("login with hunter2, then hunter2hunter2") == f"login with {MASK}, then {MASK}{MASK}"


def test_masks_json_and_python_escaped_forms():
    secret = 'pa"ss\\zq9'
    masker = Masker([secret])

    assert masker.text(json.dumps({"password": secret})) == f'{{"password": "{MASK}"}}'
    assert masker.text(repr(secret)) == f"'{MASK}'"


def test_masks_the_yaml_quoted_forms_ansible_quotes_from_a_vars_file():
    """When Ansible cannot read a vars file it prints the offending line: the
    secret appears as YAML wrote it, quoted and escaped."""
    quoted, accented = "it's-a-secret", "pass\tw\u00e9rd-42"
    masker = Masker([quoted, accented])
    for secret in (quoted, accented):
        for unicode in (True, False):
            line = yaml.safe_dump({"api_secret": secret}, default_style='"', allow_unicode=unicode)
            assert secret not in masker.text(line) and MASK in masker.text(line), line
    single = yaml.safe_dump({"api_secret": quoted}, default_style="'")
    assert masker.text(single) == f"'api_secret': '{MASK}'\n"
    assert masker.text('"pass\\tw\\u00E9rd-42"') == f'"{MASK}"', "upper-case hex escapes too"


def test_masks_pty_line_ends_base64_and_lines_of_multiline_secrets():
    key = "-----BEGIN KEY-----\nAAAAB3NzaC1yc2EAAAADAQABAAABAQ\nQDx4kZ9aRzN8yq0c7e1jB2L\n-----END KEY-----"
    masker = Masker([key])

    assert masker.text(key.replace("\n", "\r\n")) == MASK
    assert masker.text(base64.b64encode(key.encode()).decode()) == MASK
    assert masker.text("partial: AAAAB3NzaC1yc2EAAAADAQABAAABAQ") == f"partial: {MASK}"


def test_masks_deeply_in_data_including_keys():
    masker = Masker(["s3cret-token"])
    data = {"res": {"msg": ["ok", {"s3cret-token": "Bearer s3cret-token"}], "rc": 0}}

    assert masker.data(data) == {"res": {"msg": ["ok", {MASK: f"Bearer {MASK}"}], "rc": 0}}


def test_longest_secret_wins_when_one_contains_another():
    masker = Masker(["abc", "abcdef"])

    assert masker.text("xabcdefx") == f"x{MASK}x"


def test_values_of_one_or_two_characters_are_not_masked_but_counted():
    masker = Masker(["7", "ok", "", "long-enough"])

    assert masker.text("ok 7 long-enough") == f"ok 7 {MASK}"
    assert masker.too_short == 2


def test_without_secrets_text_is_unchanged():
    masker = Masker([])

    assert not masker
    assert masker.text("a{b}c") == "a{b}c"
    assert masker.data({"a": [1]}) == {"a": [1]}


def test_mask_inputs_replaces_secret_fields_and_their_copies():
    inputs = {"name": "db1", "pin": "4711-secret", "nested": {"pin": 987654}, "note": "pin is 4711-secret"}

    masked = mask_inputs(inputs=inputs, secret_names={"pin"})

    assert masked == {"name": "db1", "pin": MASK, "nested": {"pin": MASK}, "note": f"pin is {MASK}"}
    assert inputs["pin"] == "4711-secret"  # the caller's dict is left alone
