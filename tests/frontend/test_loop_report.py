"""The loop round report page: judges side by side with intervals and prompt
counts, the independence of each, the rule that decided, KL and length, and
diffed policy/reference answers rendered inert; linked from the training page."""

import pytest
from django.urls import reverse

from generation.models import ModelRole, ModelSpec
from tests.factories import prompts_make
from tests.training.test_loop_api import report_round_make


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, tmp_path):
    # Pages render {% static %}; the manifest storage would need collectstatic first.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = str(tmp_path)


@pytest.fixture
def report_round(project):
    policy = ModelSpec.objects.create(name="base-policy", role=ModelRole.POLICY, path="/models/base")
    return report_round_make(project, policy, prompts_make(project, 2))


def test_the_report_shows_every_judge_the_rule_and_the_diffed_samples(client, project, engineer,
                                                                      report_round):
    client.force_login(engineer)
    html = client.get(reverse("loop-round-report", args=[project.pk, report_round.pk])).content.decode()
    assert "Loop round 2: is the gain real?" in html
    ai = html[html.index('data-judge="ai_judge"'):]
    ai = ai[:ai.index("</tr>")]
    assert "decided" in ai and "60.0%" in ai and "95% [55.0, 66.0]" in ai and "58.0%" in ai
    assert '<td class="num" data-field="prompts">60</td>' in ai and "30 / 12 / 18" in ai
    own = html[html.index('data-judge="own_reward"'):]
    assert "<strong>no</strong> — trained on the policy's labels" in own[:own.index("</tr>")]
    previous = html[html.index('data-judge="previous_reward"'):]
    assert "no verdict: no earlier loop round" in previous[:previous.index("</tr>")]
    assert "on at least 50 held-out prompts" in html
    assert "The round's own reward model never decides" in html
    assert "2.50 nats [2.00, 3.00]" in html and "60 held-out prompts × 1 samples" in html
    # Model text is untrusted: the diff shows it, inert.
    pk = report_round.evaluation.samples[0]["prompt_id"]
    assert "<b>" not in html and f"<ins>&lt;b&gt;{pk}&lt;/b&gt;</ins>" in html
    assert f"<del>longer answer {pk}</del>" in html
    training = client.get(reverse("training", args=[project.pk])).content.decode()
    assert reverse("loop-round-report", args=[project.pk, report_round.pk]) in training


def test_labelers_are_refused_and_outsiders_and_other_projects_rounds_are_not_found(
        client, project, labeler, outsider, engineer, report_round):
    from tests.factories import project_make

    url = reverse("loop-round-report", args=[project.pk, report_round.pk])
    client.force_login(labeler)
    assert client.get(url).status_code == 403
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    other = project_make(creator=engineer)
    client.force_login(engineer)
    assert client.get(reverse("loop-round-report", args=[other.pk, report_round.pk])).status_code == 404


def test_a_previous_reward_model_found_dependent_says_why(client, project, engineer, report_round):
    evaluation = report_round.evaluation
    evaluation.results["judges"]["previous_reward"] = {
        "available": True, "independent": False, "model": "rm-v1", "win_rate": 0.9, "win_rate_low": 0.8,
        "win_rate_high": 0.95, "prompts": 60, "policy_pairs": 8, "seen_pairs": 8, "unseen_pairs": 0,
        "source": "trained on snapshot v1, before this round's v2: it saw 8 of the 8 decided pairs",
        "dependence": "it saw every pair the policy was trained on (v2 added no decided training pair to v1)"}
    evaluation.save()
    client.force_login(engineer)
    html = client.get(reverse("loop-round-report", args=[project.pk, report_round.pk])).content.decode()
    previous = html[html.index('data-judge="previous_reward"'):]
    previous = previous[:previous.index("</tr>")]
    assert ('<td data-field="independent"><strong>no</strong> — it saw every pair the policy was trained on '
            '(v2 added no decided training pair to v1)</td>') in previous
    assert "it saw 8 of the 8 decided pairs" in previous and "90.0%" in previous
