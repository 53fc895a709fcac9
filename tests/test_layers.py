"""docs/design.md's layers, enforced: arrows point down only (imports inside functions count too)."""

import ast
from pathlib import Path

import advnets

PACKAGE = Path(advnets.__file__).parent

APPLICATION = {"cli", "__main__", "reproduce", "studies", "toy_studies", "evaluate", "runs"}
LOOP = {"training"}
AXES = {"losses", "penalties", "transforms", "objectives", "models", "data", "metrics"}
REPORTING = {"reporting"}  # figures: used by the run folders and the data sets, uses neither the loop nor runs
FOUNDATIONS = {"config", "config_reference", "registry", "pixels", "io", "errors"}

ALLOWED = {
    "application": APPLICATION | LOOP | AXES | REPORTING | FOUNDATIONS,
    "loop": LOOP | AXES | REPORTING | FOUNDATIONS,
    "axes": AXES | REPORTING | FOUNDATIONS,
    "reporting": AXES | REPORTING | FOUNDATIONS,
    "foundations": FOUNDATIONS,
}
# config.py resolves the open sections (model, train.update, ...) against the registries, loaded inside
# resolve_sections so that a foundation never loads them at import time.
EXCEPTIONS = {("config", "models"), ("config", "training")}


def layer_of(top: str) -> str:
    for name, members in [
        ("application", APPLICATION),
        ("loop", LOOP),
        ("axes", AXES),
        ("reporting", REPORTING),
        ("foundations", FOUNDATIONS),
    ]:
        if top in members:
            return name
    raise AssertionError(f"advnets.{top} is in no layer: add it to tests/test_layers.py and docs/design.md")


def advnets_imports(path: Path) -> set[str]:
    """The top-level advnets modules that `path` imports, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # `from advnets import x`: a module x counts, a package attribute (__version__) does not
            is_module = [a.name for a in node.names if (PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").is_file()]
            names = [node.module] if node.module != "advnets" else [f"advnets.{name}" for name in is_module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found |= {n.split(".")[1] for n in names if n.startswith("advnets.")}
    return found


def test_every_module_imports_only_its_own_layer_and_those_below():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if top == "__init__":
            continue
        layer = layer_of(top)
        for imported in advnets_imports(path):
            if imported not in ALLOWED[layer] and (top, imported) not in EXCEPTIONS:
                wrong.append(f"{path.relative_to(PACKAGE)} ({layer}) imports advnets.{imported} ({layer_of(imported)})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from advnets.errors import UserError\n\ndef f():\n    from advnets.runs.session import train\n")
    assert advnets_imports(source) == {"errors", "runs"}
