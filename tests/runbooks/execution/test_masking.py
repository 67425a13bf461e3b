"""Secret values never survive masking, in the forms Ansible prints them."""

from __future__ import annotations

import base64
import json
import time

import pytest
import yaml

from runbooks.execution.masking import MASK, Masker, mask_inputs


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


# --- Secrets the output has folded, escaped or cut across lines -------------

PASSPHRASE = (
    'correct horse battery staple, "quoted", back\\slashed, accented \u00e9 and \U0001f511, '
    "long enough for any YAML or JSON writer to fold it"
)


def test_a_no_break_space_is_part_of_the_secret_in_any_writing():
    secret = "no\xa0break\u2028here and there"
    masker = Masker([secret])

    for text in (secret, json.dumps(secret), yaml.safe_dump(secret, default_style='"', width=10)):
        assert masker.text(text) in (MASK, f'"{MASK}"', f'"{MASK}"\n'), text
    assert masker.text("no break here and there") == "no break here and there", "not any whitespace"


def test_masks_a_secret_folded_by_yaml_in_every_style_and_keeps_the_rest():
    masker = Masker([PASSPHRASE])
    for style in (None, '"', "'"):
        for unicode in (True, False):
            dumped = yaml.safe_dump(
                {"passphrase": PASSPHRASE, "after": 1}, default_style=style, width=40, allow_unicode=unicode
            )
            assert dumped.count("\n") > 3, "folded"
            masked = masker.text(dumped)
            assert "horse" not in masked and "fold it" not in masked, (dumped, masked)
            # One line per key again: the folded lines became one mask.
            assert masked.count("\n") == 2 and MASK in masked and "after" in masked, masked


def test_masks_the_whole_folded_span_and_nothing_around_it():
    masker = Masker([PASSPHRASE])
    folded = f"passphrase: {PASSPHRASE[:40]}\n    {PASSPHRASE[40:90]}\n    {PASSPHRASE[90:]}\nnext: 1\n"

    assert masker.text(folded) == f"passphrase: {MASK}\nnext: 1\n"


def test_masks_a_secret_escaped_by_json_once_or_twice():
    masker = Masker([PASSPHRASE])
    for ensure_ascii in (True, False):
        once = json.dumps({"token": PASSPHRASE}, indent=4, ensure_ascii=ensure_ascii)
        twice = json.dumps({"msg": once}, ensure_ascii=ensure_ascii)
        assert masker.text(once) == f'{{\n    "token": "{MASK}"\n}}'
        assert masker.text(twice) == f'{{"msg": "{{\\n    \\"token\\": \\"{MASK}\\"\\n}}"}}'


def test_masks_a_secret_cut_into_parts_on_separate_lines():
    secret = "s3cr3t-t0ken-0123456789"
    masker = Masker([secret])
    cut = f"{secret[:10]}\n{secret[10:]}"

    assert masker.text(f"before\n{cut}\nafter") == f"before\n{MASK}\nafter"
    assert masker.text(json.dumps({"msg": cut})) == f'{{"msg": "{MASK}"}}'
    assert masker.text(f"{secret[:10]}\r\n        {secret[10:]}") == MASK


def test_masks_a_secret_written_in_unicode_and_hex_escapes():
    secret = "caf\u00e9-cr\u00e8me-\U0001f511-brul\u00e9e"
    masker = Masker([secret])

    for text in (
        json.dumps(secret),
        ascii(secret),
        yaml.safe_dump(secret, default_style='"', allow_unicode=False),
        "caf\\xE9-cr\\u00E8me-\\U0001F511-brul\\\\\\u00e9e",
    ):
        assert "caf" not in masker.text(text) and MASK in masker.text(text), text


def test_secrets_too_short_stay_as_today_even_folded():
    masker = Masker(["ab", "a b"])

    assert masker.text("ab a b a\nb") == f"ab {MASK} a\nb"
    assert masker.too_short == 1


def test_output_with_a_lone_surrogate_is_still_masked():
    masker = Masker([PASSPHRASE])
    folded = PASSPHRASE[:50] + "\n  " + PASSPHRASE[50:]

    assert masker.text(f"\ud800 {folded} \udfff") == f"\ud800 {MASK} \udfff"


def test_a_secret_wrapped_onto_two_outputs_is_masked_in_both():
    """ansible-runner makes one event of each line printed outside a task:
    a long warning that Ansible wraps puts a secret into two events."""
    masker = Masker([PASSPHRASE, "tok_9f8e7d6c5b4a39281706"])
    previous = f"[WARNING]: tok_9f8e7d6c5b4a39281706 cannot log in with {PASSPHRASE[:50]}"
    current = f"{PASSPHRASE[50:]} (ignored)"

    assert masker.across(previous, current) == (
        f"[WARNING]: {MASK} cannot log in with {MASK}",
        f"{MASK} (ignored)",
    )
    assert masker.across("[WARNING]: one line", current) == ("[WARNING]: one line", current)
    assert masker.across(PASSPHRASE, "next") == (MASK, "next")
    assert masker.across("", PASSPHRASE) == ("", MASK)


SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\n" + "\n".join(
    base64.b64encode(bytes(byte % 256 for byte in range(i, i + 52))).decode() for i in range(0, 3000, 52)
)
FOLDED_LINE = json.dumps({"msg": yaml.safe_dump({"passphrase": PASSPHRASE}, width=40)}) + "\n"
OK_LINE = 'ok: [localhost] => {"msg": "all is well \\n here", "changed": false}\n'


@pytest.mark.parametrize(
    ("secrets", "output", "masks"),
    [
        # Ordinary output with a folded secret now and then.
        ([PASSPHRASE, SSH_KEY, "tok_9f8e7d6c5b4a39281706"], (OK_LINE * 800 + FOLDED_LINE) * 95, 95),
        # Prefixes of a secret between gaps that a backtracking matcher would
        # try every way of reading.
        ([PASSPHRASE], ("correct \\\\\\n horse \\ \\\\ \n" * 4 + "\\n " * 40) * 24_000, 0),
        # A secret that overlaps itself: every position starts a long match.
        (["a" * 500 + "b"], "a \\n" * 1_300_000, 0),
    ],
    ids=["ordinary", "gaps", "self-overlapping"],
)
def test_masks_five_megabytes_of_output_in_linear_time(record_property, secrets, output, masks):
    """Not a benchmark (no time is asserted): proves that a large output,
    even one built to make a backtracking matcher explode, is masked."""
    masker = Masker(secrets)
    assert len(output) > 5_000_000

    started = time.perf_counter()
    masked = masker.text(output)
    record_property("seconds", round(time.perf_counter() - started, 2))

    assert masked.count(MASK) == masks
    assert "horse battery" not in masked and "fold it" not in masked
    if not masks:
        assert masked == output
