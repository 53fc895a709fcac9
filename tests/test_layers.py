"""docs/design.md's layers, enforced: arrows point down only (imports inside functions count too); and no two
files import each other, however indirectly."""

import ast
from pathlib import Path

import advnets

PACKAGE = Path(advnets.__file__).parent

APPLICATION = {
    "cli", "__main__", "reproduce", "studies", "study_time", "toy_studies", "image_studies", "mnist_studies", "evaluate", "runs"
}
LOOP = {"training"}
AXES = {"losses", "penalties", "transforms", "objectives", "models", "data", "metrics"}
REPORTING = {"reporting"}  # figures: used by the run folders and the data sets, uses neither the loop nor runs
FOUNDATIONS = {
    "config", "config_reference", "checks", "registry", "randomness", "pixels", "io", "errors", "allocator"
}

ALLOWED = {
    "application": APPLICATION | LOOP | AXES | REPORTING | FOUNDATIONS,
    "loop": LOOP | AXES | REPORTING | FOUNDATIONS,
    "axes": AXES | REPORTING | FOUNDATIONS,
    "reporting": AXES | REPORTING | FOUNDATIONS,
    "foundations": FOUNDATIONS,
}


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
            if imported not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE)} ({layer}) imports advnets.{imported} ({layer_of(imported)})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("from advnets.errors import UserError\n\ndef f():\n    from advnets.runs.session import train\n")
    assert advnets_imports(source) == {"errors", "runs"}


# ------------------------------------------------------------------------------------------------ import cycles
def module_file(package: Path, dotted: str) -> Path | None:
    """`advnets.a.b` -> package/a/b.py or package/a/b/__init__.py; None when it names no module (an attribute)."""
    parts = dotted.split(".")[1:]
    candidates = [package.joinpath(*parts[:-1], f"{parts[-1]}.py")] if parts else []
    candidates.append(package.joinpath(*parts, "__init__.py"))
    return next((c for c in candidates if c.is_file()), None)


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(tree: ast.AST):
    """Every node of `tree` but those under `if TYPE_CHECKING:`, which only type checkers import."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, ast.If) and is_type_checking(node.test):
            stack.extend(node.orelse)
        else:
            stack.extend(ast.iter_child_nodes(node))


def imported_files(package: Path, path: Path) -> set[Path]:
    """The files of the package that `path` imports when it runs, at module level or inside functions.

    `from advnets.x import y` counts the file of module y when y is one, else x's file (its __init__.py for a
    package); the parent packages that Python initialises on the way are not counted."""
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from the package holding `path`, `level - 1` folders up
                base = path.parent.relative_to(package).parts
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(["advnets", *base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            if module == "advnets" or module.startswith("advnets."):
                for alias in node.names:
                    as_module = module_file(package, f"{module}.{alias.name}")
                    names.append(f"{module}.{alias.name}" if as_module else module)
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("advnets.")]
        found |= {f for f in (module_file(package, n) for n in names) if f is not None}
    return found


def import_cycles(package: Path) -> list[list[str]]:
    """Each group of files that import one another (directly or through others), as sorted relative paths."""
    graph = {path: imported_files(package, path) for path in package.rglob("*.py")}

    def reachable(start: Path) -> set[Path]:
        seen: set[Path] = set()
        todo = list(graph.get(start, ()))
        while todo:
            path = todo.pop()
            if path not in seen:
                seen.add(path)
                todo.extend(graph.get(path, ()))
        return seen

    reach = {path: reachable(path) for path in graph}
    groups = {frozenset(q for q in reach[p] if p in reach[q]) for p in graph if p in reach[p]}
    return sorted(sorted(str(p.relative_to(package)) for p in group) for group in groups)


def test_no_advnets_files_import_each_other():
    cycles = import_cycles(PACKAGE)
    assert not cycles, "files that import each other (break the circle by moving what both need down a layer):\n" + (
        "\n".join(" <-> ".join(group) for group in cycles)
    )


def test_the_cycle_checker_sees_cycles_through_functions_and_packages(tmp_path):
    package = tmp_path / "advnets"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from advnets.sub.b import B\n")
    (package / "a.py").write_text("def f():\n    from advnets.sub import b\n")
    (package / "sub" / "b.py").write_text("from advnets import c\nB = 1\n")
    (package / "c.py").write_text("import advnets.a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from advnets.e import E\n")
    (package / "e.py").write_text("from advnets.d import D\nE = 1\n")
    (package / "f.py").write_text("from .g import x\n")
    (package / "g.py").write_text("from advnets import f\nx = 1\n")
    # a -> sub/b -> c -> a; d -> e only for type checkers; f <-> g through a relative import
    assert import_cycles(package) == [["a.py", "c.py", "sub/b.py"], ["f.py", "g.py"]]
