"""A contract type for import-linter: the web process never imports torch.

import-linter's own ``forbidden`` contract follows every import, including the
ones inside functions — and those are exactly how the web process stays free of
torch, transformers and vLLM: a view queues a training run, the worker's
function imports the trainer. This contract follows only the imports that run
when a module is loaded (module level, class bodies, ``if``/``try`` blocks; not
function bodies, not ``if TYPE_CHECKING:``), from the modules a web process
loads, and fails if they reach a forbidden package.
"""

from __future__ import annotations

import ast
from collections import deque
from functools import cache
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output
from importlinter.domain.helpers import module_expressions_to_modules

ROOT = Path(__file__).resolve().parents[1]


def _source_path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


@cache
def _module_lines(module: str) -> frozenset[int]:
    path = _source_path(module)
    return frozenset() if path is None else load_time_import_lines(path.read_text(), str(path))


def load_time_import_lines(source: str, filename: str = "<source>") -> frozenset[int]:
    """Line numbers of the import statements that run when this source is imported."""
    lines: set[int] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import | ast.ImportFrom):
                lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue  # runs when called, not when imported
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse)
            else:
                for name in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, name, None) or [])

    visit(ast.parse(source, filename).body)
    return frozenset(lines)


class LoadTimeForbiddenContract(Contract):
    """Configuration: ``source_modules`` (expressions, wildcards allowed: what the web
    process loads) and ``forbidden_modules`` (packages it must not load)."""

    type_name = "load_time_forbidden"

    source_modules = fields.SetField(subfield=fields.ModuleExpressionField())
    forbidden_modules = fields.SetField(subfield=fields.ModuleExpressionField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        sources = sorted(m.name for m in module_expressions_to_modules(graph, self.source_modules))
        forbidden = {m.name for m in module_expressions_to_modules(graph, self.forbidden_modules)}

        def imported_at_load(importer: str) -> list[str]:
            lines = _module_lines(importer)
            return sorted(
                imported for imported in graph.find_modules_directly_imported_by(importer)
                if any(d["line_number"] in lines
                       for d in graph.get_import_details(importer=importer, imported=imported)))

        def forbidden_root(module: str) -> str | None:
            return next((f for f in forbidden if module == f or module.startswith(f + ".")), None)

        # Breadth-first from every source: the shortest chain to each forbidden package.
        chains: dict[str, list[str]] = {}
        parent: dict[str, str | None] = {s: None for s in sources}
        queue = deque(sources)
        while queue:
            module = queue.popleft()
            for imported in imported_at_load(module):
                if imported in parent:
                    continue
                parent[imported] = module
                root = forbidden_root(imported)
                if root is not None:
                    if root not in chains:
                        chain, step = [], imported
                        while step is not None:
                            chain.append(step)
                            step = parent[step]
                        chains[root] = chain[::-1]
                    continue
                queue.append(imported)
        return ContractCheck(kept=not chains, metadata={"chains": chains})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for root, chain in sorted(check.metadata["chains"].items()):
            output.print_error(f"{root} is imported when the web process loads {chain[0]}:")
            output.print(" -> ".join(chain))
            output.new_line()
