"""The datasheet written beside every export (Markdown), with the label
quality of the snapshot: Krippendorff's alpha, position bias, length bias."""

import json

from annotation.datasets.privacy import filters_public
from annotation.datasets.selection import annotations_for_snapshot
from annotation.models import DatasetSnapshot
from annotation.task_types import task_type as task_type_for
from annotation.task_types import task_type_of


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def snapshot_quality(snapshot: DatasetSnapshot) -> dict:
    """The label quality of the snapshot's labels (its filters applied, gold items
    out), as its task type computes it (alphas, and position and length bias
    where responses are compared). Figures undefined for the data are None."""
    return task_type_of(snapshot.project).snapshot_quality(snapshot.project,
                                                           annotations_for_snapshot(snapshot))


def _share(name: str, figure: dict | None, what: str) -> str:
    if not figure or not figure.get("n"):
        return f"- {name}: n/a (no decisive labels)"
    flag = " — flagged" if figure.get("flagged") else ""
    return (f"- {name}: {what} {_fmt(figure['share'])} (expected {_fmt(figure['expected'])}, "
            f"n = {figure['n']}, z = {_fmt(figure['z'])}){flag}")


def quality_lines(quality: dict, task_type: str) -> list[str]:
    if not quality:
        return ["- Krippendorff's alpha, position and length bias: n/a (no labels)"]
    task = task_type_for(task_type)
    lines = [f"- {title}: {_fmt(quality[key])}" for key, title in task.datasheet_alphas.items()
             if key in quality]
    if "position_bias" not in quality:  # one response per item: no position or length bias
        return lines
    pairs = task.datasheet_pairs_note
    lines.append(_share(f"Position bias{pairs}", quality["position_bias"],
                        "share of decisions for the response shown first"))
    lines.append(_share(f"Length bias{pairs}", quality["length_bias"],
                        "share of decisions for the longer response"))
    return lines


FILTER_NAMES = {
    "min_labels": "min_labels (items with too few labels)",
    "both_bad": "both_bad: drop (items most labelers marked both bad)",
    "min_agreement": "min_agreement (consensus below the threshold)",
    "ties": "ties: drop (the consensus is a tie)",
    "exclude_labelers": "exclude_labelers",
    "include_model_labels": "include_model_labels: false (AI-judge labels)",
    "date_from": "date_from",
    "date_to": "date_to",
}


def _label_shares_lines(summary: dict, filters: dict) -> list[str]:
    """What the labelers said (ties, both bad) and what each filter removed: the
    pair figures alone read 0 ties after ``ties: drop`` whatever the labels said."""
    lines = [
        f"- Ties among the labels (a pairwise tie, or equal ranks): "
        f"{_fmt(summary.get('tie_label_share'))}",
        f"- Labels marking both responses bad: {_fmt(summary.get('both_bad_label_share'))}"
        + (f" ({summary['both_bad_labels']} labels)" if "both_bad_labels" in summary else ""),
        f"- Ties among the snapshot's pairs (after the filters, ties {filters.get('ties', 'drop')}): "
        f"{_fmt(summary.get('tie_share'))}",
    ]
    excluded = summary.get("labels_excluded") or {}
    dropped = summary.get("pairs_dropped") or {}
    if excluded or dropped:
        lines.append("- Dropped by each filter, in the order they apply:")
        lines += [f"  - {FILTER_NAMES.get(name, name)}: {n} labels" for name, n in excluded.items()]
        lines += [f"  - {FILTER_NAMES.get(name, name)}: {n} pairs" for name, n in dropped.items()]
    return lines


def _ties_lines(snapshot: DatasetSnapshot, manifest: dict) -> list[str]:
    ties = manifest.get("ties") or {}
    if manifest["format"] == "raw":
        return ["Raw exports hold every label as given, ties and \"both bad\" included."]
    if not ties.get("file"):
        return [f"No ties in these files (filter ties: {snapshot.filters.get('ties', 'drop')}): "
                "every row is a preference."]
    return [
        "## Ties",
        "",
        "Every row of the train and test files is a preference (chosen over rejected). "
        "Ties kept by the `ties: keep` filter are not in those files — a trainer reading "
        "prompt/chosen/rejected would learn a preference nobody expressed — but in "
        "`ties.jsonl`, one line each, with the responses as `response_a` and `response_b` "
        "(canonical order) and the columns `split`, `agreement`, `num_labels`, `weight`, "
        "`item_id`, `model_a`, `model_b`. Use them with a loss that has a tie term.",
    ]


def datasheet_markdown(snapshot: DatasetSnapshot, manifest: dict) -> str:
    project = snapshot.project
    summary = snapshot.agreement or {}
    lines = [
        f"# Datasheet: {project.name} — snapshot v{snapshot.version}",
        "",
        f"- Project: `{project.slug}` ({project.get_task_type_display()}, "
        f"{project.num_responses} responses per item, overlap {project.overlap})",
        f"- Built: {snapshot.finished_at:%Y-%m-%d %H:%M UTC} by code {snapshot.code_version}",
        f"- Content hash (SHA-256): `{snapshot.content_hash}`",
        f"- Format: {manifest['format']} ({manifest['style']})",
        "",
        "## Rows",
        "",
        f"| split | {task_type_for(project.task_type).snapshot_rows_name} | rows in this export "
        "| ties (in ties.jsonl) |",
        "|---|---|---|---|",
    ]
    ties = (manifest.get("ties") or {}).get("rows") or {}
    for split in ("train", "test"):
        lines.append(f"| {split} | {snapshot.counts.get(split, 0)} | {manifest['rows'].get(split, 0)} "
                     f"| {ties.get(split, 0)} |")
    lines += [
        "",
        "The split is fixed by a hash of each prompt: no prompt appears on both sides.",
        "",
        *_ties_lines(snapshot, manifest),
        "",
        "## Labels and agreement",
        "",
        f"- Items considered: {_fmt(summary.get('items'))}, kept: {_fmt(summary.get('items_kept'))}",
        f"- Labels: {_fmt(summary.get('labels'))} from a pool of "
        f"{_fmt(summary.get('labelers'))} labelers",
        f"- Mean agreement with the consensus of kept items: "
        f"{_fmt(summary.get('mean_item_agreement'))}",
        *_label_shares_lines(summary, snapshot.filters),
        *quality_lines(snapshot_quality(snapshot), project.task_type),
        "",
        "Biases compare a share with what no bias would give (position: the rate implied by "
        "the randomized display order; length: 0.5) and are flagged when |z| ≥ 3 and the "
        "difference is at least 0.1 over 20 or more decisions. A longer answer winning more "
        "often can be genuine; it is a signal for review.",
        "",
        "## Filters",
        "",
        "```json",
        json.dumps(filters_public(snapshot.filters), indent=2, sort_keys=True),
        "```",
        "",
        "Labelers appear only under pseudonyms; no names or e-mail addresses are exported.",
        "",
    ]
    return "\n".join(lines)
