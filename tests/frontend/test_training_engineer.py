"""The engineer's section of the training page: DPO/SFT runs, loop settings,
loop rounds — the same checks as the API, audited."""

import pytest

from audit.models import AuditEvent
from generation.models import ModelRole, ModelSpec
from tests.training.factories import snapshot_make
from training.loop.models import LoopRound, LoopSetting, RoundStatus
from training.models import RunKind, TrainingRun
from training.policy.loss_specs import LOSS_PARAMETERS, LOSS_SPECS


@pytest.fixture
def policy(db, tmp_path):
    (tmp_path / "policy").mkdir()
    return ModelSpec.objects.create(name="tiny-policy", role=ModelRole.POLICY, path=str(tmp_path / "policy"))


def post(client, project, **form):
    return client.post(f"/projects/{project.pk}/training/engineer/", form, follow=True)


def test_the_training_page_offers_policy_runs_and_the_loop(project, engineer, policy, client):
    client.force_login(engineer)
    page = client.get(f"/projects/{project.pk}/training/").content.decode()
    assert "Start a DPO or SFT run" in page and '<option value="ipo">IPO</option>' in page
    # The loss menu and each loss's inputs come from the one spec.
    losses = page.split('Loss (DPO family) <select name="loss">', 1)[1].split("</select>", 1)[0]
    for spec in LOSS_SPECS.values():
        assert (f'<option value="{spec.name}"' in losses) == (spec.kind == "dpo")
    for name, parameter in LOSS_PARAMETERS.items():
        assert (f'name="{name}"' in page) == parameter.is_number
    assert '<option value="tiny-policy">tiny-policy</option>' in page
    assert "Start a loop round now" in page


def test_an_engineer_starts_a_dpo_run_with_its_loss_and_hyperparameters(project, engineer, policy,
                                                                         client):
    snapshot = snapshot_make(project)
    response = post(client_login(client, engineer), project, action="start_policy", kind="dpo",
                    loss="ipo", beta="0.2", max_steps="3", snapshot=str(snapshot.pk),
                    base_model="tiny-policy", lora="on")
    run = TrainingRun.objects.get(project=project)
    assert (run.kind, run.snapshot_id, run.base_model_id) == (RunKind.DPO, snapshot.pk, policy.pk)
    assert (run.hyperparameters["loss"], run.hyperparameters["beta"], run.hyperparameters["max_steps"],
            run.hyperparameters["lora"]) == ("ipo", 0.2, 3, True)
    assert f"run {run.pk} queued" in response.content.decode()
    assert AuditEvent.objects.get(action="training_run.create").details["via"] == "page"


def test_an_sft_run_and_a_bad_value_named_by_field(project, engineer, policy, client):
    snapshot = snapshot_make(project)
    client_login(client, engineer)
    page = post(client, project, action="start_policy", kind="dpo", beta="-1",
                snapshot=str(snapshot.pk), base_model="tiny-policy").content.decode()
    assert "hyperparameters.beta" in page and not TrainingRun.objects.exists()
    post(client, project, action="start_policy", kind="sft", snapshot=str(snapshot.pk),
         base_model="tiny-policy")
    assert TrainingRun.objects.get().kind == RunKind.SFT


def test_loop_settings_and_rounds_from_the_page(project, engineer, policy, client):
    client_login(client, engineer)
    post(client, project, action="loop_settings", enabled="on", check_every_minutes="15",
         min_interval_hours="2", min_new_pairs="10", prompts_per_round="8", win_threshold="0.6",
         base_policy="tiny-policy")
    setting = LoopSetting.objects.get(project=project)
    assert (setting.enabled, setting.check_every_minutes, setting.base_policy_id) == (True, 15, policy.pk)
    assert setting.periodic_task.enabled
    page = post(client, project, action="loop_settings", win_threshold="2").content.decode()
    assert "win_threshold" in page
    post(client, project, action="round_start")
    rnd = LoopRound.objects.get(project=project)
    assert rnd.status == RoundStatus.RUNNING
    post(client, project, action="round_cancel", round=str(rnd.pk))
    rnd.refresh_from_db()
    assert rnd.status == RoundStatus.CANCELLED
    assert {"training_loop.update", "training_loop.round_start", "training_loop.round_cancel"} <= set(
        AuditEvent.objects.values_list("action", flat=True))


@pytest.mark.parametrize(("persona", "status"), [("labeler", 403), ("outsider", 404)])
def test_labelers_and_outsiders_cannot_start_anything(project, persona, status, client, request):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(f"/projects/{project.pk}/training/engineer/", {"action": "round_start"})
    assert response.status_code == status
    assert not LoopRound.objects.exists()


def client_login(client, user):
    client.force_login(user)
    return client


def test_the_reward_schedule_is_created_edited_and_deleted_from_the_page(project, engineer, client):
    from training.models import TrainingSchedule

    client_login(client, engineer)
    post(client, project, action="schedule_save", enabled="on", min_new_pairs="50",
         min_interval_hours="6", check_every_minutes="10")
    schedule = TrainingSchedule.objects.get(project=project)
    assert (schedule.kind, schedule.min_new_pairs, schedule.enabled) == (RunKind.REWARD, 50, True)
    assert schedule.periodic_task.interval.every == 10
    post(client, project, action="schedule_save", min_new_pairs="80", min_interval_hours="6",
         check_every_minutes="10")  # the box unticked: disabled
    schedule.refresh_from_db()
    assert (schedule.min_new_pairs, schedule.enabled) == (80, False)
    page = post(client, project, action="schedule_save", min_new_pairs="-3").content.decode()
    assert "min_new_pairs" in page
    post(client, project, action="schedule_delete", schedule=str(schedule.pk))
    assert not TrainingSchedule.objects.exists()
    assert {"training_schedule.create", "training_schedule.update", "training_schedule.delete"} <= set(
        AuditEvent.objects.values_list("action", flat=True))


def test_a_dpo_schedule_with_its_loss_is_saved_from_the_page_beside_the_reward_one(project, engineer,
                                                                                     policy, client):
    from training.models import TrainingSchedule

    client_login(client, engineer)
    post(client, project, action="schedule_save", kind="reward", enabled="on", min_new_pairs="50",
         min_interval_hours="6", check_every_minutes="10")
    page = post(client, project, action="schedule_save", kind="dpo", loss="simpo", enabled="on",
                min_new_pairs="20", min_interval_hours="12", check_every_minutes="30",
                base_model="tiny-policy").content.decode()
    dpo = TrainingSchedule.objects.get(project=project, kind=RunKind.DPO)
    assert (dpo.hyperparameters, dpo.base_model, dpo.min_new_pairs) == ({"loss": "simpo"}, policy, 20)
    assert TrainingSchedule.objects.filter(project=project).count() == 2
    assert 'data-schedule="dpo"' in page and 'data-schedule="reward"' in page
    refused = post(client, project, action="schedule_save", kind="sft", base_model="tiny-policy",
                   check_every_minutes="0").content.decode()
    assert "check_every_minutes" in refused and TrainingSchedule.objects.count() == 2
