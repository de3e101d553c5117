from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from integrations.migration.services import label_studio_import


class Command(BaseCommand):
    help = ("Import a Label Studio JSON export (pairwise 'Human Preference collection for RLHF' "
            "template into a pairwise project, ranker template into a ranking project) as items "
            "with their labels; annotators become pseudonymous import accounts. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--relabel", action="store_true", help="Also queue the items for more labels.")

    def handle(self, *args, slug, file, relabel, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        try:
            result = label_studio_import(project=project, raw=file.read_bytes(), relabel=relabel)
        except DomainError as error:
            raise CommandError(f"{file}: {error}; nothing was imported") from None
        self.stdout.write(self.style.SUCCESS(
            f"imported {result.items} items and {result.annotations} labels into '{slug}' "
            f"({result.duplicates} items already there)"))
