"""No services module imports another from inside a function.

An import inside a function is how the services once hid an import cycle (`scans → image_sources →
registries → scan_tasks → scans`): each module looked independent while none could be used without
the others. The import-linter contract "The services modules import each other without cycles"
(pyproject.toml) keeps the module graph acyclic; this test keeps the imports where that graph and a
reader see them, at the top of the module.
"""

from __future__ import annotations

import ast
from pathlib import Path

import openhss.services

SERVICES = Path(openhss.services.__file__).parent


def function_level_service_imports(source: str) -> list[tuple[int, str]]:
    """(line, imported module) of each `openhss.services` import made inside a function body."""
    found: list[tuple[int, str]] = []
    for fn in ast.walk(ast.parse(source)):
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module is not None:
                if node.module == "openhss.services" or node.module.startswith("openhss.services."):
                    found.append((node.lineno, node.module))
            elif isinstance(node, ast.Import):
                found += [(node.lineno, a.name) for a in node.names if a.name.startswith("openhss.services")]
            elif isinstance(node, ast.ImportFrom) and node.level > 0:
                found.append((node.lineno, "." * node.level + (node.module or "")))  # relative: a sibling
    return sorted(set(found))


def test_the_detector_finds_each_form_of_a_function_level_import() -> None:
    source = (
        "from openhss.services import results\n"
        "def a():\n    from openhss.services import scan_tasks\n"
        "def b():\n    import openhss.services.rematch\n"
        "async def c():\n    from . import vex\n"
        "def d():\n    from openhss.config import load_settings\n"
        "class E:\n    def f(self):\n        from openhss.services.vulndb import MatcherCache\n"
    )
    assert function_level_service_imports(source) == [
        (3, "openhss.services"),
        (5, "openhss.services.rematch"),
        (7, "."),
        (12, "openhss.services.vulndb"),
    ]


def test_no_services_module_imports_another_inside_a_function() -> None:
    offenders = {
        path.name: hits
        for path in sorted(SERVICES.glob("*.py"))
        if (hits := function_level_service_imports(path.read_text()))
    }
    assert len(list(SERVICES.glob("*.py"))) > 20  # the package was found
    assert offenders == {}
