"""Direction of imports (issue 9; docs/architecture.md):

    ehr, common  <-  audit  <-  providers  <-  mfa, api_access  <-  epcs_access, eprescribe  <-  webhooks

A lower app never imports a higher one, and epcs_access and eprescribe never import each
other. webhooks sits on top: it hears of audit events through `audit.subscribe` and no
lower app imports it. idme_client and dea_registry_client import no EHR app; idme_sandbox imports no EHR app
and not ehr (only common); no EHR app imports idme_sandbox (they meet over HTTP). common
imports none of ours.

A small AST check over every .py file of these packages, migrations included, and every
import in it: module level, inside functions and under TYPE_CHECKING alike. Django's own
references to apps in settings, urls and migrations are strings (INSTALLED_APPS,
include("..."), migration dependencies) and are not imports, so they are not checked.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Layers from the bottom up; an app may import its own layer's package and anything below.
LAYERS: dict[str, int] = {
    "common": 0,
    "ehr": 1,
    "audit": 2,
    "providers": 3,
    "mfa": 4,
    "api_access": 4,
    "epcs_access": 5,
    "eprescribe": 5,
    "webhooks": 6,
}
EHR_APPS = ("ehr", "audit", "providers", "mfa", "api_access", "epcs_access", "eprescribe", "webhooks")
CLIENTS = ("idme_client", "dea_registry_client")
SANDBOX = "idme_sandbox"
OURS = (*LAYERS, *CLIENTS, SANDBOX)


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str  # the top-level package the file belongs to
    imported: str  # the dotted module named in the import

    @property
    def target(self) -> str:
        return self.imported.split(".")[0]


def imports_in(root: Path, package: str) -> Iterator[Import]:
    """Every absolute import of one of our packages in `package`'s .py files, in line order."""
    for path in sorted((root / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        found: list[Import] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            found += [Import(path, node.lineno, package, name) for name in names if name.split(".")[0] in OURS]
        yield from sorted(found, key=lambda item: item.line)


# --- the rules: each returns why an import breaks it, or None ---------------------------------
def layer_rule(found: Import) -> str | None:
    """EHR layers: never import a higher layer, nor a sibling on the same layer."""
    if found.importer not in LAYERS or found.target not in LAYERS or found.target == found.importer:
        return None
    mine, theirs = LAYERS[found.importer], LAYERS[found.target]
    if theirs > mine:
        return f"{found.importer} sits below {found.target} and must not import it"
    if theirs == mine:
        return f"{found.importer} and {found.target} sit side by side and never import each other"
    return None


def client_rule(found: Import) -> str | None:
    """The typed clients import no EHR app (nor the sandbox)."""
    if found.importer in CLIENTS and found.target in (*EHR_APPS, SANDBOX):
        return f"{found.importer} is a plain client and imports no EHR app"
    return None


def common_rule(found: Import) -> str | None:
    """common is neutral: it imports none of ours."""
    if found.importer == "common" and found.target != "common":
        return "common is neutral and imports none of our packages"
    return None


def ehr_never_imports_the_sandbox(found: Import) -> str | None:
    if found.importer in (*EHR_APPS, *CLIENTS, "common") and found.target == SANDBOX:
        return f"{found.importer} reaches the ID.me sandbox over HTTP only, never by import"
    return None


def sandbox_rule(found: Import) -> str | None:
    """The sandbox runs as its own service: it imports common only (no EHR app, not ehr)."""
    if found.importer == SANDBOX and found.target in (*EHR_APPS, *CLIENTS):
        return f"idme_sandbox imports no EHR code (only common), not {found.target}"
    return None


Rule = Callable[[Import], "str | None"]


def violations(root: Path, rules: tuple[Rule, ...], packages: tuple[str, ...] = OURS) -> list[str]:
    found: list[str] = []
    for package in packages:
        if not (root / package).is_dir():
            continue
        for item in imports_in(root, package):
            for rule in rules:
                reason = rule(item)
                if reason is not None:
                    found.append(f"{item.path.relative_to(root)}:{item.line} imports {item.imported}: {reason}")
    return found


def check(rules: tuple[Rule, ...]) -> None:
    broken = violations(ROOT, rules)
    for line in broken:
        print(line)
    assert not broken, f"{len(broken)} import(s) break the direction of imports:\n" + "\n".join(broken)


def test_ehr_apps_import_only_downwards() -> None:
    check((layer_rule, common_rule, ehr_never_imports_the_sandbox))


def test_the_clients_import_no_ehr_app() -> None:
    check((client_rule,))


def test_the_sandbox_imports_no_ehr_code() -> None:
    check((sandbox_rule,))


def test_the_check_sees_imports_inside_functions_and_type_checking(tmp_path: Path) -> None:
    """The checker itself: a function-level import and a TYPE_CHECKING import both count."""
    package = tmp_path / "providers"
    package.mkdir()
    (package / "late.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from epcs_access.models import Thing\n"
        "def f():\n"
        "    from mfa import challenges\n"
        "    import eprescribe.services\n"
        "from providers import models\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    found = violations(tmp_path, (layer_rule,), ("providers",))
    assert found == [
        "providers/late.py:3 imports epcs_access.models: providers sits below epcs_access and must not import it",
        "providers/late.py:5 imports mfa: providers sits below mfa and must not import it",
        "providers/late.py:6 imports eprescribe.services: providers sits below eprescribe and must not import it",
    ]
