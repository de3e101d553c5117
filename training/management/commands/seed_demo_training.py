"""`make run`'s demo reward model: label `demo-pairwise` with the bundled
preference pairs (annotation/fixtures/demo_preferences.jsonl) and queue one
reward run on them for the trainer worker, so the training page shows the
default backbone's held-out accuracy without anyone typing a command.

Idempotent: a project that already has a reward run is left alone (no second
import, no second run), so `make run` can be started again and again.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from annotation.services.preference_import import preferences_import_file
from training.models import RunKind, TrainingRun
from training.services.runs import training_run_create

DEMO_SLUG = "demo-pairwise"
FIXTURE = settings.BASE_DIR / "annotation" / "fixtures" / "demo_preferences.jsonl"
# The README's reproduction command (`train demo-pairwise --epochs 4 ...`) uses the same.
HYPERPARAMETERS = {"epochs": 4, "learning_rate": 1e-4, "max_length": 256}


class Command(BaseCommand):
    help = "Import the demo preference pairs into demo-pairwise and queue its reward run (once)."

    def handle(self, *args, **options):
        project = Project.objects.filter(slug=DEMO_SLUG).first()
        if project is None:
            raise CommandError(f"no project '{DEMO_SLUG}': run `manage.py seed_demo` first")
        existing = TrainingRun.objects.filter(project=project, kind=RunKind.REWARD).first()
        if existing is not None:
            self.stdout.write(f"{DEMO_SLUG} already has reward run {existing.pk} ({existing.status})")
            return
        try:
            imported = preferences_import_file(project=project, path=FIXTURE)
            run = training_run_create(project=project, kind=RunKind.REWARD,
                                      hyperparameters=HYPERPARAMETERS)
        except DomainError as error:
            raise CommandError(f"demo reward run not queued: {error}") from None
        self.stdout.write(self.style.SUCCESS(
            f"{DEMO_SLUG}: {imported.items} labeled pairs imported; reward run {run.pk} queued on "
            f"snapshot v{run.snapshot.version} ({run.snapshot.counts.get('train', 0)} train / "
            f"{run.snapshot.counts.get('test', 0)} held-out pairs); progress at "
            f"/projects/{project.pk}/training/"))
