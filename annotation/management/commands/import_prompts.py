from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.importers import prompts_read
from annotation.models import Project
from annotation.services.prompts import prompt_create_many


class Command(BaseCommand):
    help = ("Import prompts from JSONL ({\"prompt\": …} or {\"messages\": […]}) or CSV "
            "(a 'prompt' column). All or nothing: a bad line imports nothing.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args, slug, file, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        try:
            entries = prompts_read(file)
            result = prompt_create_many(project=project, entries=entries, limit=None)
        except DomainError as error:
            raise CommandError(f"{file}: {error}; nothing was imported") from None
        self.stdout.write(self.style.SUCCESS(
            f"imported {result.created} prompts into '{slug}' "
            f"({result.duplicates} duplicates skipped)"))
