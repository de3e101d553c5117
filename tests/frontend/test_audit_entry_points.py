"""Every page form and every Django admin action that changes something leaves
its audit event: the services record it, so no entry point can forget.

One row per form or action: who posts, where, what, and the event it must
leave (actor and target checked too). The services' own tests cover the
details of each event; the API's are in tests/security/test_audit.py.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin as django_admin
from django.test import RequestFactory
from django.utils import timezone

from annotation.models import Invite, Membership, Role, TaskType
from annotation.services.invites import invite_create
from audit.admin_deletes import AuditedDeleteAdmin
from audit.models import AuditEvent
from generation.models import GenerationJob, JobStatus, ModelRole, ModelSpec
from integrations.webhooks.services import webhook_subscription_create
from tests.factories import items_make, member_add, project_make, prompts_make, user_make
from tests.frontend.test_project_pages import FORM as PROJECT_FORM
from tests.training.factories import snapshot_make
from training.loop.models import LoopRound
from training.models import RunKind, RunStatus, TrainingRun, TrainingSchedule


@dataclass
class World:
    project: object
    users: dict
    tmp_path: object
    made: int = 0

    def spec(self, name: str, role: str = ModelRole.REWARD) -> ModelSpec:
        folder = self.tmp_path / name
        folder.mkdir(exist_ok=True)
        return ModelSpec.objects.get_or_create(name=name, defaults={"role": role, "path": str(folder)})[0]

    def run(self, status: str = RunStatus.QUEUED, **fields) -> TrainingRun:
        return TrainingRun.objects.create(project=self.project, snapshot=snapshot_make(self.project),
                                          base_model=self.spec("audit-base"), status=status, **fields)

    def round(self) -> LoopRound:
        return LoopRound.objects.create(project=self.project, number=1,
                                        reference_policy=self.spec("audit-policy", ModelRole.POLICY))


@dataclass(frozen=True)
class Form:
    name: str
    persona: str
    action: str  # the audit event it must leave
    prepare: Callable[[World], tuple[str, dict]]  # -> (path, posted data)


def _project_page(w: World, data: dict) -> tuple[str, dict]:
    return f"/projects/{w.project.pk}/settings/", data


def _unarchive(w: World):
    w.project.archived_at = timezone.now()
    w.project.save(update_fields=["archived_at"])
    return _project_page(w, {"action": "unarchive"})


def _team(data: dict):
    return lambda w: (f"/projects/{w.project.pk}/team/", data(w))


def _membership(w: World) -> int:
    return Membership.objects.get(project=w.project, user=w.users["labeler2"]).pk


def _invite(w: World) -> int:
    invite_create(project=w.project, actor=w.users["admin"], role="labeler", max_uses=1, days=1)
    return Invite.objects.get(project=w.project).pk


def _item(data: dict):
    def prepare(w: World):
        item = items_make(w.project, 1)[0]
        return f"/projects/{w.project.pk}/items/{item.pk}/", data
    return prepare


def _training(data: Callable[[World], dict]):
    return lambda w: (f"/projects/{w.project.pk}/training/", data(w))


def _engineer(data: Callable[[World], dict]):
    return lambda w: (f"/projects/{w.project.pk}/training/engineer/", data(w))


def _generation(data: Callable[[World], dict]):
    return lambda w: (f"/projects/{w.project.pk}/generation/", data(w))


def _job(w: World, status: str) -> int:
    return GenerationJob.objects.create(project=w.project, status=status).pk


def _schedule(w: World) -> int:
    return TrainingSchedule.objects.create(project=w.project).pk


def _round_start(w: World):
    w.spec("audit-policy", ModelRole.POLICY)  # the round starts from the default policy
    return f"/projects/{w.project.pk}/training/engineer/", {"action": "round_start"}


def _adjudicate(w: World):
    item = items_make(w.project, 1)[0]
    return f"/projects/{w.project.pk}/quality/", {"action": "adjudicate", "item": item.pk, "strength": "-2"}


PAGE_FORMS = [
    Form("project new", "superuser", "project.create", lambda w: ("/projects/new/", PROJECT_FORM)),
    Form("project settings", "admin", "project.update",
         lambda w: _project_page(w, {**PROJECT_FORM, "action": "save", "slug": w.project.slug,
                                     "task_type": TaskType.PAIRWISE, "num_responses": "2"})),
    Form("project archive", "admin", "project.archive", lambda w: _project_page(w, {"action": "archive"})),
    Form("project unarchive", "admin", "project.unarchive", _unarchive),
    Form("project delete", "admin", "project.delete",
         lambda w: _project_page(w, {"action": "delete", "confirm": w.project.slug})),
    Form("team add", "admin", "membership.add",
         _team(lambda w: {"action": "add", "username": w.users["outsider"].username, "role": "labeler"})),
    Form("team role", "admin", "membership.role_change",
         _team(lambda w: {"action": "role", "membership": _membership(w), "role": "engineer"})),
    Form("team remove", "admin", "membership.remove",
         _team(lambda w: {"action": "remove", "membership": _membership(w)})),
    Form("team invite", "admin", "invite.create",
         _team(lambda w: {"action": "invite", "role": "labeler", "max_uses": "1", "days": "7"})),
    Form("team revoke", "admin", "invite.revoke",
         _team(lambda w: {"action": "revoke", "invite": _invite(w)})),
    Form("item gold", "admin", "item.gold_change",
         _item({"action": "gold", "is_gold": "on", "gold_min": "1", "gold_max": "2"})),
    Form("item priority", "admin", "item.priority_change", _item({"action": "priority", "priority": "7"})),
    Form("quality adjudicate", "admin", "item.adjudicate", _adjudicate),
    Form("arena settings", "admin", "arena.configure",
         lambda w: (f"/projects/{w.project.pk}/arena/settings/", {
             "is_enabled": "on", "max_turns": "2", "max_input_chars": "500", "max_output_tokens": "64",
             "battles_per_hour": "5", "tokens_per_hour": "5000", "suggested_prompts": "",
             f"weight_{w.spec('audit-policy', ModelRole.POLICY).pk}": "1"})),
    Form("quality recompute", "admin", "project.consensus_method",
         lambda w: (f"/projects/{w.project.pk}/quality/", {"action": "recompute", "method": "mean"})),
    Form("datasets build", "engineer", "snapshot.create",
         lambda w: (f"/projects/{w.project.pk}/datasets/",
                    {"action": "build", "consensus": "majority", "min_agreement": "0", "min_labels": "1"})),
    Form("datasets export", "engineer", "export.request",
         lambda w: (f"/projects/{w.project.pk}/datasets/",
                    {"action": "export", "snapshot": snapshot_make(w.project).pk, "format": "raw"})),
    Form("generation start", "engineer", "generation_job.create",
         _generation(lambda w: {"action": "start", "models": [w.spec("audit-policy", ModelRole.POLICY).name],
                                "prompts": "all", "n": "2", "max_tokens": "4", "strategy": "",
                                "backend": ""})),
    Form("generation cancel", "engineer", "generation_job.cancel",
         _generation(lambda w: {"action": "cancel", "job": _job(w, JobStatus.QUEUED)})),
    Form("generation resume", "engineer", "generation_job.resume",
         _generation(lambda w: {"action": "resume", "job": _job(w, JobStatus.FAILED)})),
    Form("training start", "engineer", "training_run.create",
         _training(lambda w: {"action": "start", "base_model": w.spec("audit-base").name,
                              "snapshot": snapshot_make(w.project).pk})),
    Form("training cancel", "engineer", "training_run.cancel",
         _training(lambda w: {"action": "cancel", "run": w.run().pk})),
    Form("training resume", "engineer", "training_run.resume",
         _training(lambda w: {"action": "resume", "run": w.run(RunStatus.FAILED).pk})),
    Form("training activate", "engineer", "training_run.activate",
         _training(lambda w: {"action": "activate",
                              "run": w.run(RunStatus.SUCCEEDED, output_model=w.spec("audit-out")).pk})),
    Form("engineer policy run", "engineer", "training_run.create",
         _engineer(lambda w: {"action": "start_policy", "kind": "sft", "max_steps": "2",
                              "base_model": w.spec("audit-policy", ModelRole.POLICY).name,
                              "snapshot": snapshot_make(w.project).pk})),
    Form("engineer loop settings", "engineer", "training_loop.update",
         _engineer(lambda w: {"action": "loop_settings", "check_every_minutes": "15"})),
    Form("engineer schedule save", "engineer", "training_schedule.create",
         _engineer(lambda w: {"action": "schedule_save", "min_new_pairs": "5", "min_interval_hours": "1",
                              "check_every_minutes": "10"})),
    Form("engineer schedule delete", "engineer", "training_schedule.delete",
         _engineer(lambda w: {"action": "schedule_delete", "schedule": _schedule(w)})),
    Form("engineer round start", "engineer", "training_loop.round_start", _round_start),
    Form("engineer round cancel", "engineer", "training_loop.round_cancel",
         _engineer(lambda w: {"action": "round_cancel", "round": w.round().pk})),
]


@dataclass(frozen=True)
class AdminAction:
    name: str
    changelist: str  # app/model
    action: str  # the admin action's name
    event: str
    selected: Callable[[World], list[int]]


ADMIN_ACTIONS = [
    AdminAction("run cancel", "training/trainingrun", "cancel", "training_run.cancel",
                lambda w: [w.run().pk, w.run().pk]),
    AdminAction("run resume", "training/trainingrun", "resume", "training_run.resume",
                lambda w: [w.run(RunStatus.FAILED).pk]),
    AdminAction("round cancel", "training/loopround", "cancel", "training_loop.round_cancel",
                lambda w: [w.round().pk]),
    AdminAction("schedule bulk delete", "training/trainingschedule", "delete_selected",
                "training_schedule.delete", lambda w: [_schedule(w)]),
    AdminAction("user forget", "auth/user", "forget_users", "user.forget",
                lambda w: [w.users["outsider"].pk]),
    AdminAction("user reset link", "auth/user", "password_reset_links", "user.password_reset",
                lambda w: [w.users["outsider"].pk]),
]


@pytest.fixture
def world(project, admin, engineer, labeler, labeler2, outsider, superuser, tmp_path, settings):
    settings.PALATE_TRAINING_DIR = tmp_path / "training"
    prompts_make(project, 1)  # the datasets and generation pages list prompts
    return World(project=project, tmp_path=tmp_path, users={
        "admin": admin, "engineer": engineer, "labeler": labeler, "labeler2": labeler2,
        "outsider": outsider, "superuser": superuser})


@pytest.mark.parametrize("form", PAGE_FORMS, ids=[f.name for f in PAGE_FORMS])
def test_each_page_form_leaves_its_audit_event(form, world, web):
    path, data = form.prepare(world)
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    user = world.users[form.persona]
    response = web(user).post(path, data)
    assert response.status_code in (200, 302), response.status_code
    events = AuditEvent.objects.exclude(pk__in=before).filter(action=form.action)
    assert [e.actor_id for e in events] == [user.pk], (
        form.action, list(AuditEvent.objects.exclude(pk__in=before).values_list("action", "actor_id")))


@pytest.mark.parametrize("entry", ADMIN_ACTIONS, ids=[a.name for a in ADMIN_ACTIONS])
def test_each_admin_action_leaves_its_audit_event_per_object(entry, world, web):
    selected = entry.selected(world)
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    superuser = world.users["superuser"]
    data = {"action": entry.action, "_selected_action": selected}
    if entry.action == "delete_selected":
        data["post"] = "yes"  # the confirmation page's answer
    response = web(superuser).post(f"/admin/{entry.changelist}/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    events = AuditEvent.objects.exclude(pk__in=before).filter(action=entry.event)
    assert sorted(int(e.target_id) for e in events) == sorted(selected)
    assert {e.actor_id for e in events} == {superuser.pk}


@dataclass(frozen=True)
class AdminDelete:
    name: str
    changelist: str  # app/model
    event: str
    make: Callable[[World], list[int]]  # the objects to delete (two: the bulk path)


def _fresh(w: World) -> int:
    """A number not used before in this test (makers are called twice)."""
    w.made += 1
    return w.made


def _projects(w: World) -> list[int]:
    return [project_make(creator=w.users["admin"], name=f"Doomed {n}", slug=f"doomed-{n}").pk
            for n in (_fresh(w), _fresh(w))]


def _memberships(w: World) -> list[int]:
    return [member_add(w.project, user_make(f"member{n}"), Role.LABELER).pk
            for n in (_fresh(w), _fresh(w))]


def _subscriptions(w: World) -> list[int]:
    return [webhook_subscription_create(project=w.project, url=f"https://93.184.215.14/hook-{n}",
                                        events=["snapshot.built"])[0].pk
            for n in (_fresh(w), _fresh(w))]


ADMIN_DELETES = [
    AdminDelete("project", "annotation/project", "project.delete", _projects),
    AdminDelete("membership", "annotation/membership", "membership.remove", _memberships),
    AdminDelete("webhook", "integrations/webhooksubscription", "webhook.delete", _subscriptions),
    AdminDelete("schedule", "training/trainingschedule", "training_schedule.delete",
                lambda w: [TrainingSchedule.objects.create(project=w.project, kind=kind).pk
                           for kind in (RunKind.REWARD, RunKind.DPO)]),
    # No deleting service: the admin's own event, on each object.
    AdminDelete("prompt", "annotation/prompt", "admin.delete",
                lambda w: [p.pk for p in prompts_make(w.project, 2)]),
    AdminDelete("generation job", "generation/generationjob", "admin.delete",
                lambda w: [_job(w, JobStatus.FAILED), _job(w, JobStatus.SUCCEEDED)]),
]


def _deleted_events(before: set, entry: AdminDelete, actor) -> list:
    events = AuditEvent.objects.exclude(pk__in=before).filter(action=entry.event)
    assert {e.actor_id for e in events} == {actor.pk}
    return sorted(int(e.target_id) for e in events)


@pytest.mark.parametrize("entry", ADMIN_DELETES, ids=[d.name for d in ADMIN_DELETES])
def test_each_admin_delete_leaves_one_event_per_object(entry, world, web):
    """The bulk "delete selected" action on two objects (Django logs those with no
    signal), then one object from its own delete page: each object its event, once."""
    superuser = world.users["superuser"]
    client = web(superuser)
    first, second = entry.make(world)
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = client.post(f"/admin/{entry.changelist}/", {
        "action": "delete_selected", "_selected_action": [first, second], "post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _deleted_events(before, entry, superuser) == sorted([first, second])

    (third,) = entry.make(world)[:1]
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = client.post(f"/admin/{entry.changelist}/{third}/delete/", {"post": "yes"})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert _deleted_events(before, entry, superuser) == [third]
    # The admin's log entry of a single delete is not recorded a second time.
    assert not AuditEvent.objects.exclude(pk__in=before).filter(action="admin.delete").exclude(
        action=entry.event).exists()


def test_admin_delete_refused_by_its_service_keeps_the_object(world, web):
    """The last admin of a project cannot be removed, from the admin either."""
    superuser = world.users["superuser"]
    membership = Membership.objects.get(project=world.project, user=world.users["admin"])
    response = web(superuser).post("/admin/annotation/membership/", {
        "action": "delete_selected", "_selected_action": [membership.pk], "post": "yes"})
    assert response.status_code == 302
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert not AuditEvent.objects.filter(action="membership.remove").exists()


def test_every_admin_that_deletes_records_its_deletions(superuser):
    """A new ModelAdmin of Palate's apps that allows deleting must be audited."""
    request = RequestFactory().get("/admin/")
    request.user = superuser
    ours = {"annotation", "arena", "audit", "generation", "integrations", "training", "auth"}
    deleting = [model_admin for model, model_admin in django_admin.site._registry.items()  # noqa: SLF001
                if model._meta.app_label in ours and model._meta.label != "auth.Group"
                and model_admin.has_delete_permission(request)]
    assert deleting, "no admin deletes anything?"
    missing = [type(a).__name__ for a in deleting if not isinstance(a, AuditedDeleteAdmin)]
    assert missing == []


