"""Ansible's messages turned into failure reasons, line by line as
ansible-runner hands them over (real runs: ``test_run_outcomes.py``)."""

from __future__ import annotations

from runbooks.execution.reasons import AnsibleOutput, plain_paths, task_failure

PRIVATE_DIR = "/var/tmp/runs/run-1a2b3c4d-42-x7"


def read(*events: str) -> AnsibleOutput:
    output = AnsibleOutput()
    for stdout in events:
        output.read(stdout)
    return output


def test_an_error_line_by_line_keeps_its_message_and_playbook_line_not_the_excerpt():
    output = read(
        "[ERROR]: couldn't resolve module/action 'nowhere.missing'.",
        f"Origin: {PRIVATE_DIR}/project/playbook.yml:5:7",
        "",
        "3   gather_facts: false",
        "4   tasks:",
        "5     - name: Call it",
        "        ^ column 7",
        "",
    )

    assert output.error == "couldn't resolve module/action 'nowhere.missing'. (the playbook, line 5)"
    assert output.last_line == "[ERROR]: couldn't resolve module/action 'nowhere.missing'."


def test_an_error_chain_in_one_event_keeps_its_summary_without_the_wrappers():
    output = read(
        "[ERROR]: Task failed: Finalization of task args for 'ansible.builtin.debug' failed: "
        "Error while resolving value for 'msg': 'x' is undefined\n\nTask failed.\n"
        f"Origin: {PRIVATE_DIR}/project/playbook.yml:5:7\n\n5     - name: Use it\n        ^ column 7\n\n"
        "<<< caused by >>>\n\nError while resolving value for 'msg': 'x' is undefined\n"
        f'Origin: {PRIVATE_DIR}/project/playbook.yml:7:14\n\n7         msg: "{{{{ x }}}}"\n'
        "               ^ column 14"
    )

    assert output.error == "Error while resolving value for 'msg': 'x' is undefined"
    assert output.last_line == "Error while resolving value for 'msg': 'x' is undefined"


def test_a_message_on_several_lines_is_kept_whole_and_only_the_first_error_counts():
    output = read(
        "[ERROR]: YAML parsing failed: while parsing a flow sequence",
        '  in "<unicode string>", line 1, column 4',
        f"Origin: {PRIVATE_DIR}/project/playbook.yml:9:3",
        "(source not shown: content redacted)",
        "[ERROR]: a second error",
    )

    assert output.error == (
        'YAML parsing failed: while parsing a flow sequence in "<unicode string>", line 1, column 4 '
        "(the playbook, line 9)"
    )
    assert output.last_line == "[ERROR]: a second error"


def test_the_last_line_is_never_an_excerpt_of_a_file():
    output = read(
        "[WARNING]: Found variable using reserved name 'name'.",
        f"Origin: {PRIVATE_DIR}/env/extravars:3:1",
        "",
        "  1 a_very_long_line_cut_by_ansible...",
        "123 name: x",
        "                                          column 130 ^",
        "    ^^^^^^^^",
    )

    assert output.error == ""
    assert output.last_line == "[WARNING]: Found variable using reserved name 'name'."


def test_an_error_of_another_file_names_no_playbook_line():
    output = read("[ERROR]: cannot read it", "Origin: /etc/ansible/ansible.cfg:2:1")

    assert output.error == "cannot read it"


def test_paths_of_the_private_dir_are_said_in_words():
    text = (
        f"derived from value of type 'str' at '{PRIVATE_DIR}/env/extravars'; "
        f"see {PRIVATE_DIR}/project/playbook.yml:12:9 and '{PRIVATE_DIR}/project/playbook.yml', "
        f"temporary files in {PRIVATE_DIR}/tmp/local"
    )

    assert plain_paths(text, PRIVATE_DIR) == (
        "derived from value of type 'str' at the order's inputs; see the playbook, line 12 "
        "and the playbook, temporary files in tmp/local"
    )
    assert plain_paths(text, "") == text


def test_a_task_failure_loses_the_chain_wrappers_and_keeps_the_command_output():
    undefined = {
        "msg": "Task failed: Action failed: Finalization of task args for 'ansible.builtin.copy' failed: "
        "Error while resolving value for 'content': 'y' is undefined"
    }
    command = {"msg": "The command exited with a non-zero return code.", "rc": 2, "stderr": "disk full\n"}
    loop = {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "no"}]}

    assert task_failure(undefined) == "Error while resolving value for 'content': 'y' is undefined"
    assert task_failure(command) == "The command exited with a non-zero return code. (disk full)"
    assert task_failure(loop) == "no"
    assert task_failure({"msg": ""}) == "failed" and task_failure(None) == "failed"
