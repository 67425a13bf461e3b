"""The demo catalogue: its file is a sound catalogue, and every automated
product's playbook really runs on this machine and leaves checkable results.

The playbooks are run with ``ansible-playbook`` the way the executor feeds
them: the order's inputs (form defaults filled in) in the extra-vars file the
executor writes (every string marked unsafe), a one-host local inventory, and
``SQUADRON_OUTPUT_DIR`` in the environment. They follow ansible-core 2.19's
porting guide: conditionals are plain expressions with a boolean result (no
``{{ }}`` in them, no string taken for true), and a run prints no warning.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from ansible.vars.reserved import get_reserved_names
from cryptography import x509
from cryptography.x509.oid import NameOID
from jsonschema import Draft202012Validator, FormatChecker

from catalogue.schema import form_schema_problems, secret_fields
from catalogue.services import find_dependency_cycle
from runbooks.extravars import render_extravars
from runbooks.playbooks import validate_playbook
from squads.choices import Role

DEMO_DIR = Path(__file__).resolve().parents[2] / "catalogue" / "demo"
DEMO_FILE = DEMO_DIR / "catalogue.yaml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"

# The only modules the demo playbooks may use: ansible-core's, nothing that
# needs a collection, a remote host or a shell.
ALLOWED_MODULES = {
    "ansible.builtin.assert",
    "ansible.builtin.command",
    "ansible.builtin.copy",
    "ansible.builtin.debug",
    "ansible.builtin.file",
    "ansible.builtin.lineinfile",
    "ansible.builtin.pause",
    "ansible.builtin.set_fact",
    "ansible.builtin.set_stats",
    "ansible.builtin.stat",
}
#: Task keywords that hold a conditional: a bare Jinja expression since
#: ansible-core 2.19, never a template, and its result must be a boolean.
CONDITIONALS = ("when", "changed_when", "failed_when", "until")
TASK_KEYWORDS = {
    "name", "vars", "when", "loop", "loop_control", "register", "changed_when", "failed_when",
    "check_mode", "no_log", "tags", "notify",
}  # fmt: skip

SECRET = "correct-horse-battery-staple-42"

# Valid inputs per automated product; the form's defaults fill in the rest.
# Some values look like Jinja on purpose: an input is data, never a template.
SAMPLE_INPUTS: dict[str, dict] = {
    "ip-block": {
        "network": "10.20.30.64",
        "prefix_length": 26,
        "site": "par1",
        "stage": "production",
        "purpose": "Billing app tier {{ 7 * 6 }}",
    },
    "vlan": {
        "vlan_id": 120,
        "vlan_name": "FINANCE_USERS",
        "gateway": "10.20.30.1",
        "description": "Finance users (2nd floor)",
        "trunk_to_firewall": True,
    },
    "dns-record": {"record_name": "billing", "zone": "lab.northwind.example", "address": "10.20.30.70"},
    "database-alias": {
        "record_name": "billing-primary",
        "zone": "db-lab.northwind.example",
        "address": "10.50.1.10",
    },
    "vm": {
        "hostname": "billing-app-01",
        "cpu": 4,
        "memory_gb": 8,
        "owner_email": "priya@northwind.example",
        "packages": ["nginx", "git"],
        "notes": "Needs the {{ finance }} share mounted.\nCall Priya before rebooting.",
    },
    "tls-certificate": {
        "common_name": "billing.corp.northwind.example",
        "validity_days": 90,
        "extra_names": "billing-api.corp.northwind.example,billing.lab.northwind.example",
    },
    "service-account": {
        "account_name": "svc-billing-export",
        "owner_email": "elena@northwind.example",
        "scopes": ["orders:read", "reports:read"],
        "api_secret": SECRET,
    },
    "postgres-database": {
        "database_name": "billing",
        "size": "medium",
        "extensions": ["pgcrypto", "pg_stat_statements"],
        "retention_days": 14,
    },
    "k8s-namespace": {
        "namespace_name": "billing-dev",
        "cpu_cores": 1.5,
        "memory_gib": 4,
        "team_email": "billing-team@northwind.example",
    },
}

# Products whose re-run legitimately changes something: renewing a service
# account moves its expiry date (which differs when a run crosses midnight).
RERUN_MAY_CHANGE = {"service-account"}


def load_demo() -> dict:
    return yaml.safe_load(DEMO_FILE.read_text())


DEMO = load_demo()
PRODUCTS = {product["slug"]: product for product in DEMO["products"]}
RUNBOOKS = {runbook["slug"]: runbook for runbook in DEMO["runbooks"]}
AUTOMATED = sorted(slug for slug, product in PRODUCTS.items() if product["fulfilment"] == "automated")


def order_inputs(slug: str) -> dict:
    """The sample inputs of ``slug`` with the form's defaults filled in, as the portal sends them."""
    form = PRODUCTS[slug]["form"]
    inputs = {name: spec["default"] for name, spec in form.get("properties", {}).items() if "default" in spec}
    inputs.update(SAMPLE_INPUTS[slug])
    return inputs


