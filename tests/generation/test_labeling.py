"""The AI labeler annotates through the labeling queue and submit services."""

import pytest

from annotation.errors import Conflict, Invalid
from annotation.models import Annotation, Assignment, AssignmentStatus, Membership, Role
from generation.backends import Completion, PromptResult
from generation.models import JobStatus, ModelLabeler
from generation.services import labeling
from generation.services.jobs import generation_job_create, generation_job_run
from generation.services.labeling import judge_labeler_ensure, judge_prompt_set
from tests.factories import items_make, project_make, user_make


class FakeJudge:
    """Answers by a rule over the judge prompt it is shown."""

    name = "fake"
    model_name = "fake-judge"

    def __init__(self, rule):
        self.rule = rule
        self.prompts = []

    def health(self):
        pass

    def close(self):
        pass

    def generate(self, conversations, sampling):
        assert all(c[-1] == {"role": "assistant", "content": "Verdict:"} for c in conversations)
        self.prompts.extend(c[0]["content"] for c in conversations)
        return [PromptResult([Completion(self.rule(c[0]["content"]), "stop", 3)])
                for c in conversations]


def first_shown(content: str) -> str:
    return content.split("[Answer A]\n", 1)[1].split("\n", 1)[0]


def prefers(word):
    """A fair judge: the answer containing ``word`` wins, wherever it is shown."""
    return lambda content: " A" if word in first_shown(content) else " B"


@pytest.fixture
def judge(monkeypatch):
    def install(rule):
        fake = FakeJudge(rule)
        monkeypatch.setattr(labeling, "backend_for", lambda spec, backend="": fake)
        return fake
    return install


def label(project, **options):
    job = generation_job_create(project=project, kind="label", model_names=["tiny"],
                                enqueue=False, check_backend=False, **options)
    return generation_job_run(job_id=job.pk)


def test_the_judge_labels_as_a_model_account_through_the_queue(project, items, tiny_spec, judge):
    judge(prefers("Answer 1"))  # factories: canonical B's text is "Answer 1 to …"
    job = label(project)
    assert job.status == JobStatus.SUCCEEDED, job.error
    annotations = Annotation.objects.filter(project=project)
    assert job.annotations_created == annotations.count() == 3
    labeler = ModelLabeler.objects.get(model=tiny_spec).user
    assert not labeler.has_usable_password()
    assert Membership.objects.get(project=project, user=labeler).role == Role.LABELER
    for annotation in annotations:
        assert annotation.source == "model" and annotation.labeler == labeler
        assert annotation.strength == 1  # canonical B, in both orders
        assert annotation.assignment.status == AssignmentStatus.SUBMITTED
        assert annotation.rationale == ("[tiny, A then B: B] Verdict: B\n"   # B shown second
                                        "[tiny, B then A: A] Verdict: A")     # B shown first


def test_each_item_is_judged_in_both_orders(project, items, tiny_spec, judge):
    fake = judge(prefers("Answer 0"))
    label(project, max_items=1)
    assert len(fake.prompts) == 2
    assert first_shown(fake.prompts[0]) != first_shown(fake.prompts[1])


def test_a_judge_that_always_picks_the_first_shown_gives_ties(project, items, tiny_spec, judge):
    judge(lambda content: " A")
    label(project)
    assert set(Annotation.objects.values_list("strength", flat=True)) == {0}


def test_without_ties_allowed_an_order_biased_item_goes_back_to_people(admin, tiny_spec, judge):
    project = project_make(creator=admin, allow_ties=False)
    items_make(project, 2)
    judge(lambda content: " B\nB is longer.")
    job = label(project)
    assert job.status == JobStatus.SUCCEEDED and job.progress_done == 2
    assert not Annotation.objects.exists()
    assert set(Assignment.objects.values_list("status", flat=True)) == {AssignmentStatus.SKIPPED}


def test_an_unparseable_judge_labels_nothing(project, items, tiny_spec, judge):
    judge(lambda content: "I like turtles.")
    job = label(project)
    assert job.annotations_created == 0 and not Annotation.objects.exists()


def test_max_items_stops_the_judge(project, items, tiny_spec, judge):
    judge(prefers("Answer 0"))
    job = label(project, max_items=2)
    assert job.progress_done == 2 and Annotation.objects.count() == 2


def test_the_projects_judge_prompt_is_used(project, items, tiny_spec, judge):
    fake = judge(lambda content: " tie")
    judge_prompt_set(project=project, template="Q: {prompt}\n1: {response_a}\n2: {response_b}\nWho?")
    label(project, max_items=1)
    assert fake.prompts[0].startswith("Q: Question") and fake.prompts[0].endswith("Who?")


def test_a_judge_prompt_without_placeholders_is_refused(project):
    with pytest.raises(Invalid) as error:
        judge_prompt_set(project=project, template="Which is better?")
    assert error.value.field == "template"


def test_the_judge_account_never_takes_over_a_persons_account(project, tiny_spec):
    user_make("model-tiny")
    with pytest.raises(Conflict, match="person"):
        judge_labeler_ensure(project=project, spec=tiny_spec)


def test_the_tiny_model_runs_the_judge_end_to_end(project, items, tiny_spec):
    """The real transformers backend: a random model gives no verdict, so the
    items are skipped, but every step (claim, two passes, skip) runs."""
    job = label(project, max_items=1, sampling={"max_tokens": 4})
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert job.progress_done == 1 and job.tokens_generated > 0
