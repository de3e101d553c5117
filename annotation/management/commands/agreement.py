import json as jsonlib

from django.core.management.base import BaseCommand, CommandError

from annotation.models import Project
from annotation.services.quality import project_agreement_report


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
        if project.task_type == "ranking":
            self.stdout.write(f"mean Kendall's W: {_fmt(report.get('mean_kendall_w'))}")
            self.stdout.write(f"mean Kendall's tau-b: {_fmt(report.get('mean_kendall_tau_b'))}")
            return
        for key in ("alpha_ordinal", "alpha_nominal"):
            self.stdout.write(f"{key.replace('_', ' ')}: {_fmt(report.get(key))}")
        self.stdout.write(f"percent agreement: {_fmt(report.get('percent_agreement'))}")
        for row in report.get("labelers", []):
            flags = ", ".join(row["flags"]) or "-"
            self.stdout.write(f"  {row['username']}: {row['n']} labels, flags: {flags}")


def _dumps(report: dict) -> str:
    return jsonlib.dumps(report, indent=2, sort_keys=True, default=str)
