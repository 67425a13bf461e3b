"""What a playbook uses, read from its YAML: modules, roles, collections, the
sequence of its tasks, the variables it defines and the ones it expects.

This is static analysis with PyYAML and Jinja2's parser (both already what
Ansible itself uses): it never runs anything. It is good enough to compare
runbooks with each other and with their products' forms; it does not try to
resolve roles, ``include_vars`` or inventories it cannot see, and says so
(``external_variables``) so callers do not accuse a playbook of using a
variable such a source may provide.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

#: Keys of a task that are not its module (Ansible's task keywords).
TASK_KEYWORDS = frozenset(
    {
        "name", "action", "args", "local_action", "when", "register", "loop", "loop_control",
        "with_items", "with_dict", "with_list", "with_fileglob", "with_sequence", "with_nested",
        "with_together", "with_subelements", "with_first_found", "with_lines", "with_indexed_items",
        "with_random_choice", "tags", "become", "become_user", "become_method", "become_flags",
        "notify", "listen", "vars", "environment", "ignore_errors", "ignore_unreachable",
        "changed_when", "failed_when", "until", "retries", "delay", "delegate_to", "delegate_facts",
        "run_once", "no_log", "check_mode", "diff", "any_errors_fatal", "async", "poll",
        "throttle", "timeout", "connection", "collections", "module_defaults", "debugger",
        "remote_user", "port", "block", "rescue", "always",
    }
)  # fmt: skip
#: Play keys holding task lists.
TASK_SECTIONS = ("pre_tasks", "tasks", "post_tasks", "handlers")
#: Task keys whose value is a bare Jinja expression, not a template.
BARE_EXPRESSIONS = ("when", "changed_when", "failed_when", "until", "that")
#: Modules that run a role or include more tasks.
ROLE_MODULES = frozenset({"include_role", "import_role"})
#: Modules that bring variables from a place this analysis cannot see.
EXTERNAL_VARIABLE_MODULES = frozenset({"include_vars", "include_tasks", "import_tasks", "include"})
#: ansible.builtin modules as people often write them without the namespace.
BUILTIN_MODULES = frozenset(
    {
        "add_host", "apt", "apt_key", "apt_repository", "assemble", "assert", "async_status",
        "blockinfile", "command", "copy", "cron", "debconf", "debug", "dnf", "dpkg_selections",
        "expect", "fail", "fetch", "file", "find", "gather_facts", "get_url", "getent", "git",
        "group", "group_by", "hostname", "import_playbook", "import_role", "import_tasks",
        "include_role", "include_tasks", "include_vars", "iptables", "known_hosts", "lineinfile",
        "meta", "package", "package_facts", "pause", "ping", "pip", "raw", "reboot", "replace",
        "rpm_key", "script", "service", "service_facts", "set_fact", "set_stats", "setup", "shell",
        "slurp", "stat", "subversion", "systemd", "systemd_service", "sysvinit", "tempfile",
        "template", "unarchive", "uri", "user", "validate_argument_spec", "wait_for",
        "wait_for_connection", "yum", "yum_repository", "include",
    }
)  # fmt: skip
#: Names every playbook may use without defining them: Ansible's magic
#: variables and template globals, and the variables Squadron's executor sets.
PROVIDED_NAMES = frozenset(
    {
        "item", "hostvars", "groups", "group_names", "inventory_hostname", "inventory_hostname_short",
        "inventory_dir", "inventory_file", "play_hosts", "playbook_dir", "role_path", "role_name",
        "role_names", "omit", "environment", "vars", "lookup", "query", "q", "range", "dict", "lipsum",
        "cycler", "joiner", "namespace", "now", "undef", "true", "false", "none", "True", "False", "None",
        "squadron_run_id", "squadron_check_mode",
    }
)  # fmt: skip
PROVIDED_PREFIXES = ("ansible_", "squadron_")

# Only ever used to *parse* playbook templates, never to render them: no
# output exists to escape.
_JINJA = Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"], autoescape=True)


def module_name(name: str) -> str:
    """The fully qualified name: ``copy`` and ``ansible.legacy.copy`` are
    ``ansible.builtin.copy``."""
    if name.startswith("ansible.legacy."):
        name = name.removeprefix("ansible.legacy.")
    if "." not in name and name in BUILTIN_MODULES:
        return f"ansible.builtin.{name}"
    return name


def collection_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and ".".join(parts[:2]) not in ("ansible.builtin", "ansible.legacy"):
        return ".".join(parts[:2])
    return None


@dataclass
class PlaybookFeatures:
    """What a playbook uses. Multisets (``Counter``) where repetition matters."""

    valid: bool = True
    error: str = ""
    modules: Counter[str] = field(default_factory=Counter)
    roles: set[str] = field(default_factory=set)
    collections: set[str] = field(default_factory=set)
    #: Module names in task order (blocks flattened), for structure.
    sequence: list[str] = field(default_factory=list)
    defined_variables: set[str] = field(default_factory=set)
    #: Names of registered task results (a subset of ``defined_variables``).
    registered: set[str] = field(default_factory=set)
    #: Variables read somewhere without a default or an ``is defined`` guard.
    required_variables: set[str] = field(default_factory=set)
    #: Variables only read with a default or a guard.
    optional_variables: set[str] = field(default_factory=set)
    #: The playbook can get variables from places this analysis cannot read
    #: (roles, vars_files, include_vars), so a "missing" one may not be.
    external_variables: bool = False
    task_count: int = 0

    @property
    def used_variables(self) -> set[str]:
        return self.required_variables | self.optional_variables

    @property
    def inputs(self) -> set[str]:
        """Variables the playbook expects from outside (the order's extra
        vars): read, not defined by the playbook, not provided by Ansible."""
        return {name for name in self.used_variables if _is_input(name, self.defined_variables)}

    @property
    def required_inputs(self) -> set[str]:
        return {name for name in self.required_variables if _is_input(name, self.defined_variables)}


def _is_input(name: str, defined: set[str]) -> bool:
    return name not in defined and name not in PROVIDED_NAMES and not name.startswith(PROVIDED_PREFIXES)


class _Reader:
    """Walks a parsed playbook and fills a ``PlaybookFeatures``."""

    def __init__(self) -> None:
        self.features = PlaybookFeatures()
        self.guarded: set[str] = set()
        self.unguarded: set[str] = set()

    # --- Jinja -------------------------------------------------------------
    def read_template(self, text: str, *, bare: bool = False) -> None:
        source = f"{{{{ {text} }}}}" if bare else text
        if not bare and "{{" not in text and "{%" not in text:
            return
        try:
            tree = _JINJA.parse(source)
        except TemplateSyntaxError:
            return
        assigned = {node.name for node in tree.find_all(nodes.Name) if node.ctx in ("store", "param")}
        self._read_node(tree, guarded=False, assigned=assigned)

    def _read_node(self, node: nodes.Node, *, guarded: bool, assigned: set[str]) -> None:
        if isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name not in assigned:
                (self.guarded if guarded else self.unguarded).add(node.name)
            return
        if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
            if node.node is not None:
                self._read_node(node.node, guarded=True, assigned=assigned)
            for child in [*node.args, *(kwarg.value for kwarg in node.kwargs)]:
                self._read_node(child, guarded=guarded, assigned=assigned)
            return
        if isinstance(node, nodes.Test) and node.name in ("defined", "undefined", "none"):
            self._read_node(node.node, guarded=True, assigned=assigned)
            return
        if isinstance(node, nodes.Getattr | nodes.Getitem) and guarded:
            self._read_node(node.node, guarded=True, assigned=assigned)
            return
        for child in node.iter_child_nodes():
            self._read_node(child, guarded=guarded, assigned=assigned)

    def read_value(self, value: Any) -> None:
        for text in _strings(value):
            self.read_template(text)

    # --- Playbook ----------------------------------------------------------
    def read_play(self, play: dict[str, Any]) -> None:
        features = self.features
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            features.external_variables = True
            return
        for key in ("vars_files", "vars_prompt", "roles"):
            if play.get(key):
                features.external_variables = True
        for collection in play.get("collections") or []:
            if isinstance(collection, str):
                features.collections.add(collection)
        for role in play.get("roles") or []:
            name = role.get("role") or role.get("name") if isinstance(role, dict) else role
            if name:
                features.roles.add(str(name))
                features.sequence.append(f"role:{name}")
        self.read_vars(play.get("vars"))
        for key in ("vars_prompt",):
            for prompt in play.get(key) or []:
                if isinstance(prompt, dict) and prompt.get("name"):
                    features.defined_variables.add(str(prompt["name"]))
        for key in ("hosts", "become_user", "environment"):
            self.read_value(play.get(key))
        for section in TASK_SECTIONS:
            self.read_tasks(play.get(section) or [])

    def read_vars(self, variables: Any) -> None:
        if isinstance(variables, dict):
            self.features.defined_variables.update(str(name) for name in variables)
            self.read_value(list(variables.values()))

    def read_tasks(self, tasks: Iterable[Any]) -> None:
        for task in tasks:
            if isinstance(task, dict):
                self.read_task(task)

    def read_task(self, task: dict[str, Any]) -> None:
        features = self.features
        if any(section in task for section in ("block", "rescue", "always")):
            self.read_vars(task.get("vars"))
            self._read_keywords(task)
            for section in ("block", "rescue", "always"):
                self.read_tasks(task.get(section) or [])
            return
        module_key = next((key for key in task if key not in TASK_KEYWORDS), None)
        arguments: Any = task.get(module_key) if module_key else None
        if module_key is None and isinstance(task.get("action"), str | dict):
            action = task["action"]
            module_key = action.split()[0] if isinstance(action, str) else action.get("module")
            arguments = action
        if not module_key:
            return
        module = module_name(str(module_key))
        features.task_count += 1
        features.modules[module] += 1
        features.sequence.append(module)
        collection = collection_of(module)
        if collection:
            features.collections.add(collection)
        short = module.rsplit(".", 1)[-1]
        if short in ROLE_MODULES and isinstance(arguments, dict) and arguments.get("name"):
            features.roles.add(str(arguments["name"]))
            features.external_variables = True
        if short in EXTERNAL_VARIABLE_MODULES:
            features.external_variables = True
        if short == "set_fact" and isinstance(arguments, dict):
            features.defined_variables.update(str(name) for name in arguments if name != "cacheable")
        if task.get("register"):
            features.defined_variables.add(str(task["register"]))
            features.registered.add(str(task["register"]))
        loop_control = task.get("loop_control")
        if isinstance(loop_control, dict) and loop_control.get("loop_var"):
            features.defined_variables.add(str(loop_control["loop_var"]))
        self.read_vars(task.get("vars"))
        self.read_value(arguments)
        self._read_keywords(task)

    def _read_keywords(self, task: dict[str, Any]) -> None:
        for key in BARE_EXPRESSIONS:
            value = task.get(key)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str):
                    self.read_template(item, bare=True)
        args = task.get("args")
        if args is not None:
            self.read_value(args)
        for key in ("loop", "with_items", "delegate_to", "environment", "name"):
            if key in task:
                self.read_value(task[key])

    def finish(self) -> PlaybookFeatures:
        features = self.features
        features.required_variables = self.unguarded
        features.optional_variables = self.guarded - self.unguarded
        return features


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def analyse_playbook(content: str) -> PlaybookFeatures:
    """The features of a playbook (cached by content: runbook versions are
    immutable, so a version is parsed once per process)."""
    return _analyse(hashlib.sha256(content.encode()).hexdigest(), content)


@functools.lru_cache(maxsize=1024)
def _analyse(checksum: str, content: str) -> PlaybookFeatures:
    try:
        document = yaml.safe_load(content)
    except yaml.YAMLError as error:
        return PlaybookFeatures(valid=False, error=f"not valid YAML: {error}")
    if not isinstance(document, list):
        return PlaybookFeatures(valid=False, error="not a list of plays")
    reader = _Reader()
    for play in document:
        if isinstance(play, dict):
            reader.read_play(play)
    return reader.finish()
