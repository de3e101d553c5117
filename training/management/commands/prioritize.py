"""`manage.py prioritize SLUG [--limit N]`: active learning for one project.

Scores the project's open items with its active reward model and raises the
queue priority of those the model is least sure about (training/active_learning.py).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from training.active_learning import items_prioritize


class Command(BaseCommand):
    help = ("Raise the queue priority of a project's open items where its active reward model is "
            "least certain, so labelers see them first.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--limit", type=int, default=None,
                            help="Score only the oldest N open items (default: all).")
        parser.add_argument("--json", action="store_true", help="Print the result as JSON.")

    def handle(self, *args, slug, limit, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1")
        try:
            result = items_prioritize(project=project, limit=limit)
        except DomainError as error:
            raise CommandError(str(error)) from None
        if options["json"]:
            self.stdout.write(json.dumps({"model": result.model, "scored": result.scored,
                                          "raised": result.raised}))
            return
        top = sorted(result.uncertainty.items(), key=lambda kv: -kv[1])[:5]
        self.stdout.write(self.style.SUCCESS(
            f"{result.scored} open items scored with {result.model}; {result.raised} raised"))
        for item_id, u in top:
            self.stdout.write(f"  item {item_id}: uncertainty {u:.3f}")
