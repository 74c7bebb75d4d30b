"""Imports point down the layers (ARCHITECTURE.md); siblings in a layer stay independent."""

from __future__ import annotations

import ast
from pathlib import Path

import atroposd

PACKAGE = Path(atroposd.__file__).resolve().parent

LAYERS: dict[str, int] = {
    **dict.fromkeys(("errors", "domain", "captions", "clock"), 0),
    **dict.fromkeys(
        (
            "store",
            "bus",
            "render",
            "watch",
            "providers",
            "vault",
            "log",
            "emulator",
            "diskfull",
            "schedule",
            "keys",
            "notify",
            "sdnotify",
            "lifecycle",
        ),
        1,
    ),
    **dict.fromkeys(("config", "pipeline", "preflight"), 2),
    # The top is ordered: the composition root, then the commands built on it, then the CLI
    # that dispatches to them, then ``python -m atroposd``.
    "app": 3,
    "reload": 3,
    **dict.fromkeys(
        (
            "api",
            "once",
            "ledger_cli",
            "demo",
            "auth_cli",
            "render_cli",
            "probe_cli",
            "schedule_cli",
            "doctor",
        ),
        4,
    ),
    "cli": 5,
    "__main__": 6,
}
# Same-layer imports that are allowed on purpose: (importer component, imported module prefix).
SIBLING_EXCEPTIONS = {
    ("vault", "atroposd.providers.base"),  # the credentials type
    ("keys", "atroposd.vault"),  # the keys open the vault
    ("app", "atroposd.reload"),  # the composition root's reload rules, in a module of their own
}
PROVIDERS_NEVER_IMPORT = ("store", "bus", "pipeline")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def component(module: str) -> str:
    """``atroposd.pipeline.retry`` -> ``pipeline``; ``atroposd`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(name: str) -> bool:
    return (PACKAGE / f"{name}.py").is_file() or (PACKAGE / name / "__init__.py").is_file()


def atroposd_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every ``atroposd.*`` import in one file, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("atroposd")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target == "atroposd" or target.startswith("atroposd."):
                if target == "atroposd":  # from atroposd import x: a submodule, or a name
                    found += [
                        (node.lineno, f"atroposd.{a.name}" if _is_module(a.name) else target)
                        for a in node.names
                    ]
                else:
                    found.append((node.lineno, target))
    return found


def violations() -> dict[str, list[str]]:
    """Every import that breaks a rule, grouped by rule."""
    problems: dict[str, list[str]] = {
        "unplaced": [],
        "providers": [],
        "emulator": [],
        "upward": [],
        "siblings": [],
    }
    for path in sorted(PACKAGE.rglob("*.py")):
        me = module_name(path)
        mine = component(me)
        for line, target in atroposd_imports(path):
            theirs = component(target)
            where = f"{path.relative_to(PACKAGE.parent)}:{line}: {me} imports {target}"
            if not mine or not theirs or mine == theirs:
                continue  # the package root, or the module's own package
            if mine not in LAYERS or theirs not in LAYERS:
                problems["unplaced"].append(where)
                continue
            if mine == "providers" and theirs in PROVIDERS_NEVER_IMPORT:
                problems["providers"].append(where)
            if mine == "emulator" and LAYERS[theirs] != 0:
                problems["emulator"].append(where)
            if LAYERS[theirs] > LAYERS[mine]:
                problems["upward"].append(f"{where} (layer {LAYERS[mine]} -> {LAYERS[theirs]})")
            elif LAYERS[theirs] == LAYERS[mine] and not any(
                mine == src and (target == dst or target.startswith(dst + "."))
                for src, dst in SIBLING_EXCEPTIONS
            ):
                problems["siblings"].append(f"{where} (both in layer {LAYERS[mine]})")
    return problems


def _report(rule: str) -> str:
    found = violations()[rule]
    return f"{len(found)} import(s) break the rule:\n  " + "\n  ".join(found)


def test_every_top_level_module_is_placed_in_a_layer() -> None:
    names = {p.stem for p in PACKAGE.glob("*.py")} | {
        p.parent.name for p in PACKAGE.glob("*/__init__.py")
    }
    names.discard("__init__")
    missing = sorted(names - set(LAYERS))
    assert not missing, f"modules not in any layer: {missing}"
    assert not violations()["unplaced"], _report("unplaced")


def test_the_import_walker_sees_relative_and_absolute_imports() -> None:
    retry = PACKAGE / "pipeline" / "retry.py"
    assert any(t == "atroposd.errors" for _, t in atroposd_imports(retry))
    assert component("atroposd.pipeline.retry") == "pipeline"
    assert module_name(PACKAGE / "store" / "__init__.py") == "atroposd.store"


def test_providers_never_import_store_bus_or_pipeline() -> None:
    assert not violations()["providers"], _report("providers")


def test_emulator_imports_only_layer_zero() -> None:
    assert not violations()["emulator"], _report("emulator")


def test_no_module_imports_a_higher_layer() -> None:
    assert not violations()["upward"], _report("upward")


def test_siblings_in_a_layer_do_not_import_each_other() -> None:
    assert not violations()["siblings"], _report("siblings")
