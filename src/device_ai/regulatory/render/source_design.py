"""The design as the source shows it, read statically (IEC 62304 5.3.1, 5.3.2, 5.4.1; FDA SDS):
which source files each software item owns, their public interface and the imports between items.

Nothing is imported or executed: each file under ``src/`` is parsed with :mod:`ast`, so the
design document describes the code without running it (a module whose import would fail is
still described). A file belongs to the item whose listed module is the most specific prefix of
its dotted name (the rule of ``traceability/software_items.yaml``). Public means a top-level
function or class whose name does not start with ``_``. An import from one item's file of a
module owned by another item is a dependency of the first item on the second, whichever way it
is written (absolute, relative, inside a function).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUMMARY_LIMIT = 240  # characters of a docstring's first paragraph shown as its one-line summary


@dataclass(frozen=True)
class Member:
    """One public function or class of a module: name, call signature (parameter names) and summary."""

    name: str
    kind: str  # "function" | "class"
    signature: str
    summary: str


@dataclass(frozen=True)
class ModuleDesign:
    """One source file: its dotted name, path under the root, public members and the modules it imports;
    ``problem`` says why it could not be read (members and imports are then empty)."""

    module: str
    path: str
    members: tuple[Member, ...] = ()
    imports: tuple[str, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class Dependency:
    """Item ``source`` imports modules of item ``target``; ``via``: ``(importing module, imported name)``."""

    source: str
    target: str
    via: tuple[tuple[str, str], ...] = field(default=())


def source_modules(src: Path) -> dict[str, Path]:
    """Every Python file under ``src`` as ``{dotted module name: path}`` (``pkg/__init__.py`` is ``pkg``)."""
    found: dict[str, Path] = {}
    if not src.is_dir():
        return found
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        if parts and all(part.isidentifier() for part in parts):
            found[".".join(parts)] = path
    return found


def owner(name: str, table: Mapping[str, str]) -> str | None:
    """The item owning the dotted ``name``: the one whose listed module is its most specific prefix."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        item = table.get(".".join(parts[:end]))
        if item is not None:
            return item
    return None


def _summary(node: ast.AST) -> str:
    doc = ast.get_docstring(node, clean=True) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                                    ast.ClassDef, ast.Module)) else None
    if not doc:
        return ""
    text = " ".join(doc.split("\n\n", 1)[0].split())
    return text if len(text) <= SUMMARY_LIMIT else text[:SUMMARY_LIMIT - 1].rstrip() + "\u2026"


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """``name(a, b, *args, c, **kw)``: the parameter names only (types are in the source)."""
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if args.posonlyargs:
        names.insert(len(args.posonlyargs), "/")
    if args.vararg is not None:
        names.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        names.append("*")
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg is not None:
        names.append("**" + args.kwarg.arg)
    return f"{node.name}({', '.join(names)})"


def _members(tree: ast.Module) -> tuple[Member, ...]:
    members = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and not node.name.startswith("_"):
            members.append(Member(node.name, "function", _signature(node), _summary(node)))
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            bases = ", ".join(ast.unparse(b) for b in node.bases)
            members.append(Member(node.name, "class", f"class {node.name}" + (f"({bases})" if bases else ""),
                                  _summary(node)))
    return tuple(members)


def _imports(tree: ast.Module, module: str, is_package: bool, known: Iterable[str]) -> tuple[str, ...]:
    """Absolute dotted names imported anywhere in the file; ``from X import y`` gives ``X.y`` when
    that is a module under ``src/``, otherwise ``X``."""
    modules = set(known)
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".") if package else []
                base_parts = base_parts[:len(base_parts) - (node.level - 1)] if node.level > 1 else base_parts
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}" if base else alias.name
                found.add(candidate if candidate in modules else base)
    return tuple(sorted(name for name in found if name))


def read_module(module: str, path: Path, root: Path, known: Iterable[str] = ()) -> ModuleDesign:
    """The public interface and imports of one file, or why it could not be read."""
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    try:
        tree = ast.parse(path.read_bytes(), filename=relative)
    except OSError as exc:
        return ModuleDesign(module, relative, problem=f"cannot read: {exc.strerror}")
    except (SyntaxError, ValueError) as exc:
        where = f" (line {exc.lineno})" if isinstance(exc, SyntaxError) and exc.lineno else ""
        return ModuleDesign(module, relative, problem=f"not parsed: {type(exc).__name__}{where}")
    return ModuleDesign(module, relative, _members(tree), _imports(tree, module, path.name == "__init__.py", known))


def module_table(items: Sequence[Mapping[str, object]]) -> dict[str, str]:
    """``{listed module: item ID}`` from rows with ``id`` and ``modules``."""
    table: dict[str, str] = {}
    for item in items:
        for module in item.get("modules") or []:  # type: ignore[union-attr]
            table[str(module)] = str(item["id"])
    return table


def design(root: Path, items: Sequence[Mapping[str, object]]) -> tuple[dict[str, list[ModuleDesign]], list[Dependency]]:
    """Each item's source files (``{item ID: [ModuleDesign]}``, every item present, possibly empty)
    and the dependencies between items, both sorted."""
    table = module_table(items)
    sources = source_modules(Path(root) / "src")
    per_item: dict[str, list[ModuleDesign]] = {str(item["id"]): [] for item in items}
    for module, path in sorted(sources.items()):
        item = owner(module, table)
        if item is not None:
            per_item[item].append(read_module(module, path, Path(root), sources))
    edges: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for item, modules in per_item.items():
        for design_ in modules:
            for imported in design_.imports:
                target = owner(imported, table)
                if target is not None and target != item:
                    edges.setdefault((item, target), set()).add((design_.module, imported))
    dependencies = [Dependency(s, t, tuple(sorted(via))) for (s, t), via in sorted(edges.items())]
    return per_item, dependencies
