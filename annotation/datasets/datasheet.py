"""The datasheet written beside every export (Markdown)."""

import json

from annotation.models import DatasetSnapshot


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


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
        "| split | pairs | rows in this export |",
        "|---|---|---|",
    ]
    for split in ("train", "test"):
        lines.append(f"| {split} | {snapshot.counts.get(split, 0)} | {manifest['rows'].get(split, 0)} |")
    lines += [
        "",
        "The split is fixed by a hash of each prompt: no prompt appears on both sides.",
        "",
        "## Labels and agreement",
        "",
        f"- Items considered: {_fmt(summary.get('items'))}, kept: {_fmt(summary.get('items_kept'))}",
        f"- Labels: {_fmt(summary.get('labels'))} from a pool of "
        f"{_fmt(summary.get('labelers'))} labelers",
        f"- Mean agreement with the consensus of kept items: "
        f"{_fmt(summary.get('mean_item_agreement'))}",
        f"- Share of ties among pairs: {_fmt(summary.get('tie_share'))}",
        f"- Share of labels marking both responses bad: {_fmt(summary.get('both_bad_label_share'))}",
    ]
    for key in ("position_bias", "length_bias", "krippendorff_alpha"):
        if key in summary:
            lines.append(f"- {key.replace('_', ' ').capitalize()}: {_fmt(summary[key])}")
    lines += [
        "",
        "## Filters",
        "",
        "```json",
        json.dumps(snapshot.filters, indent=2, sort_keys=True),
        "```",
        "",
        "Labelers appear only under pseudonyms; no names or e-mail addresses are exported.",
        "",
    ]
    return "\n".join(lines)