def _change_form_data(response) -> dict:
    """What the admin's change page would post back unchanged (its fields and inlines)."""
    data = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        forms.append(formset.management_form)
        forms += list(formset.forms)
    for form in forms:
        for name in form.fields:
            value = form[name].value()
            if value is None or value is False:
                continue
            data[form.add_prefix(name)] = value if not isinstance(value, list | tuple) else list(value)
    return data


def test_a_member_removed_in_the_project_admin_inline_is_audited_as_a_removal(world, web):
    superuser = world.users["superuser"]
    client = web(superuser)
    page = f"/admin/annotation/project/{world.project.pk}/change/"
    data = _change_form_data(client.get(page))
    membership = Membership.objects.get(project=world.project, user=world.users["labeler2"])
    prefix = next(k[:-len("-id")] for k, v in data.items()
                  if k.endswith("-id") and str(v) == str(membership.pk))
    data[f"{prefix}-DELETE"] = "on"
    before = set(AuditEvent.objects.values_list("pk", flat=True))
    response = client.post(page, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert not Membership.objects.filter(pk=membership.pk).exists()
    events = AuditEvent.objects.exclude(pk__in=before).filter(action="membership.remove")
    assert [(e.actor_id, int(e.target_id)) for e in events] == [(superuser.pk, membership.pk)]
