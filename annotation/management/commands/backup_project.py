from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.services.backups import project_backup_write


class Command(BaseCommand):
    help = ("Write one project (everything that cascades from it: members, prompts, items, labels, "
            "snapshots, jobs, runs) to a gzip'd JSON-lines file; restore it with restore_project.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("out", type=Path, help="The backup file to write (e.g. project.jsonl.gz).")

    def handle(self, *args, slug, out, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        header = project_backup_write(project=project, out=out)
        rows = sum(header["rows"].values())
        self.stdout.write(f"{slug}: {rows} rows of {len(header['rows'])} kinds, "
                          f"{len(header['users'])} users referenced -> {out}")
