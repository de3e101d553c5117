"""Arena fixtures: two tiny random chat models (different weights), a pairwise
project in arena mode with both in its pool, and the personas."""

import pytest

from annotation.models import Role
from arena.services.config import arena_configure, pool_add
from generation.models import ModelRole
from generation.services.registry import model_spec_register
from tests.factories import member_add, project_make
from tests.generation.tiny_model import tiny_model_save


@pytest.fixture(scope="session")
def arena_model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("arena-models")
    return [tiny_model_save(root / f"tiny-{seed}", seed=seed) for seed in (0, 1)]


@pytest.fixture
def arena_specs(db, arena_model_dirs):
    return [model_spec_register(name=f"arena-tiny-{i}", role=ModelRole.POLICY, path=str(path))[0]
            for i, path in enumerate(arena_model_dirs)]


@pytest.fixture
def arena_project(admin, labeler, labeler2, engineer, arena_specs):
    project = project_make(creator=admin, name="Arena project", overlap=2)
    for person, role in ((labeler, Role.LABELER), (labeler2, Role.LABELER),
                         (engineer, Role.ENGINEER)):
        member_add(project, person, role)
    # Short answers, sampled: a random model's greedy answer can be only special
    # tokens (an empty text); sampled from its near-uniform distribution it is not.
    arena = arena_configure(project=project, max_turns=2, max_output_tokens=8,
                            sampling={"temperature": 1.0}, suggested_prompts=["Tell me a number"])
    for spec in arena_specs:
        pool_add(arena=arena, name=spec.name)
    return project


@pytest.fixture
def arena(arena_project):
    return arena_project.arena


@pytest.fixture(autouse=True)
def plain_static_storage(settings):
    # Pages render {% static %}; the manifest storage would need collectstatic.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