def playbook_path(slug: str) -> Path:
    return DEMO_DIR / RUNBOOKS[PRODUCTS[slug]["runbook"]]["playbook"]


# --- The catalogue file ------------------------------------------------------


def test_every_demo_form_is_an_acceptable_order_form():
    for slug, product in PRODUCTS.items():
        assert form_schema_problems(product["form"]) == [], slug


def test_demo_has_the_features_a_demo_must_show():
    categories = {category["name"] for category in DEMO["categories"]}
    assert len(categories) >= 4
    assert {product["category"] for product in PRODUCTS.values()} <= categories
    assert len(PRODUCTS) >= 8
    assert any(product["fulfilment"] == "manual" for product in PRODUCTS.values())
    assert any(product.get("approval") == "squad" for product in PRODUCTS.values())
    assert any(secret_fields(product["form"]) for product in PRODUCTS.values())
    assert any(
        PRODUCTS[dependency]["squad"] != product["squad"]
        for product in PRODUCTS.values()
        for dependency in product.get("depends_on", [])
    ), "no product depends on another squad's product"
    edges = {slug: set(product.get("depends_on", [])) for slug, product in PRODUCTS.items()}
    assert find_dependency_cycle(edges) is None


def test_demo_references_resolve():
    squads = {squad["slug"]: squad for squad in DEMO["squads"]}
    people = {member["username"] for squad in squads.values() for member in squad["members"]}
    assert len(squads) >= 4
    for squad in squads.values():
        assert {member["role"] for member in squad["members"]} <= set(Role.values), squad["slug"]
    assert {Role.PRODUCT_OWNER, Role.SME, Role.ENGINEER, Role.PLATFORM_LEAD, Role.CHAPTER_LEAD} <= {
        member["role"] for squad in squads.values() for member in squad["members"]
    }
    assert len(DEMO["chapters"]) >= 2
    for chapter in DEMO["chapters"]:
        assert chapter["lead"] in people and set(chapter["members"]) <= people, chapter["slug"]
    for runbook in RUNBOOKS.values():
        assert runbook["squad"] in squads
        assert (DEMO_DIR / runbook["playbook"]).is_file(), runbook["playbook"]
    for slug, product in PRODUCTS.items():
        assert product["squad"] in squads, slug
        assert set(product.get("depends_on", [])) <= PRODUCTS.keys(), slug
        if product["fulfilment"] == "automated":
            assert RUNBOOKS[product["runbook"]]["squad"] == product["squad"], slug
        else:
            assert "runbook" not in product, slug


def test_demo_forms_use_every_supported_kind_of_field():
    kinds: set[str] = set()
    for product in PRODUCTS.values():
        for spec in product["form"]["properties"].values():
            kind = spec["type"]
            kinds.add(kind)
            kinds.update(f"{kind}.{keyword}" for keyword in spec if keyword not in {"type", "title"})
            if "format" in spec:
                kinds.add(f"format.{spec['format']}")
            if spec.get("x-widget"):
                kinds.add(f"widget.{spec['x-widget']}")
            if kind == "array":
                assert spec["items"]["type"] == "string" and spec["items"]["enum"]
    expected = {
        "string.pattern", "format.email", "format.hostname", "format.ipv4", "string.minLength",
        "string.maxLength", "widget.textarea", "string.enum", "string.x-secret", "string.description",
        "string.default", "integer.minimum", "integer.maximum", "number.minimum", "number.maximum",
        "boolean.default", "array.uniqueItems", "array.items",
    }  # fmt: skip
    assert expected <= kinds, expected - kinds


