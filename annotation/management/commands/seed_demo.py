from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from annotation.demo import PAIRS, RANKING, USERS
from annotation.models import Membership, Project, TaskType
from annotation.services.items import ResponseInput, item_create
from annotation.services.projects import project_create
from annotation.services.prompts import PromptInput, prompt_create_many
from annotation.signals import demo_seeded

GUIDELINES = """## What to judge
Pick the response a careful, expert assistant would give. Prefer **correct**, then
**safe**, then **helpful and concise**. Use *tie* only when you truly cannot choose,
and *both bad* when neither should be shown to a user.
"""


class Command(BaseCommand):
    help = ("Create the demo users and projects (idempotent) and print the logins. The "
            "'demo-generated' project's prompts get a generation job (the default model) that "
            "the Celery worker runs: nothing is generated here, so start-up stays fast.")

    def add_arguments(self, parser):
        parser.add_argument("--password", default="palate-demo",
                            help="Password for all demo users (demo only).")
        parser.add_argument("--no-generate", action="store_true",
                            help="Do not queue the demo generation job.")

    @transaction.atomic
    def handle(self, *args, password, no_generate=False, **options):
        users = {}
        for username, _role, superuser in USERS:
            user, created = get_user_model().objects.get_or_create(
                username=username, defaults={"email": f"{username}@example.test"})
            if created:
                user.set_password(password)
                user.is_staff = user.is_superuser = superuser
                user.save()
            users[username] = user
        pairwise = self._project(users, "demo-pairwise", "Demo: pairwise", TaskType.PAIRWISE, 2,
                                 [(p, [a, b]) for p, a, b in PAIRS])
        ranking = self._project(users, "demo-ranking", "Demo: ranking", TaskType.RANKING, 4,
                                RANKING)
        generated = self._project(users, "demo-generated", "Demo: model candidates",
                                  TaskType.PAIRWISE, 2, [(p, None) for p, _, _ in PAIRS[:8]])
        for project in (pairwise, ranking, generated):
            self.stdout.write(f"project {project.slug}: id {project.pk}, "
                              f"{project.items.count()} items")
        if not no_generate:
            # The generation app queues the job (on commit) for the worker.
            for _, line in demo_seeded.send(sender=self.__class__, project=generated,
                                            creator=users["admin"]):
                if line:
                    self.stdout.write(line)
        logins = ", ".join(f"{u} ({r})" for u, r, _ in USERS)
        self.stdout.write(self.style.SUCCESS(f"demo logins (password '{password}'): {logins}"))

    def _project(self, users, slug, name, task_type, k, rows):
        project = Project.objects.filter(slug=slug).first()
        if project is not None:
            return project
        project = project_create(creator=users["admin"], name=name, slug=slug,
                                 task_type=task_type, num_responses=k, overlap=2,
                                 guidelines=GUIDELINES, test_fraction=0.2)
        for username, role, _ in USERS:
            Membership.objects.update_or_create(project=project, user=users[username],
                                                defaults={"role": role})
        prompt_create_many(project=project, entries=[PromptInput(messages=[
            {"role": "user", "content": text}]) for text, _ in rows])
        for prompt, (_, responses) in zip(project.prompts.order_by("pk"), rows, strict=True):
            if responses is None:  # candidates come from a model (generation job)
                continue
            item_create(project=project, prompt=prompt, responses=[
                ResponseInput(text=text, model_name="demo-writer") for text in responses])
        return project
