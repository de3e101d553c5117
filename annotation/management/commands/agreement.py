import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.services.quality import project_agreement_report
from annotation.services.quality_figures import labeler_rows
from annotation.task_types import task_type_of


def _fmt(figure) -> str:
    if isinstance(figure, dict):
        if figure.get("estimate") is None:
            return "n/a"
        if figure.get("low") is None:
            return f"{figure['estimate']:.3f}"
        return f"{figure['estimate']:.3f} [{figure['low']:.3f}, {figure['high']:.3f}]"
    return "n/a" if figure is None else f"{figure:.3f}"


class Command(BaseCommand):
    help = "Print a project's agreement report (Krippendorff's alpha, kappas, biases, labelers)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--json", action="store_true", help="The whole report as JSON.")
        parser.add_argument("--resamples", type=int, default=1000, help="Bootstrap resamples.")

    def handle(self, *args, slug, json: bool = False, resamples: int, **options):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise CommandError(f"no project with slug '{slug}'")
        report = project_agreement_report(project=project, n_resamples=resamples)
        if json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(f"{slug}: {report.get('n_annotations', 0)} annotations")
        measures = task_type_of(project).measures
        for key, title in measures.alpha_titles.items():
            self.stdout.write(f"{title}: {_fmt(report.get(key))}")
        for key, title in measures.summary_titles.items():
            self.stdout.write(f"{title}: {_fmt(report.get(key))}")
        position = report.get("position_bias")
        if position and position.get("n"):
            flagged = (f" — flagged, driven by {', '.join(position['drivers']) or 'no single labeler'}"
                       if position.get("flagged") else "")
            self.stdout.write(f"position bias: {_fmt(position['share'])} "
                              f"(expected {_fmt(position['expected'])}, z = {_fmt(position['z'])}){flagged}")
        self.stdout.write(f"annotators (agreement: {measures.reliability_measure}):")
        for row in labeler_rows(report):
            flags = ", ".join(row["flags"]) or "-"
            weight = f", reliability {_fmt(row['reliability'])}" if row.get("reliability") is not None else ""
            self.stdout.write(f"  {row['username']}: {row['n']} labels, "
                              f"agreement {_fmt(row['loo_agreement'])}{weight}, flags: {flags}")


def _dumps(report: dict) -> str:
    return jsonlib.dumps(report, indent=2, sort_keys=True, default=str)
