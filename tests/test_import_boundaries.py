"""The import boundaries of DESIGN.md ("Layout") hold: dependencies flow one way,
portal -> catalogue -> runbooks -> squads; inside portal the faces (pages, api)
sit over insights, over web, over the domains; and no package has an import
cycle between its modules. The contracts are import-linter's, in pyproject.toml
([tool.importlinter]); `make lint` checks the same ones."""

from __future__ import annotations

import tomllib
from pathlib import Path

import grimp
import pytest
from importlinter.application import output
from importlinter.cli import lint_imports
from importlinter.contracts.acyclic_siblings import AcyclicSiblingsContract
from importlinter.contracts.forbidden import ForbiddenContract
from importlinter.contracts.independence import IndependenceContract
from importlinter.contracts.layers import LayersContract

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
CONTRACT_TYPES = {
    contract.type_name: contract
    for contract in (LayersContract, ForbiddenContract, IndependenceContract, AcyclicSiblingsContract)
}


def configuration() -> dict:
    return tomllib.loads(PYPROJECT.read_text())["tool"]


def import_cycles() -> list[str]:
    """Each import cycle left once the contracts' ignored imports are taken
    out, as a chain of modules that comes back to where it starts."""
    settings = configuration()["importlinter"]
    graph = grimp.build_graph(*settings["root_packages"], cache_dir=None)
    acyclic = [contract for contract in settings["contracts"] if contract["type"] == "acyclic_siblings"]
    for expression in (ignored for contract in acyclic for ignored in contract.get("ignore_imports", [])):
        importer, imported = (part.strip() for part in expression.split("->"))
        graph.remove_import(importer=importer, imported=imported)
    cycles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            # Each cycle once: from its first module in alphabetical order.
            if back and module == min(back):
                cycles.append(" -> ".join((module, *back)))
    return cycles


def test_the_import_contracts_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)

    with output.console.capture() as report:
        status = lint_imports(config_filename=str(PYPROJECT), no_cache=True, no_logo=True)

    assert status == 0, failure(report.get())


def failure(report: str) -> str:
    """import-linter's report, and each cycle in full where it names only the
    import that would break it."""
    cycles = import_cycles() if "No cycles are allowed" in report else []
    return report + "".join(f"\nImport cycle: {cycle}" for cycle in cycles)


def broken_by(importer: str, imported: str) -> set[str]:
    """The contracts one more import would break, checked on the real graph."""
    settings = configuration()["importlinter"]
    graph = grimp.build_graph(*settings["root_packages"], cache_dir=None)
    graph.add_import(importer=importer, imported=imported)
    session = {"root_packages": settings["root_packages"]}
    broken = set()
    for options in settings["contracts"]:
        contract_options = {key: value for key, value in options.items() if key not in ("id", "name", "type")}
        contract = CONTRACT_TYPES[options["type"]](
            name=options["name"], session_options=session, contract_options=contract_options
        )
        if not contract.check(graph, verbose=False).kept:
            broken.add(options["id"])
    return broken


@pytest.mark.parametrize(
    ("importer", "imported", "contract"),
    [
        ("squads.models", "portal.orders.models", "apps-one-way"),
        ("runbooks.models", "catalogue.models", "apps-one-way"),
        ("portal.orders.transitions", "portal.pages.orders", "portal-faces-over-domains"),
        ("portal.notifications.services", "portal.insights.reports", "portal-faces-over-domains"),
        ("portal.orders.submission", "portal.web.wording", "portal-faces-over-domains"),
        ("portal.web.wording", "portal.api.base", "portal-faces-over-domains"),
        ("runbooks.models", "runbooks.execution.run", "no-cycles"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(importer: str, imported: str, contract: str) -> None:
    assert contract in broken_by(importer, imported)
