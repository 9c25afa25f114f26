"""The scaling maths stands alone: importing it never imports Django."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["scaling.laws", "scaling.verdict", "scaling.selection", "scaling.diagnostics", "scaling.planning"]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", MODULES)
def test_importing_does_not_load_django(module):
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module!r})\n"
        "print(','.join(name for name in sys.modules if name.split('.')[0] == 'django'))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""


@pytest.mark.parametrize("module", MODULES)
def test_imports_only_numerical_libraries_stdlib_and_siblings(module):
    path = ROOT / (module.replace(".", "/") + ".py")
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    # Numerical libraries (numpy, scipy, scikit-learn, cleanlab), never Django.
    allowed = set(sys.stdlib_module_names) | {"numpy", "scipy", "sklearn", "cleanlab", "threadpoolctl", "scaling"}
    assert imported <= allowed, imported - allowed