def test_form_properties_are_not_ansible_reserved_names():
    # Properties become extra vars: 'name' or 'environment' would be ignored
    # or break the play.
    reserved = get_reserved_names()
    for slug, product in PRODUCTS.items():
        assert not set(product["form"]["properties"]) & reserved, slug


def test_sample_inputs_are_valid_orders():
    assert set(SAMPLE_INPUTS) == set(AUTOMATED)
    for slug in AUTOMATED:
        validator = Draft202012Validator(PRODUCTS[slug]["form"], format_checker=FormatChecker())
        assert [error.message for error in validator.iter_errors(order_inputs(slug))] == [], slug


@pytest.mark.parametrize("slug", AUTOMATED)
def test_demo_playbook_is_self_contained_and_local(slug):
    plays = validate_playbook(playbook_path(slug).read_text())
    for play in plays:
        assert play["hosts"] == "localhost"
        assert play["connection"] == "local"
        assert play["gather_facts"] is False
        for task in play["tasks"]:
            modules = set(task) - TASK_KEYWORDS
            assert len(modules) == 1 and modules <= ALLOWED_MODULES, (task["name"], modules)
            if "ansible.builtin.command" in task:
                # argv keeps inputs out of any shell or word splitting.
                assert set(task["ansible.builtin.command"]) <= {"argv", "creates"}, task["name"]
            for condition in conditions_of(task):
                assert isinstance(condition, bool) or (
                    isinstance(condition, str) and "{{" not in condition and "{%" not in condition
                ), (task["name"], condition)


def conditions_of(task: dict) -> list[object]:
    """Every conditional of ``task``: its ``when`` and kin, and what an
    ``assert`` checks."""
    found: list[object] = []
    checks = [task.get(keyword) for keyword in CONDITIONALS]
    checks.append((task.get("ansible.builtin.assert") or {}).get("that"))
    for check in checks:
        if isinstance(check, list):
            found.extend(check)
        elif check is not None:
            found.append(check)
    return found


# --- Real runs ---------------------------------------------------------------


def run_playbook(
    slug: str, tmp_path: Path, output_dir: Path | None, *extra_args: str
) -> subprocess.CompletedProcess:
    extravars = tmp_path / "extravars"
    extravars.write_text(render_extravars(inputs=order_inputs(slug), trusted={"squadron_run_id": 1}))
    inventory = tmp_path / "hosts"
    inventory.write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    # Not coverage's variables either: Ansible's processes run none of our code,
    # and measuring them (every module it runs) only slows the suite.
    excluded = ("ANSIBLE_", "SQUADRON_", "COVERAGE_")
    env = {key: value for key, value in os.environ.items() if not key.startswith(excluded)}
    env.update(
        ANSIBLE_LOCALHOST_WARNING="false",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
        ANSIBLE_REMOTE_TEMP=str(tmp_path / "ansible-tmp"),
    )
    if output_dir is not None:
        env["SQUADRON_OUTPUT_DIR"] = str(output_dir)
    return subprocess.run(
        [
            str(ANSIBLE_PLAYBOOK),
            str(playbook_path(slug)),
            "-i",
            str(inventory),
            "-e",
            f"@{extravars}",
            *extra_args,
        ],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def assert_no_warning(result: subprocess.CompletedProcess) -> None:
    """Nothing deprecated, no broken conditional, no warning of any kind."""
    output = result.stdout + result.stderr
    assert "WARNING]" not in output and "[ERROR]" not in output, output


def changed_count(result: subprocess.CompletedProcess) -> int:
    match = re.search(r"localhost\s+: ok=\d+\s+changed=(\d+)", result.stdout)
    assert match, result.stdout
    return int(match.group(1))


def snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes() for path in directory.rglob("*") if path.is_file()
    }


