from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.datasets.writers import FORMATS, STYLES, export_write
from annotation.errors import DomainError
from annotation.models import DatasetSnapshot, Project
from annotation.services.datasets import dataset_snapshot_build


class Command(BaseCommand):
    help = ("Write a dataset snapshot to a folder (train/test files, manifest.json, datasheet.md). "
            "Builds a new snapshot with the given filters unless --snapshot names one.")

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--format", required=True, choices=FORMATS)
        parser.add_argument("--out", required=True, type=Path)
        parser.add_argument("--style", default="conversational", choices=STYLES,
                            help="TRL prompt as a message list (conversational) or plain text.")
        parser.add_argument("--meta", action="store_true",
                            help="Add margin, weight, agreement and ids to each TRL row.")
        parser.add_argument("--overwrite", action="store_true")
        parser.add_argument("--snapshot", type=int, help="Export this existing snapshot version.")
        parser.add_argument("--consensus", choices=["majority", "mean", "dawid_skene", "weighted_rank"],
                            default=None, help="Default: the project's consensus method.")
        parser.add_argument("--min-agreement", type=float, default=0.0)
        parser.add_argument("--min-labels", type=int, default=1)
        parser.add_argument("--ties", choices=["drop", "keep"], default="drop")
        parser.add_argument("--both-bad", choices=["drop", "keep"], default="drop")
        parser.add_argument("--exclude-labeler", action="append", default=[], metavar="USERNAME")
        parser.add_argument("--no-model-labels", action="store_true")
        parser.add_argument("--date-from")
        parser.add_argument("--date-to")

    def handle(self, *args, slug, **o):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        try:
            if o["snapshot"] is not None:
                snapshot = DatasetSnapshot.objects.filter(project=project,
                                                          version=o["snapshot"]).first()
                if snapshot is None:
                    raise CommandError(f"project '{slug}' has no snapshot v{o['snapshot']}")
            else:
                snapshot = dataset_snapshot_build(project=project, filters={
                    "consensus": o["consensus"], "min_agreement": o["min_agreement"],
                    "min_labels": o["min_labels"], "ties": o["ties"], "both_bad": o["both_bad"],
                    "exclude_labelers": o["exclude_labeler"],
                    "include_model_labels": not o["no_model_labels"],
                    "date_from": o["date_from"], "date_to": o["date_to"]})
            manifest = export_write(snapshot=snapshot, fmt=o["format"], out=o["out"],
                                    style=o["style"], meta=o["meta"], overwrite=o["overwrite"])
        except DomainError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(
            f"snapshot v{snapshot.version} ({snapshot.content_hash[:16]}…): "
            f"{manifest['rows']['train']} train / {manifest['rows']['test']} test rows "
            f"-> {o['out']}"))
