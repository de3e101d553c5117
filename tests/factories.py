"""Test data builders that go through the real services."""

import itertools

from django.contrib.auth import get_user_model

from annotation.models import Membership, Project, Prompt, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.projects import project_create
from annotation.services.prompts import PromptInput, prompt_create_many

_counter = itertools.count(1)


def user_make(username: str, *, superuser: bool = False):
    return get_user_model().objects.create_user(
        username=username, password=f"{username}-password", email=f"{username}@example.test",
        is_superuser=superuser, is_staff=superuser)


def project_make(*, creator, task_type=TaskType.PAIRWISE, **fields) -> Project:
    n = next(_counter)
    fields.setdefault("name", f"Project {n}")
    fields.setdefault("slug", f"project-{n}")
    if task_type == TaskType.RANKING:
        fields.setdefault("num_responses", 3)
    return project_create(creator=creator, task_type=task_type, **fields)


def member_add(project: Project, user, role: str) -> Membership:
    return Membership.objects.update_or_create(project=project, user=user,
                                               defaults={"role": role})[0]


def prompts_make(project: Project, count: int) -> list[Prompt]:
    start = next(_counter) * 100_000
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": f"Question {start + i}?"}])
        for i in range(count)])
    return list(project.prompts.order_by("-pk")[:count])[::-1]


def items_make(project: Project, count: int, *, priority: int = 0, is_gold: bool = False,
               gold_answer: dict | None = None):
    items = []
    for prompt in prompts_make(project, count):
        items.append(item_create(
            project=project, prompt=prompt, priority=priority, is_gold=is_gold,
            gold_answer=gold_answer,
            responses=[ResponseInput(text=f"Answer {k} to {prompt.pk}", model_name=f"m{k}")
                       for k in range(project.num_responses)]))
    return items