def check_ip_block(out: Path, stdout: str) -> None:
    site = out / "ip-block" / "par1"
    assert (site / "ledger.txt").read_text() == "10.20.30.64/26\tproduction\tBilling app tier {{ 7 * 6 }}\n"
    record = yaml.safe_load((site / "10.20.30.64_26.yml").read_text())
    assert record["block"] == "10.20.30.64/26"
    assert record["gateway"] == "10.20.30.65"
    assert record["usable_addresses"] == 62
    assert "Reserved 10.20.30.64/26 at par1" in stdout


def check_vlan(out: Path, stdout: str) -> None:
    config = (out / "vlan" / "par1" / "vlan120.cfg").read_text()
    assert "vlan 120\n   name FINANCE_USERS\n" in config
    assert (
        "interface Vlan120\n   description Finance users (2nd floor)\n   ip address 10.20.30.1/24\n" in config
    )
    assert config.count("! ---- access switch") == 3
    assert "! ---- firewall par1-fw-01" in config
    # The rendered configuration is shown in the log, line by line.
    assert '"   switchport trunk allowed vlan add 120",' in stdout


def check_dns_record(out: Path, stdout: str) -> None:
    zone = (out / "dns-record" / "lab.northwind.example.zone").read_text()
    assert "$ORIGIN lab.northwind.example.\n" in zone
    assert re.search(r"^billing\s+3600\s+IN A\s+10\.20\.30\.70$", zone, re.MULTILINE)
    assert "billing.lab.northwind.example. 3600 IN A 10.20.30.70" in stdout


def check_database_alias(out: Path, stdout: str) -> None:
    zone = (out / "database-alias" / "db-lab.northwind.example.zone").read_text()
    assert "kept by the Data squad" in zone
    assert re.search(r"^billing-primary\s+300\s+IN A\s+10\.50\.1\.10$", zone, re.MULTILINE)


def check_vm(out: Path, stdout: str) -> None:
    vm = out / "vm" / "billing-app-01"
    spec = yaml.safe_load((vm / "vm.yml").read_text())
    assert (spec["cpu"], spec["memory_mb"], spec["disks"][0]["size_gb"]) == (4, 8192, 40)
    assert spec["owner"] == "priya@northwind.example"
    assert spec["backup"]["enabled"] is True
    user_data = (vm / "cloud-init" / "user-data").read_text()
    assert user_data.startswith("#cloud-config\n")
    assert yaml.safe_load(user_data)["packages"] == ["nginx", "git", "prometheus-node-exporter", "restic"]
    assert (
        vm / "cloud-init" / "meta-data"
    ).read_text() == "instance-id: billing-app-01\nlocal-hostname: billing-app-01\n"
    assert (vm / "disks").is_dir()
    assert (vm / "NOTES.md").read_text() == SAMPLE_INPUTS["vm"]["notes"] + "\n"
    assert "item=4/4 boot and apply cloud-init" in stdout


def check_tls_certificate(out: Path, stdout: str) -> None:
    issued = out / "tls-certificate" / "issued" / "billing.corp.northwind.example"
    certificate = x509.load_pem_x509_certificate((issued / "server.crt").read_bytes())
    authority = x509.load_pem_x509_certificate((out / "tls-certificate" / "ca" / "ca.crt").read_bytes())
    certificate.verify_directly_issued_by(authority)
    common_name = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert common_name == "billing.corp.northwind.example"
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "billing.corp.northwind.example",
        "billing-api.corp.northwind.example",
        "billing.lab.northwind.example",
    ]
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days == 90
    assert (issued / "server.key").stat().st_mode & 0o777 == 0o600
    assert (issued / "fullchain.pem").read_text().count("BEGIN CERTIFICATE") == 2
    assert "subject=O = Northwind, CN = billing.corp.northwind.example" in stdout


