"""The package as a contributor and an IDE meet it: typed, with the layer
rule of README's Architecture section holding."""

import ast
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.support.servers import ROOT

PACKAGE = ROOT / "rtcio_flask"


def test_mypy_passes_with_untyped_defs_disallowed():
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports",
         "--disallow-untyped-defs", "--no-incremental", "-p", "rtcio_flask"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout


def test_built_wheel_ships_py_typed(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps",
         "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    wheel, = tmp_path.glob("rtcio_flask-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rtcio_flask/py.typed" in names
    assert "rtcio_flask/core/limits.py" in names  # subpackages included
    # The Admin UI the extension serves, with its licences.
    for name in ("index.html", "LICENSE", "mdi/LICENSE",
                 "mdi/materialdesignicons-webfont.woff2"):
        assert f"rtcio_flask/admin_ui/{name}" in names
    assert any(n.startswith("rtcio_flask/admin_ui/js/app.") for n in names)


def _stdlib_modules():
    return set(sys.stdlib_module_names)


@pytest.mark.parametrize("path", sorted((PACKAGE / "core").glob("*.py")),
                         ids=lambda p: p.name)
def test_core_imports_only_the_standard_library_and_core(path):
    """core/ is pure: no Flask, no socket.io, no other layer of ours."""
    stdlib = _stdlib_modules()
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 1:
                continue  # from .x import y: inside core
            assert node.level == 0, (
                f"{path.name}:{node.lineno} imports from outside core")
            names = [node.module or ""]
        else:
            continue
        for name in names:
            assert name.split(".")[0] in stdlib, (
                f"{path.name}:{node.lineno} imports {name!r}; core/ may only "
                f"import the standard library and core")


def test_public_names_are_explicit_and_importable():
    import rtcio_flask

    for name in rtcio_flask.__all__:
        assert getattr(rtcio_flask, name) is not None, name
    # Internals stay internal.
    for internal in ("build_policy", "check_envelope", "RtcioProtocol"):
        assert internal not in rtcio_flask.__all__


# -- the import rule between layers (docs/development.rst) -------------------

#: layer -> the layers it may import (besides itself). "*" may import
#: anything: the top, which wires the layers together.
LAYER_RULE = {
    "core": set(),
    "config": {"core"},
    "access": {"core"},
    "transport.compat": {"core"},
    "transport": {"core", "config", "transport.compat",
                  "deploy.redis_client"},
    "protocol": {"core", "config", "transport.compat"},
    "rooms": {"core", "config", "protocol.departure", "deploy.redis_client"},
    "deploy": {"core", "config", "transport", "transport.compat"},
    "dispatch": {"core", "access", "transport.compat"},
    "peer": {"core"},
    "extension": {"*"},
    "cli": {"*"},
    "rtcio_flask": {"*"},
    "__main__": {"*"},
}

def _layer(module):
    """The layer of a dotted module name under rtcio_flask."""
    parts = module.split(".")[1:]
    if not parts:
        return "rtcio_flask"
    if parts[:2] == ["transport", "compat"]:
        return "transport.compat"
    return parts[0]


def _allowed(source, target_module, rule):
    target = _layer(target_module)
    if target == source or "*" in rule or target in rule:
        return True
    # an allowed single module of another layer (protocol.departure)
    dotted = ".".join(target_module.split(".")[1:3])
    return dotted in rule


def _imports(path):
    """(line, dotted rtcio_flask module) for every import in ``path``,
    TYPE_CHECKING and function-local ones included."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module if path.name == "__init__.py" else \
        module.rsplit(".", 1)[0]
    if module.endswith(".__init__"):
        package = module[:-len(".__init__")]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                if node.module:
                    yield node.lineno, ".".join(base + [node.module])
                else:
                    for alias in node.names:
                        yield node.lineno, ".".join(base + [alias.name])
            elif (node.module or "").startswith("rtcio_flask"):
                yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("rtcio_flask"):
                    yield node.lineno, alias.name


def test_every_layer_imports_only_what_the_rule_allows():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        source = _layer(module.replace(".__init__", ""))
        rule = LAYER_RULE[source]
        for line, target in _imports(path):
            if _allowed(source, target, rule):
                continue
            name = str(path.relative_to(PACKAGE))
            problems.append(f"{name}:{line} ({source}) imports {target}")
    assert not problems, "imports against docs/development.rst's rule:\n" \
        + "\n".join(problems)
