import pytest

from annotation.errors import Conflict, Invalid
from annotation.models import Membership, Project, Prompt, Role, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.projects import membership_remove, project_create, project_update
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.splits import prompt_hash, split_for_hash
from tests.factories import items_make, prompts_make


def one_turn(text):
    return PromptInput(messages=[{"role": "user", "content": text}])


def test_split_is_a_function_of_the_prompt_alone():
    digest = prompt_hash([{"role": "user", "content": "Same prompt"}])
    assert {split_for_hash(digest, test_fraction=0.3) for _ in range(5)} in ({"train"}, {"test"})


def test_split_follows_the_test_fraction():
    splits = [split_for_hash(prompt_hash([{"role": "user", "content": f"p{i}"}]), test_fraction=0.2)
              for i in range(5000)]
    assert 0.17 < splits.count("test") / len(splits) < 0.23


def test_same_prompt_gets_the_same_split_in_two_projects(admin):
    a = project_create(creator=admin, name="A", slug="a-split")
    b = project_create(creator=admin, name="B", slug="b-split")
    texts = [f"prompt {i}" for i in range(50)]
    for project in (a, b):
        prompt_create_many(project=project, entries=[one_turn(t) for t in texts])
    split_a = dict(Prompt.objects.filter(project=a).values_list("content_hash", "split"))
    split_b = dict(Prompt.objects.filter(project=b).values_list("content_hash", "split"))
    assert split_a == split_b


def test_duplicate_prompts_are_skipped_and_counted(project):
    result = prompt_create_many(project=project, entries=[one_turn("x"), one_turn("x"),
                                                          one_turn("y")])
    assert (result.created, result.duplicates) == (2, 1)
    again = prompt_create_many(project=project, entries=[one_turn("y"), one_turn("z")])
    assert (again.created, again.duplicates) == (1, 1)


def test_creator_becomes_the_first_admin(admin):
    project = project_create(creator=admin, name="P", slug="p-admin")
    assert Membership.objects.get(project=project, user=admin).role == Role.ADMIN


def test_new_project_defaults_to_three_labelers_and_hhh_criteria(admin):
    project = project_create(creator=admin, name="P", slug="p-defaults")
    assert project.overlap == 3
    assert [c["name"] for c in project.criteria] == ["helpfulness", "harmlessness", "honesty"]
    assert all((c["min"], c["max"]) == (1, 7) for c in project.criteria)


def test_pairwise_project_must_compare_two_responses(admin):
    with pytest.raises(Invalid) as error:
        project_create(creator=admin, name="P", slug="p-bad", num_responses=3)
    assert error.value.field == "num_responses"


def test_duplicate_slug_is_a_conflict(admin):
    project_create(creator=admin, name="P", slug="same")
    with pytest.raises(Conflict):
        project_create(creator=admin, name="Q", slug="same")
    assert Project.objects.filter(slug="same").count() == 1


def test_task_type_is_fixed_once_items_exist(project):
    items_make(project, 1)
    with pytest.raises(Conflict):
        project_update(project=project, task_type=TaskType.RANKING, num_responses=3)


def test_the_last_admin_cannot_be_removed(project, admin):
    with pytest.raises(Conflict):
        membership_remove(membership=Membership.objects.get(project=project, user=admin))


def test_item_needs_exactly_the_project_response_count(project):
    prompt = prompts_make(project, 1)[0]
    with pytest.raises(Invalid) as error:
        item_create(project=project, prompt=prompt, responses=[ResponseInput(text="only one")])
    assert error.value.field == "responses"


def test_item_keeps_the_canonical_order(project):
    prompt = prompts_make(project, 1)[0]
    item = item_create(project=project, prompt=prompt,
                       responses=[ResponseInput(text="first"), ResponseInput(text="second")])
    texts = [slot.response.text for slot in item.slots.order_by("position")]
    assert texts == ["first", "second"]


def test_gold_item_needs_a_valid_answer(project):
    prompt = prompts_make(project, 1)[0]
    with pytest.raises(Invalid) as error:
        item_create(project=project, prompt=prompt, is_gold=True, gold_answer={"strength": 5},
                    responses=[ResponseInput(text="a"), ResponseInput(text="b")])
    assert error.value.field == "gold_answer"