def check_service_account(out: Path, stdout: str) -> None:
    accounts = out / "service-account"
    record = yaml.safe_load((accounts / "svc-billing-export.yml").read_text())
    assert record["scopes"] == ["orders:read", "reports:read"]
    expected = hashlib.sha256(f"svc-billing-export:{SECRET}".encode()).hexdigest()
    assert record["secret"]["fingerprint"] == expected
    assert (accounts / "accounts.txt").read_text().startswith("svc-billing-export\telena@northwind.example\t")
    # The secret appears nowhere: not in the log, not in any file.
    assert SECRET not in stdout
    for path in out.rglob("*"):
        assert not path.is_file() or SECRET not in path.read_text(), path


def check_postgres_database(out: Path, stdout: str) -> None:
    database = out / "postgres-database" / "billing"
    sql = (database / "provision.sql").read_text()
    assert "CREATE DATABASE billing OWNER billing_owner ENCODING 'UTF8' TEMPLATE template0;" in sql
    assert "CREATE ROLE billing_owner LOGIN CONNECTION LIMIT 200;" in sql
    assert 'CREATE EXTENSION IF NOT EXISTS "pgcrypto";' in sql
    policy = yaml.safe_load((database / "backup-policy.yml").read_text())
    assert policy["retention_days"] == 14 and policy["point_in_time_recovery"] is True
    assert (database / "connection.txt").read_text().startswith("postgresql://billing_owner@")
    assert '"REVOKE ALL ON DATABASE billing FROM PUBLIC;",' in stdout


def check_k8s_namespace(out: Path, stdout: str) -> None:
    manifests = out / "k8s-namespace" / "billing-dev"
    namespace = yaml.safe_load((manifests / "00-namespace.yaml").read_text())
    assert (namespace["kind"], namespace["metadata"]["name"]) == ("Namespace", "billing-dev")
    quota = yaml.safe_load((manifests / "10-resourcequota.yaml").read_text())
    assert quota["spec"]["hard"]["requests.cpu"] == "1.5"
    assert quota["spec"]["hard"]["requests.memory"] == "4Gi"
    binding = yaml.safe_load((manifests / "20-rolebinding.yaml").read_text())
    assert binding["subjects"][0]["name"] == "billing-team@northwind.example"
    assert yaml.safe_load((manifests / "30-networkpolicy.yaml").read_text())["kind"] == "NetworkPolicy"
    assert "Namespace billing-dev (dev)" in stdout


CHECKS: dict[str, Callable[[Path, str], None]] = {
    "ip-block": check_ip_block,
    "vlan": check_vlan,
    "dns-record": check_dns_record,
    "database-alias": check_database_alias,
    "vm": check_vm,
    "tls-certificate": check_tls_certificate,
    "service-account": check_service_account,
    "postgres-database": check_postgres_database,
    "k8s-namespace": check_k8s_namespace,
}


def test_every_automated_product_has_a_result_check():
    assert set(CHECKS) == set(AUTOMATED)


@pytest.mark.slow
@pytest.mark.parametrize("slug", AUTOMATED)
def test_demo_playbook_fulfils_an_order(slug, tmp_path):
    out = tmp_path / "output"

    dry_run = run_playbook(slug, tmp_path, out, "--check")
    assert dry_run.returncode == 0, dry_run.stdout + dry_run.stderr
    assert not out.exists(), "check mode wrote files"
    assert_no_warning(dry_run)

    result = run_playbook(slug, tmp_path, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_warning(result)
    CHECKS[slug](out, result.stdout)

    # Running the same order again changes nothing.
    before = snapshot(out)
    again = run_playbook(slug, tmp_path, out)
    assert again.returncode == 0, again.stdout + again.stderr
    if slug not in RERUN_MAY_CHANGE:
        assert changed_count(again) == 0, again.stdout
        assert snapshot(out) == before


@pytest.mark.slow
@pytest.mark.parametrize("slug", AUTOMATED)
def test_demo_playbook_refuses_to_run_without_an_output_dir(slug, tmp_path):
    result = run_playbook(slug, tmp_path, None)
    assert result.returncode != 0
    assert "SQUADRON_OUTPUT_DIR is empty or not an absolute path" in result.stdout
