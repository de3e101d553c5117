"""The datasheet written beside every export (Markdown), with the label
quality of the snapshot: Krippendorff's alpha, position bias, length bias."""

import json

import numpy as np
from django.db.models.functions import Length

from annotation.datasets.privacy import filters_public
from annotation.models import DatasetSnapshot, ItemResponse, TaskType
from annotation.quality.agreement import krippendorff_alpha, reliability_matrix
from annotation.quality.pairwise import COLLAPSED_CLASSES, STRENGTH_SCALE, collapse_strength
from annotation.quality.reliability import length_bias, position_bias
from annotation.task_types import task_type as task_type_for
from annotation.task_types import task_type_of


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _lengths(item_ids) -> dict[int, dict[int, int]]:
    lengths: dict[int, dict[int, int]] = {}
    rows = ItemResponse.objects.filter(item_id__in=item_ids).annotate(
        n=Length("response__text")).values_list("item_id", "position", "n")
    for item_id, position, n in rows.iterator(chunk_size=5000):
        lengths.setdefault(item_id, {})[position] = n
    return lengths


def _pairwise_quality(rows, lengths) -> dict:
    items = [r[0] for r in rows]
    labelers = [r[1] for r in rows]
    strengths = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=np.float64)
    a_first = np.array([r[3][0] == 0 for r in rows], dtype=bool)
    decided = ~np.isnan(strengths)
    if not decided.any():  # only "both bad" labels: nothing to agree on
        return {"alpha_ordinal": None, "alpha_nominal": None, "position_bias": None,
                "length_bias": None}
    matrix = reliability_matrix(items=np.array(items)[decided], annotators=np.array(labelers)[decided],
                                values=strengths[decided])
    return {
        "alpha_ordinal": krippendorff_alpha(reliability_data=matrix.data, level="ordinal",
                                            value_domain=STRENGTH_SCALE),
        "alpha_nominal": krippendorff_alpha(reliability_data=collapse_strength(matrix.data),
                                            level="nominal", value_domain=COLLAPSED_CLASSES),
        "position_bias": position_bias(strengths=strengths, a_first=a_first).overall.as_dict(),
        "length_bias": length_bias(strengths=strengths,
                                   length_a=[lengths[r[0]][0] for r in rows],
                                   length_b=[lengths[r[0]][1] for r in rows]).overall.as_dict(),
    }


def _ranking_quality(rows, lengths) -> dict:
    """Alpha over ranks: each (item, response) is a unit, its rank an ordinal
    value. The biases decompose every ranking into its C(K, 2) pairs (which is
    how the snapshot uses it); pairs of one ranking are not independent, so
    their z-scores overstate the evidence — read the shares, not the z."""
    units, coders, ranks = [], [], []
    strengths, a_first, length_a, length_b = [], [], [], []
    for item_id, labeler_id, _, display_order, ranking in rows:
        k = len(ranking)
        shown = {position: index for index, position in enumerate(display_order)}
        for i in range(k):
            units.append(f"{item_id}:{i}")
            coders.append(labeler_id)
            ranks.append(ranking[i])
            for j in range(i + 1, k):
                strengths.append((ranking[i] > ranking[j]) - (ranking[i] < ranking[j]))
                a_first.append(shown[i] < shown[j])
                length_a.append(lengths[item_id][i])
                length_b.append(lengths[item_id][j])
    matrix = reliability_matrix(items=units, annotators=coders, values=ranks)
    return {
        "alpha_ordinal": krippendorff_alpha(reliability_data=matrix.data, level="ordinal"),
        "position_bias": position_bias(strengths=strengths,
                                       a_first=np.array(a_first, dtype=bool)).overall.as_dict(),
        "length_bias": length_bias(strengths=strengths, length_a=length_a,
                                   length_b=length_b).overall.as_dict(),
    }


def snapshot_quality(snapshot: DatasetSnapshot) -> dict:
    """Krippendorff's alpha, position bias and length bias of the labels the
    snapshot drew on (its filters applied, gold items out), computed by the
    functions of annotation.quality. Figures undefined for the data are None."""
    from annotation.services.datasets import annotations_for_snapshot

    task = task_type_of(snapshot.project)
    if task.unpaired:
        # One response per item: no position or length bias; the task type's own alphas.
        report = task.agreement_report(snapshot.project, annotations_for_snapshot(snapshot),
                                       n_resamples=0)
        return {key: (report.get(key) or {}).get("estimate") for key in task.measures.alpha_titles} \
            if report.get("n_annotations") else {}
    labels = annotations_for_snapshot(snapshot).order_by("pk").values_list(
        "item_id", "labeler_id", "strength", "display_order", "ranking")
    if snapshot.project.task_type == TaskType.RANKING:
        rows = [r for r in labels.iterator(chunk_size=5000) if r[4]]
        compute = _ranking_quality
    else:
        rows = list(labels.iterator(chunk_size=5000))
        compute = _pairwise_quality
    if not rows:
        return {}
    return compute(rows, _lengths({r[0] for r in rows}))


def _share(name: str, figure: dict | None, what: str) -> str:
    if not figure or not figure.get("n"):
        return f"- {name}: n/a (no decisive labels)"
    flag = " — flagged" if figure.get("flagged") else ""
    return (f"- {name}: {what} {_fmt(figure['share'])} (expected {_fmt(figure['expected'])}, "
            f"n = {figure['n']}, z = {_fmt(figure['z'])}){flag}")


def quality_lines(quality: dict, task_type: str) -> list[str]:
    if not quality:
        return ["- Krippendorff's alpha, position and length bias: n/a (no labels)"]
    if "alpha_ordinal" not in quality:  # an unpaired type: its own alphas, no biases
        titles = task_type_for(task_type).measures.alpha_titles
        return [f"- {titles[key]}: {_fmt(value)}" for key, value in quality.items()]
    lines = [f"- Krippendorff's alpha (ordinal{', over ranks' if task_type == TaskType.RANKING else ''}): "
             f"{_fmt(quality['alpha_ordinal'])}"]
    if "alpha_nominal" in quality:
        lines.append(f"- Krippendorff's alpha (nominal, A / tie / B): {_fmt(quality['alpha_nominal'])}")
    pairs = " (rankings read as their pairs)" if task_type == TaskType.RANKING else ""
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
        "| split | pairs | rows in this export | ties (in ties.jsonl) |",
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
