"""The runtime-import check itself: it must name what a fresh install lacks."""

import importlib.util

from django.conf import settings

_spec = importlib.util.spec_from_file_location(
    "import_check", settings.BASE_DIR / "scripts" / "import_check.py")
import_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_check)


def test_a_package_imported_inside_a_function_is_checked_too(tmp_path):
    app = tmp_path / "someapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "writer.py").write_text(
        "import json\n\n\ndef write():\n    import palate_no_such_package\n    from vllm import LLM\n")
    problems = import_check.deferred_import_problems(["someapp"], root=tmp_path)
    assert problems == ["someapp/writer.py:5: imports 'palate_no_such_package', which the runtime "
                        "requirements do not install"]  # stdlib and the declared optional vllm pass


def test_a_module_that_fails_to_import_is_reported_by_name():
    failures = import_check.import_failures(["json", "palate_no_such_module"])
    assert failures == ["palate_no_such_module: ModuleNotFoundError: No module named 'palate_no_such_module'"]


def test_a_module_of_an_optional_package_may_fail_for_that_package_only(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "palate_engine_ok.py").write_text(
        "try:\n    import palate_no_such_package\nexcept ImportError as e:\n"
        "    raise ImportError('install it') from e\n")
    (tmp_path / "palate_engine_bad.py").write_text("import palate_other\n")
    (tmp_path / "palate_engine_broken.py").write_text("1 / 0\n")
    names = ["palate_engine_ok", "palate_engine_bad", "palate_engine_broken"]
    failures = import_check.import_failures(names, optional=dict.fromkeys(names, "palate_no_such_package"))
    # Missing its own package passes; any other error still fails.
    assert failures == ["palate_engine_bad: ModuleNotFoundError: No module named 'palate_other'",
                        "palate_engine_broken: ZeroDivisionError: division by zero"]
    for package in import_check.OPTIONAL_MODULES.values():
        assert package in import_check.OPTIONAL_PACKAGES  # with the reason it is optional


def test_every_app_package_and_its_modules_are_listed():
    packages = import_check.app_packages()
    assert {"annotation", "generation", "training", "frontend", "audit", "config"} <= set(packages)
    assert "tests" not in packages and "benchmarks" not in packages
    names = import_check.module_names("annotation")
    assert "annotation.datasets.writers" in names
    assert "config.settings_test" not in import_check.module_names("config")
