import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from integrations.migration.services import label_studio_tasks


class Command(BaseCommand):
    help = ("Write a project's items and labels as a Label Studio JSON export (import it into a Label "
            "Studio project with docs/migration/label-studio-pairwise.xml or -ranker.xml).")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--out", type=Path, required=True)

    def handle(self, *args, slug, out, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        tasks = label_studio_tasks(project=project)
        partial = out.with_name(out.name + ".partial")
        partial.write_text(json.dumps(tasks, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(partial, out)  # atomic: a reader never sees half a file
        self.stdout.write(self.style.SUCCESS(f"wrote {len(tasks)} tasks to {out}"))
