"""Test-only packages (requirements-dev.txt, requirements-deepspeed.txt) that
`make test` installs: a missing one skips its tests on a laptop and fails them
under CI=true, where a skip would hide that they never ran."""

import importlib

import pytest

from config.env import env_bool


def installed(package: str, install: str):
    """The imported ``package``; else a skip (a failure under CI=true) naming ``install``."""
    try:
        return importlib.import_module(package)
    except ImportError as error:
        reason = f"{package} is not installed ({error}): {install}"
        if env_bool("CI", False):
            pytest.fail(f"{reason} (CI=true: these tests must run)", pytrace=False)
        pytest.skip(reason, allow_module_level=True)
