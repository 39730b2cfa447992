"""What `sam build` produced (.aws-sam/build): the layers hold the library and wheels for Lambda's platform.

`make validate` builds first and sets REQUIRE_SAM_BUILD=1, so a missing build fails there; a plain
`make test` (no SAM CLI) skips these tests when nothing was built. Only right after a build (REQUIRE_SAM_BUILD)
is the build compared file for file with today's sources: an older build may predate a source edit.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
PACKAGE_SOURCE = ROOT / "layers" / "forwarder" / "mixpanel_forwarder"
DEPENDENCIES = ("aws_lambda_powertools", "urllib3", "orjson", "isal")
COMPILED_DEPENDENCIES = ("orjson", "isal")
LAYERS = [("ForwarderLayerArm64", "aarch64"), ("ForwarderLayerX8664", "x86_64")]
FUNCTIONS = [("SqsForwarderFunction", "sqs_forwarder"), ("KinesisForwarderFunction", "kinesis_forwarder")]
HASH_BASED_UNCHECKED = 0b01  # PEP 552 flags: hash-based, source not checked
FRESH_BUILD = bool(os.environ.get("REQUIRE_SAM_BUILD"))


@pytest.fixture(scope="module")
def build() -> Path:
    if not (BUILD / "template.yaml").is_file():
        if FRESH_BUILD:
            pytest.fail(f"REQUIRE_SAM_BUILD is set but {BUILD} holds no build: run `sam build` (make validate)")
        pytest.skip("no `sam build` output in .aws-sam/build (make validate builds it)")
    return BUILD


def cpython_3_13_available() -> bool:
    """Whether layers/forwarder/Makefile could find a CPython 3.13 to compile with (python3.13, else pyenv's)."""
    candidates = ["python3.13"]
    if shutil.which("pyenv"):
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
        candidates += [str(path) for path in Path(root).glob("versions/3.13*/bin/python3.13")]
    for candidate in candidates:
        try:
            probe = subprocess.run(
                [candidate, "-c", "import sys; sys.exit(sys.version_info[:2] != (3, 13))"],
                capture_output=True,
                check=False,
            )
        except OSError:
            continue
        if probe.returncode == 0:
            return True
    return False


def site_packages(build: Path, layer: str) -> Path:
    return build / layer / "python"


def dist_info(packages: Path, project: str) -> Path:
    (found,) = packages.glob(f"{project}-*.dist-info")
    return found


@pytest.mark.parametrize(("layer", "machine"), LAYERS)
def test_layer_holds_the_library_under_python(build: Path, layer: str, machine: str) -> None:
    packages = site_packages(build, layer)

    assert [path.name for path in (build / layer).iterdir()] == ["python"]
    assert (packages / "mixpanel_forwarder" / "__init__.py").is_file()
    assert (packages / "mixpanel_forwarder" / "sources" / "__init__.py").is_file()  # subpackages come along
    if FRESH_BUILD:
        expected = sorted(path.relative_to(PACKAGE_SOURCE) for path in PACKAGE_SOURCE.rglob("*.py"))
        shipped = sorted(
            path.relative_to(packages / "mixpanel_forwarder") for path in packages.rglob("mixpanel_forwarder/**/*.py")
        )
        assert shipped == expected


@pytest.mark.parametrize(("layer", "machine"), LAYERS)
def test_layer_holds_the_pinned_dependencies(build: Path, layer: str, machine: str) -> None:
    packages = site_packages(build, layer)
    pins = dict(
        line.split("==")
        for line in (ROOT / "layers" / "forwarder" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )

    for module in DEPENDENCIES:
        assert (packages / module / "__init__.py").is_file(), module
    for project, version in pins.items():
        assert dist_info(packages, project.replace("-", "_")).name == f"{project.replace('-', '_')}-{version}.dist-info"
    # Nothing else: a dependency of a dependency left unpinned is whatever its index holds on the day of the build.
    shipped = {path.name.removesuffix(".dist-info") for path in packages.glob("*.dist-info")}
    assert shipped == {f"{project.replace('-', '_')}-{version}" for project, version in pins.items()}


@pytest.mark.parametrize(("layer", "machine"), LAYERS)
def test_layer_extensions_are_built_for_lambdas_cpython_and_the_layers_architecture(
    build: Path, layer: str, machine: str
) -> None:
    packages = site_packages(build, layer)

    for module in COMPILED_DEPENDENCIES:
        extensions = list((packages / module).glob("*.so"))
        assert extensions, f"{module} ships no compiled extension"
        for extension in extensions:
            assert extension.name.endswith(f".cpython-313-{machine}-linux-gnu.so"), extension.name
    foreign = [path.name for path in packages.rglob("*.so") if f"-{machine}-linux-gnu" not in path.name]
    assert foreign == []


@pytest.mark.parametrize(("layer", "machine"), LAYERS)
def test_layer_wheels_are_tagged_for_lambdas_cpython_and_the_layers_architecture(
    build: Path, layer: str, machine: str
) -> None:
    packages = site_packages(build, layer)

    for module in COMPILED_DEPENDENCIES:
        wheel = (dist_info(packages, module) / "WHEEL").read_text()
        tags = re.findall(r"^Tag: (\S+)$", wheel, re.MULTILINE)
        assert tags, f"{module}: no Tag in WHEEL"
        for tag in tags:
            assert re.fullmatch(rf"cp313-cp313-manylinux\w*_{machine}", tag), f"{module}: {tag}"


@pytest.mark.parametrize(("layer", "machine"), LAYERS)
def test_layer_bytecode_is_for_python_3_13_and_never_checked_against_sources(
    build: Path, layer: str, machine: str
) -> None:
    packages = site_packages(build, layer)
    compiled = list(packages.rglob("*.pyc"))
    library = list((packages / "mixpanel_forwarder").rglob("*.py"))
    library_compiled = list((packages / "mixpanel_forwarder").rglob("__pycache__/*.cpython-313.pyc"))

    # .pyc files are optional (only built when a CPython 3.13 is at hand), but never from another Python,
    # never stale-checked (the layer is immutable) and never for part of the library only.
    assert [path.name for path in compiled if ".cpython-313." not in path.name] == []
    for path in compiled:
        flags = int.from_bytes(path.read_bytes()[4:8], "little")
        assert flags == HASH_BASED_UNCHECKED, f"{path.name}: flags {flags:#b}"
    assert len(library_compiled) in (0, len(library))
    if cpython_3_13_available():
        assert len(library_compiled) == len(library), "a CPython 3.13 is at hand: the layer should ship .pyc files"


@pytest.mark.parametrize(("function", "folder"), FUNCTIONS)
def test_function_build_holds_its_handler(build: Path, function: str, folder: str) -> None:
    handler = build / function / "app.py"

    assert re.search(r"^lambda_handler = |^def lambda_handler\(", handler.read_text(), re.M)
    if FRESH_BUILD:
        assert handler.read_bytes() == (ROOT / "functions" / folder / "app.py").read_bytes()
    assert not (build / function / "Makefile").exists()


def test_built_template_points_at_the_built_artifacts(build: Path) -> None:
    built = (build / "template.yaml").read_text()

    for name, _ in [*LAYERS, *FUNCTIONS]:
        assert re.search(rf"^\s+(CodeUri|ContentUri): {name}$", built, re.MULTILINE), name
