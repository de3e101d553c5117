from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.errors import DomainError
from annotation.models import Project
from integrations.migration.argilla import ArgillaMapping
from integrations.migration.services import argilla_import


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class Command(BaseCommand):
    help = ("Import an Argilla dataset in its Hugging Face datasets layout (a save_to_disk folder, a "
            "Hub-layout folder of Parquet files, or one Parquet file) with its ranking or rating "
            "questions' submitted responses as labels. All or nothing.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("path", type=Path)
        parser.add_argument("--prompt-field", default="prompt")
        parser.add_argument("--response-fields", default="", help="Comma-separated, in canonical order.")
        parser.add_argument("--ranking-question", default="")
        parser.add_argument("--rating-questions", default="",
                            help="Comma-separated, one per response field (instead of a ranking question).")
        parser.add_argument("--relabel", action="store_true")

    def handle(self, *args, slug, path, prompt_field, response_fields, ranking_question, rating_questions,
               relabel, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        mapping = ArgillaMapping(prompt_field=prompt_field, response_fields=_names(response_fields),
                                 ranking_question=ranking_question, rating_questions=_names(rating_questions))
        try:
            result = argilla_import(project=project, path=path, mapping=mapping, relabel=relabel)
        except DomainError as error:
            raise CommandError(f"{path}: {error}; nothing was imported") from None
        self.stdout.write(self.style.SUCCESS(
            f"imported {result.items} items and {result.annotations} labels into '{slug}' "
            f"({result.duplicates} items already there)"))
