import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache

from annotation.models import Membership, UploadJob
from annotation.services.datasets import dataset_snapshot_build
from annotation.services.exports import dataset_export_request, dataset_export_run
from annotation.services.queue import item_claim_next
from annotation.services.tokens import token_create
from arena.models import Battle
from arena.services.config import arena_configure
from generation.models import GenerationJob, ModelRole, ModelSpec
from integrations.models import WebhookDelivery, WebhookSubscription
from training.models import TrainingRun, TrainingSchedule

# Objects the sweep and the fuzzer cannot cheaply build get an id that exists
# nowhere: an allowed persona then meets 404 (missing), and denials still show.
MISSING = 987654


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    # Pages link static files; without collectstatic the production manifest
    # storage cannot name them (tests/security/test_deploy.py runs the real one).
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


@pytest.fixture(autouse=True)
def _fresh_throttles():
    cache.clear()
    yield
    cache.clear()


@dataclass
class World:
    ids: dict = field(default_factory=dict)
    personas: dict = field(default_factory=dict)
    clients: dict = field(default_factory=dict)  # persona -> signed-in test client, made on first use

    def path(self, route: str) -> str:
        resolved = route
        for name, value in self.ids.items():
            resolved = re.sub(rf"<(?:\w+:)?{name}>", str(value), resolved)
        assert "<" not in resolved, f"the sweep's World has no value for a parameter of {route}"
        return "/" + resolved


@pytest.fixture
def world(project, items, admin, labeler, labeler2, engineer, outsider, superuser, tmp_path, settings):
    settings.EXPORTS_DIR = tmp_path / "exports"
    lease = item_claim_next(project=project, labeler=labeler)
    snapshot = dataset_snapshot_build(project=project)
    export = dataset_export_run(export_id=dataset_export_request(snapshot=snapshot, fmt="raw").pk)
    model = ModelSpec.objects.create(name="sweep-model", role=ModelRole.REWARD, path=str(tmp_path))
    job = GenerationJob.objects.create(project=project)
    job.model_specs.add(model)
    run = TrainingRun.objects.create(project=project, snapshot=snapshot, base_model=model)
    upload = UploadJob.objects.create(project=project, kind="prompts", file="sweep.jsonl")
    schedule = TrainingSchedule.objects.create(project=project)
    webhook = WebhookSubscription.objects.create(project=project, url="https://93.184.215.14/",
                                                 events=["export.ready"], secret="whsec_sweep")
    delivery = WebhookDelivery.objects.create(subscription=webhook, event="export.ready",
                                              event_id=uuid.uuid4(), payload={})
    # The project in arena mode, with a battle of the labeler persona (two
    # policy models, no pool: starting a battle is a 409, past authorization).
    arena = arena_configure(project=project)
    policies = [ModelSpec.objects.create(name=f"sweep-policy-{i}", role=ModelRole.POLICY,
                                         path=str(tmp_path)) for i in range(2)]
    battle = Battle.objects.create(arena=arena, user=labeler, model_a=policies[0],
                                   model_b=policies[1])
    ids = {"project_id": project.pk, "membership_id": Membership.objects.get(project=project,
                                                                              user=labeler2).pk,
           "prompt_id": items[0].prompt_id, "item_id": items[0].pk, "assignment_id": lease.pk,
           "token_id": token_create(user=labeler, name="spare")[0].pk, "snapshot_id": snapshot.pk,
           "export_id": export.pk, "job_id": job.pk, "upload_id": upload.pk, "run_id": run.pk,
           "round_id": MISSING, "schedule_id": schedule.pk,
           "evaluation_id": MISSING, "uidb64": "MQ", "token": "not-a-valid-token",
           "secret": "not-a-valid-invite", "invite_id": MISSING, "user_id": outsider.pk,
           "webhook_id": webhook.pk, "delivery_id": delivery.pk,
           # admin/ patterns
           "object_id": project.pk, "app_label": "annotation", "content_type_id": 1,
           "url": "nothing-here", "id": labeler.pk, "battle_id": battle.pk}
    personas = {"anonymous": None, "outsider": outsider, "labeler": labeler, "engineer": engineer,
                "admin": admin, "superuser": superuser}
    return World(ids=ids, personas=personas)
