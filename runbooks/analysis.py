"""What a playbook uses, read from its YAML: modules, roles, collections, the
sequence of its tasks, the variables it defines and the ones it expects, and
what it does as the duplicate finder compares it (each task's module with the
shape of its arguments, the hosts its plays target, the templates and files
it reads or writes).

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
import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml
from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

from runbooks import yamlsafe

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
#: What one analysis may cost, in YAML values and Jinja nodes visited, and
#: the YAML values a playbook may hold to be analysed at all: the pages that
#: analyse every squad's playbooks stay quick whatever a squad writes.
ANALYSIS_BUDGET = 200_000
ANALYSIS_MAX_NODES = yamlsafe.MAX_NODES
#: Characters of Jinja templates parsed per playbook: Jinja's parser reads
#: some tens of kilobytes a second, and a playbook's templates hold a few.
TEMPLATE_CHARACTERS = 100_000

#: Arguments that name a template or file the task reads or writes.
SOURCE_ARGUMENTS = ("src", "template", "file", "dest", "path")
#: ``lookup('template', 'x.j2')``, ``lookup("ansible.builtin.file", "y")``.
LOOKUP = re.compile(r"""lookup\(\s*['"](?:ansible\.builtin\.)?(template|file)['"]\s*,\s*['"]([^'"]+)['"]""")

logger = logging.getLogger(__name__)

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


def action_shape(module: str, arguments: Any) -> str:
    """``ansible.builtin.copy(content,dest,mode)``: a task's module and the
    names of its arguments (not their values); free-form arguments
    (``command: ls``) are ``module(…)``."""
    if isinstance(arguments, dict):
        names = sorted(str(name) for name in arguments)
        return f"{module}({','.join(names)})"
    return f"{module}(…)" if arguments not in (None, "") else f"{module}()"


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


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
    #: ``module(arg)``: each argument name a module is called with (one per
    #: task and argument), so one optional argument more or less changes a
    #: task's share a little, not all of it (``portal.insights.tooling``).
    actions: Counter[str] = field(default_factory=Counter)
    #: ``module(arg,arg)``: each task's whole call, in task order (blocks flattened).
    action_sequence: list[str] = field(default_factory=list)
    #: The host patterns the plays target.
    hosts: Counter[str] = field(default_factory=Counter)
    #: Templates and files read or written, by file name (their folder is
    #: the squad's taste; a name made only of variables says nothing).
    files: Counter[str] = field(default_factory=Counter)

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


class TooLargeToAnalyse(Exception):
    """The analysis went past its budget; the message says what was too large."""


def _is_input(name: str, defined: set[str]) -> bool:
    return name not in defined and name not in PROVIDED_NAMES and not name.startswith(PROVIDED_PREFIXES)


class _Reader:
    """Walks a parsed playbook and fills a ``PlaybookFeatures``."""

    def __init__(self) -> None:
        self.features = PlaybookFeatures()
        self.guarded: set[str] = set()
        self.unguarded: set[str] = set()
        self.budget = ANALYSIS_BUDGET
        self.template_characters = TEMPLATE_CHARACTERS

    # --- Jinja -------------------------------------------------------------
    def read_template(self, text: str, *, bare: bool = False) -> None:
        source = f"{{{{ {text} }}}}" if bare else text
        if not bare and "{{" not in text and "{%" not in text:
            return
        self.template_characters -= len(source)
        if self.template_characters < 0:
            raise TooLargeToAnalyse(f"more than {TEMPLATE_CHARACTERS} characters of templates")
        try:
            tree = _JINJA.parse(source)
        except TemplateSyntaxError:
            return
        except RecursionError:
            # Jinja's parser recurses once per level of brackets or unary
            # operators: a template nested past Python's limit is no playbook
            # anyone maintains, and must not take the page down with it.
            raise TooLargeToAnalyse(f"a template is nested too deeply ({_excerpt(text)})") from None
        self._read_tree(tree)

    def _read_tree(self, tree: nodes.Node) -> None:
        """Note each variable the template reads, guarded (by ``default`` or
        an ``is defined`` test) or not; variables the template assigns itself
        are not read from outside. Walked with a stack, not recursion: a chain
        of thousands of filters is a tree thousands deep."""
        every = list(self._nodes_of(tree, guarded=False))
        assigned = {
            node.name for node, _ in every if isinstance(node, nodes.Name) and node.ctx in ("store", "param")
        }
        for node, guarded in every:
            if isinstance(node, nodes.Name) and node.ctx == "load" and node.name not in assigned:
                (self.guarded if guarded else self.unguarded).add(node.name)

    def _nodes_of(self, tree: nodes.Node, *, guarded: bool) -> Iterator[tuple[nodes.Node, bool]]:
        stack: list[tuple[nodes.Node, bool]] = [(tree, guarded)]
        while stack:
            node, guarded = stack.pop()
            self.spend()
            yield node, guarded
            if isinstance(node, nodes.Name):
                continue
            if isinstance(node, nodes.Filter) and node.name in ("default", "d"):
                if node.node is not None:
                    stack.append((node.node, True))
                stack.extend((child, guarded) for child in [*node.args, *(kw.value for kw in node.kwargs)])
            elif (isinstance(node, nodes.Test) and node.name in ("defined", "undefined", "none")) or (
                isinstance(node, nodes.Getattr | nodes.Getitem) and guarded
            ):
                # A tested name, and what a guarded name is indexed by, are
                # not reads that need a value.
                stack.append((node.node, True))
            else:
                stack.extend((child, guarded) for child in node.iter_child_nodes())

    def spend(self, count: int = 1) -> None:
        """Count work against the budget; past it, the playbook is too large."""
        self.budget -= count
        if self.budget < 0:
            raise TooLargeToAnalyse(f"more than {ANALYSIS_BUDGET} values and template expressions")

    def read_value(self, value: Any, *, sources: bool = False) -> None:
        """Read the templates in ``value``; with ``sources``, also the
        templates and files its lookups name."""
        for text in _strings(value, self):
            self.read_template(text)
            if sources:
                for _kind, path in LOOKUP.findall(text):
                    self.add_file(path)

    def add_file(self, path: str) -> None:
        name = _file_name(path)
        if name and "{{" not in name and "}}" not in name:
            self.features.files[name] += 1

    # --- Playbook ----------------------------------------------------------
    def read_play(self, play: dict[str, Any]) -> None:
        features = self.features
        if "import_playbook" in play or "ansible.builtin.import_playbook" in play:
            features.external_variables = True
            return
        for key in ("vars_files", "vars_prompt", "roles"):
            if play.get(key):
                features.external_variables = True
        hosts = play.get("hosts")
        for pattern in hosts if isinstance(hosts, list) else [hosts]:
            if isinstance(pattern, str) and pattern.strip():
                features.hosts[pattern.strip()] += 1
        for collection in _listed(play.get("collections")):
            if isinstance(collection, str):
                features.collections.add(collection)
        for role in _listed(play.get("roles")):
            name = role.get("role") or role.get("name") if isinstance(role, dict) else role
            if name:
                features.roles.add(str(name))
                features.sequence.append(f"role:{name}")
        self.read_vars(play.get("vars"), sources=True)
        for key in ("vars_prompt",):
            for prompt in _listed(play.get(key)):
                if isinstance(prompt, dict) and prompt.get("name"):
                    features.defined_variables.add(str(prompt["name"]))
        for key in ("hosts", "become_user", "environment"):
            self.read_value(play.get(key))
        for section in TASK_SECTIONS:
            self.read_tasks(_listed(play.get(section)))

    def read_vars(self, variables: Any, *, sources: bool = False) -> None:
        if isinstance(variables, dict):
            self.features.defined_variables.update(str(name) for name in variables)
            self.read_value(list(variables.values()), sources=sources)

    def read_tasks(self, tasks: Iterable[Any]) -> None:
        for task in tasks:
            self.spend()
            if isinstance(task, dict):
                self.read_task(task)

    def read_task(self, task: dict[str, Any]) -> None:
        features = self.features
        if any(section in task for section in ("block", "rescue", "always")):
            self.read_vars(task.get("vars"))
            self._read_keywords(task)
            for section in ("block", "rescue", "always"):
                self.read_tasks(_listed(task.get(section)))
            return
        module_key = next((key for key in task if key not in TASK_KEYWORDS), None)
        arguments: Any = task.get(module_key) if module_key else None
        if module_key is None and isinstance(task.get("action"), str | dict):
            action = task["action"]
            module_key = next(iter(action.split()), None) if isinstance(action, str) else action.get("module")
            arguments = action
        if not module_key:
            return
        module = module_name(str(module_key))
        features.task_count += 1
        features.modules[module] += 1
        features.sequence.append(module)
        self._read_action(module, arguments, task)
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
        self.read_value(arguments, sources=True)
        self._read_keywords(task)

    def _read_action(self, module: str, arguments: Any, task: dict[str, Any]) -> None:
        """The task's call as the duplicate finder compares it: the module,
        the names of its arguments (``action:``'s own ``module`` key aside,
        ``args:`` included) and the files they name."""
        if isinstance(task.get("action"), dict) and arguments is task["action"]:
            arguments = {key: value for key, value in arguments.items() if key != "module"}
        if isinstance(task.get("args"), dict):
            arguments = {**(arguments if isinstance(arguments, dict) else {}), **task["args"]}
        features = self.features
        features.action_sequence.append(action_shape(module, arguments))
        if isinstance(arguments, dict) and arguments:
            features.actions.update(f"{module}({name})" for name in arguments)
        else:
            features.actions[action_shape(module, arguments)] += 1
        if isinstance(arguments, dict):
            for name in SOURCE_ARGUMENTS:
                if isinstance(arguments.get(name), str):
                    self.add_file(arguments[name])

    def _read_keywords(self, task: dict[str, Any]) -> None:
        for key in BARE_EXPRESSIONS:
            value = task.get(key)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str):
                    self.read_template(item, bare=True)
        args = task.get("args")
        if args is not None:
            self.read_value(args, sources=True)
        for key in ("loop", "with_items", "delegate_to", "environment", "name"):
            if key in task:
                self.read_value(task[key])

    def finish(self) -> PlaybookFeatures:
        features = self.features
        features.required_variables = self.unguarded
        features.optional_variables = self.guarded - self.unguarded
        return features


def _strings(value: Any, reader: _Reader) -> Iterator[str]:
    """Every string in ``value`` (mapping keys included), each node counted
    against the reader's budget; walked with a stack, not recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        reader.spend()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                stack.append(child)
                if isinstance(key, str):
                    stack.append(key)
        elif isinstance(item, list):
            stack.extend(reversed(item))


def _listed(value: Any) -> list[Any]:
    """A section that should be a list, or nothing: Ansible refuses anything
    else when it runs, and the analysis reads only what Ansible would."""
    return value if isinstance(value, list) else []


def _excerpt(text: str, length: int = 40) -> str:
    return repr(text if len(text) <= length else text[:length] + "…")


def analyse_playbook(content: str) -> PlaybookFeatures:
    """The features of a playbook (cached by content: runbook versions are
    immutable, so a version is parsed once per process).

    A playbook that cannot be analysed (invalid YAML, anchors or aliases,
    beyond the budget) is ``valid=False`` with the reason in ``error``,
    never an exception: one squad's playbook must not break a page that
    lists everyone's."""
    return _analyse(hashlib.sha256(content.encode()).hexdigest(), content)


@functools.lru_cache(maxsize=1024)
def _analyse(checksum: str, content: str) -> PlaybookFeatures:
    try:
        # Versions stored before anchors were refused may still have them:
        # the same bounded loader refuses them here too, before they expand.
        document = yamlsafe.load(content, max_nodes=ANALYSIS_MAX_NODES)
    except yamlsafe.YAMLRefused as error:
        problem = error.problem or "refused"
        return PlaybookFeatures(
            valid=False, error=f"too large to analyse: {problem}" if error.reason == "size" else problem
        )
    except yaml.YAMLError as error:
        return PlaybookFeatures(valid=False, error=f"not valid YAML: {_yaml_problem(error)}")
    if not isinstance(document, list):
        return PlaybookFeatures(valid=False, error="not a list of plays")
    reader = _Reader()
    try:
        for play in document:
            reader.spend()
            if isinstance(play, dict):
                reader.read_play(play)
    except TooLargeToAnalyse as error:
        return PlaybookFeatures(valid=False, error=f"too large to analyse: {error}")
    except (TypeError, ValueError, AttributeError, LookupError):
        # A shape this reader did not foresee: a bug to fix here, logged as
        # one, but the pages that list every squad's runbooks must still answer.
        logger.exception("Could not analyse the playbook with checksum %s", checksum)
        return PlaybookFeatures(valid=False, error="its structure could not be read")
    return reader.finish()


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's problem with its line, on one line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None)
    if not problem:
        return " ".join(str(error).split())
    return f"{problem} (line {mark.line + 1})" if mark else problem
