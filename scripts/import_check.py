"""Import every module of the apps, and the Celery app with all its tasks.

Run with the runtime-only environment (`make runtime-env`: requirements.txt and
the model wheels, no dev packages) by tests/smoke/: a module that needs a
package only the dev requirements bring fails here, not on a new user's first
`make run`. Prints one line per failure and exits 1 when there is any.

    .venv-runtime/bin/python scripts/import_check.py
"""

import ast
import importlib
import importlib.util
import os
import pkgutil
import sys
import tempfile
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Not part of the product: tests, benchmarks and scripts may use dev packages.
NOT_APPS = {"tests", "benchmarks", "scripts", "docs"}
# Test-only settings: they point the database at the test server.
SKIP_MODULES = {"config.settings_test"}
# Packages app code imports inside a function on purpose, because they live in
# another environment: the reason is what the error on use tells the operator.
OPTIONAL_PACKAGES = {
    "vllm": "the in-process vLLM backend runs in a worker whose environment has requirements-vllm.txt",
    "bitsandbytes": "QLoRA runs only on a CUDA worker (requirements-worker-cuda.txt); elsewhere it is "
                    "refused at validation, and a CUDA worker without it gets a clear error",
    "deepspeed": "the deepspeed-zero2/3 strategies need requirements-deepspeed.txt on the worker, which "
                 "refuses such a run by name, with the install line, before starting any rank",
}
# Modules only those code paths load, which need their optional package to import
# at all: each may fail for that package missing, and for nothing else.
OPTIONAL_MODULES = {"training.distributed.deepspeed_engine": "deepspeed"}


def app_packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir()
                  if (p / "__init__.py").is_file() and p.name not in NOT_APPS)


def module_names(package: str) -> list[str]:
    names = [package]
    for info in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}."):
        # config/gunicorn.conf.py is read by gunicorn as a file, not imported.
        if "." in info.name.removeprefix(f"{package}.").split(".")[-1]:
            continue
        names.append(info.name)
    return [n for n in names if n not in SKIP_MODULES]


def _missing_package(error: BaseException) -> str | None:
    """The top-level package whose absence raised ``error`` (or the error it was raised from)."""
    while error is not None:
        if isinstance(error, ModuleNotFoundError) and error.name:
            return error.name.split(".")[0]
        error = error.__cause__
    return None


def import_failures(names: list[str], *, optional: dict[str, str] = OPTIONAL_MODULES) -> list[str]:
    """'module: error' for each module that does not import (a module of ``optional``
    may fail for its own optional package missing)."""
    failures = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 (every failure is reported, none hidden)
            if name in optional and _missing_package(error) == optional[name]:
                continue
            failures.append(f"{name}: {traceback.format_exception_only(error)[-1].strip()}")
    return failures


def deferred_import_problems(packages: list[str], *, root: Path = ROOT) -> list[str]:
    """Imports inside functions (the hf writer's `datasets`, say) run only when
    that code path does: check each top-level package they name is installed."""
    problems = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module.split(".")[0]]
                else:
                    continue
                for name in names:
                    if name in OPTIONAL_PACKAGES or name in sys.stdlib_module_names:
                        continue
                    if importlib.util.find_spec(name) is None:
                        problems.append(f"{path.relative_to(root)}:{node.lineno}: imports {name!r}, "
                                        f"which the runtime requirements do not install")
    return problems


def celery_task_problems() -> list[str]:
    from django.conf import settings

    from config.celery import app

    app.loader.import_default_modules()
    wanted = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    wanted |= set(settings.CELERY_TASK_ROUTES)
    return [f"Celery task {name!r} (beat schedule or route) is not registered"
            for name in sorted(wanted - set(app.tasks))]


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("PALATE_VAR_DIR", tempfile.mkdtemp(prefix="palate-import-check-"))
    import django

    django.setup()
    names = [name for package in app_packages() for name in module_names(package)]
    failures = import_failures(names) + deferred_import_problems(app_packages())
    try:
        failures += celery_task_problems()
    except Exception as error:  # noqa: BLE001
        failures.append(f"Celery app: {traceback.format_exception_only(error)[-1].strip()}")
    for line in failures:
        print(line)
    print(f"{len(names)} modules of {', '.join(app_packages())}: {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
