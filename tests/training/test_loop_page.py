"""The training page's "Loop rounds" section: a row per round with its dataset,
models, win rates with intervals, KL and decision; untrusted text stays inert."""

import pytest
from django.urls import reverse

from annotation.models import DatasetSnapshot, SnapshotStatus
from generation.models import ModelRole, ModelSpec
from training.loop.models import LoopRound, LoopSetting, RoundStatus
from training.models import PolicyEvaluation


@pytest.fixture(autouse=True)
def _plain_static_storage(settings, tmp_path):
    # Pages render {% static %}; the manifest storage would need collectstatic first.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    settings.STATIC_ROOT = str(tmp_path)


@pytest.fixture
def policy(db):
    return ModelSpec.objects.create(name="base-policy", role=ModelRole.POLICY, path="/models/base")


def test_rounds_show_dataset_models_win_rates_kl_and_decision(client, project, engineer, policy):
    snapshot = DatasetSnapshot.objects.create(project=project, version=7, status=SnapshotStatus.READY,
                                              counts={"train": 40, "test": 9})
    evaluation = PolicyEvaluation.objects.create(
        project=project, policy=policy, reference=policy,
        results={"win_rate": 0.8125, "win_rate_low": 0.6875, "win_rate_high": 0.9375, "kl": 3.456,
                 "length_change": -12.5, "prompts": 9},
        human_results={"win_rate": 0.7, "win_rate_low": 0.5, "win_rate_high": 0.9})
    LoopRound.objects.create(project=project, number=2, reference_policy=policy, snapshot=snapshot,
                             evaluation=evaluation, status=RoundStatus.SUCCEEDED, stage="done",
                             decision="accepted")
    LoopRound.objects.create(project=project, number=3, reference_policy=policy,
                             error="<script>alert(1)</script> boom")
    LoopSetting.objects.create(project=project, enabled=True, last_message="round 3 is running (snapshot)")
    client.force_login(engineer)
    page = client.get(reverse("training", args=[project.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="loop-title">Loop rounds' in html
    assert html.index('data-round="3"') < html.index('data-round="2"')  # newest first
    start = html.index('data-round="2"')
    row = html[start:html.index("</tr>", start)]
    assert "v7" in row and "40 train · 9 test pairs" in row and "from base-policy" in row
    assert "81.3%" in row and "[68.8, 93.8] on 9 prompts" in row and "70.0%" in row
    assert "3.46" in row and "-12.5" in row and "Accepted" in row
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; boom" in html
    assert "Loop enabled" in html and "round 3 is running (snapshot)" in html


def test_no_rounds_yet(client, project, engineer):
    client.force_login(engineer)
    html = client.get(reverse("training", args=[project.pk])).content.decode()
    assert "No loop rounds yet." in html


def test_the_admin_edits_a_loop_setting_and_its_beat_task(client, superuser, project, policy):
    from django_celery_beat.models import PeriodicTask

    client.force_login(superuser)
    assert client.get("/admin/training/loopsetting/add/").status_code == 200
    form = {"project": project.pk, "enabled": "on", "check_every_minutes": 30, "min_interval_hours": 1,
            "min_new_pairs": 10, "prompts_per_round": 5, "base_policy": policy.pk, "win_threshold": 0.5,
            "reward_hyperparameters": "{}", "dpo_hyperparameters": '{"beta": -1}', "eval_config": "{}",
            "generation_backend": "", "generation_sampling": "{}", "snapshot_filters": "{}",
            "promotion_judge": "independent", "min_eval_prompts": 50, "ai_judge_enabled": "on"}
    refused = client.post("/admin/training/loopsetting/add/", form)
    assert refused.status_code == 200 and "beta" in refused.content.decode()
    assert not LoopSetting.objects.exists()
    form["dpo_hyperparameters"] = '{"beta": 0.2}'
    assert client.post("/admin/training/loopsetting/add/", form).status_code == 302
    setting = LoopSetting.objects.get(project=project)
    task = PeriodicTask.objects.get(name=f"training-loop-{setting.pk}")
    assert task.enabled and task.interval.every == 30
