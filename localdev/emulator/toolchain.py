"""Where the parts of the local Lambda runtime are: CPython 3.13 with awslambdaric (a virtualenv the Makefile
provisions) and the Runtime Interface Emulator that ships inside the SAM CLI package (.venv/deploy).

`python -m localdev.emulator.toolchain VENV` creates VENV from a CPython 3.13 found on this machine: python3.13 on
PATH, else pyenv's; without one it says, in one line, what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from .errors import LocalRunError

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_VENV = ROOT / ".venv" / "lambda-runtime"
DEPLOY_VENV = ROOT / ".venv" / "deploy"
RUNTIME_VERSION = (3, 13)  # template.yaml's Runtime: python3.13
INSTALL_PYTHON = "install CPython 3.13 (`pyenv install 3.13`, or your system's python3.13 package), then run make again"


def find_cpython() -> Path | None:
    """A working CPython 3.13: python3.13 on PATH, else the newest of pyenv's 3.13 versions."""
    candidates = [found] if (found := shutil.which("python3.13")) else []
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += sorted((str(path) for path in pyenv_root.glob("versions/3.13*/bin/python3.13")), reverse=True)
    wanted = ".".join(map(str, RUNTIME_VERSION))
    for candidate in candidates:
        try:
            probe = subprocess.run(  # noqa: S603 - an interpreter of this machine, asked its version
                [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == wanted:
            return Path(candidate)
    return None


def runtime_python(venv: Path = RUNTIME_VENV) -> Path:
    """The Python 3.13 that runs awslambdaric, once `make runtime` has provisioned it."""
    python = venv / "bin" / "python"
    if not (venv / ".installed").is_file() or not python.exists():
        raise LocalRunError(f"no Lambda runtime (Python 3.13 with awslambdaric) in {_shown(venv)}: run `make runtime`")
    return python


def emulator_binary(architecture: str) -> Path:
    """aws-lambda-rie for this machine, as the pinned SAM CLI ships it (samcli/local/rapid/)."""
    found = sorted(DEPLOY_VENV.glob(f"lib/python3*/site-packages/samcli/local/rapid/aws-lambda-rie-{architecture}"))
    if not found:
        raise LocalRunError(
            f"no Runtime Interface Emulator for {architecture} in {_shown(DEPLOY_VENV)} (it comes with the SAM CLI): "
            "run `make validate`"
        )
    return found[-1]


def create_venv(target: Path) -> None:
    python = find_cpython()
    if python is None:
        raise LocalRunError(f"no CPython 3.13 on PATH or in pyenv, which the Lambda runtime needs: {INSTALL_PYTHON}")
    if not (target / "bin" / "python").exists():
        subprocess.run([str(python), "-m", "venv", str(target)], check=True)  # noqa: S603 - found above


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m localdev.emulator.toolchain VENV", file=sys.stderr)
        return 2
    try:
        create_venv(Path(args[0]))
    except LocalRunError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
