from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.datasets.readers import FORMATS
from annotation.errors import DomainError
from annotation.models import Project
from annotation.services.preference_import import preferences_import_file


class Command(BaseCommand):
    help = ("Import preference data as pre-labeled items: TRL (prompt/chosen/rejected, text or "
            "messages) as JSONL or Parquet, Anthropic HH transcripts, scored responses "
            "(UltraFeedback-style), or a raw annotation export (one row per label, labelers "
            "as pseudonyms). All or nothing; a bad line is reported by number.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("file", type=Path)
        parser.add_argument("--format", choices=FORMATS, default="auto")
        parser.add_argument("--relabel", action="store_true",
                            help="Also queue the items for more human labels.")

    def handle(self, *args, slug, file, format, relabel, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        try:
            result = preferences_import_file(project=project, path=file, fmt=format,
                                             relabel=relabel)
        except DomainError as error:
            raise CommandError(f"{file}: {error}; nothing was imported") from None
        labels = (f", {result.annotations} annotations ({result.annotations_skipped} skipped)"
                  if result.format == "raw" else "")
        self.stdout.write(self.style.SUCCESS(
            f"imported {result.items} items into '{slug}' ({result.duplicates} duplicates "
            f"skipped, {result.prompts_created} new prompts{labels})"))
