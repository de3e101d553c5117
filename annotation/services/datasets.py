"""Building immutable dataset snapshots from a project's labels.

Pairs are streamed: annotations are read ordered by prompt and item, reduced to
consensus pairs one prompt at a time (the per-prompt weight needs the prompt's
pair count) and written in batches, so memory does not grow with the project.
"""

import hashlib
from dataclasses import asdict, replace
from itertools import groupby

import numpy as np
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from annotation.datasets.completions import snapshot_completions_build
from annotation.datasets.pairs import PairOutcome
from annotation.datasets.selection import (
    SnapshotFilters,
    annotations_selected,
    filters_parse,
)
from annotation.errors import Invalid
from annotation.events import event_emit
from annotation.models import (
    ConsensusMethod,
    DatasetSnapshot,
    ItemResponse,
    Project,
    Prompt,
    Response,
    SnapshotPair,
    SnapshotStatus,
)
from annotation.quality.consensus import consensus_dawid_skene
from annotation.quality.dawid_skene import dawid_skene
from annotation.services.adjudication import adjudicated_item_outcomes
from annotation.splits import canonical_json
from annotation.task_types import consensus_method_for, task_type_of
from annotation.task_types.ranking import ranking_weights
from annotation.versioning import code_version
from audit.services import audit_record
from core.jobs.registry import job_kind

FLUSH_ITEMS = 500
def filters_clean(data: dict | None, *, project: Project | None = None) -> SnapshotFilters:
    """Checked filters. With ``project`` (a new snapshot), a missing or empty
    ``consensus`` is the project's default consensus, the one the dashboard
    and the stored consensus use (annotation.task_types)."""
    data = dict(data or {})
    if project is not None:
        if not data.get("consensus"):
            data["consensus"] = consensus_method_for(project)
        elif data["consensus"] in (ConsensusMethod.DAWID_SKENE, ConsensusMethod.WEIGHTED_RANK) and \
                data["consensus"] not in task_type_of(project).measures.consensus:
            raise Invalid(f"{data['consensus']} is not offered for {project.get_task_type_display()} "
                          "projects", field="consensus")
    return filters_parse(data)


def _dawid_skene_sides(rows) -> dict[int, tuple[int, float]]:
    """Per item, the Dawid–Skene label (−1 A, 0 tie, 1 B) and its posterior,
    fitted once over all the snapshot's pairwise labels collapsed to A/tie/B."""
    labelled = [(item, labeler, (s > 0) - (s < 0)) for item, labeler, s in rows if s is not None]
    if not labelled:
        return {}
    items, labelers, sides = (np.array(column) for column in zip(*labelled, strict=True))
    result = consensus_dawid_skene(result=dawid_skene(items=items, labelers=labelers, labels=sides,
                                                      classes=np.array([-1, 0, 1])))
    return {int(i): (int(label), float(confidence)) for i, label, confidence
            in zip(result.item_ids, result.label, result.agreement, strict=True)}


# The item and pair filters in the order they apply; the datasheet reports how
# many pairs each one dropped, in this order (a pair is counted by the first
# filter that drops it).
PAIR_FILTERS = ("min_labels", "both_bad", "min_agreement", "ties")


def _ranking_weights(rows) -> dict[tuple[int, int], float]:
    """Per (item, labeler), the labeler's reliability weight fitted once over all
    the snapshot's rankings (annotation.quality.ranking_reliability)."""
    rows = [r for r in rows if r[2]]
    weights = ranking_weights(rows)
    if weights is None:
        return {}
    return {(r[0], r[1]): float(w) for r, w in zip(rows, weights, strict=True)}


def _consensus_outcomes(project: Project, labels: list[tuple], f: SnapshotFilters,
                        ds_sides: dict | None = None,
                        rank_weights: dict | None = None) -> list[PairOutcome]:
    """The pairs an item's labels give before any filter."""
    return task_type_of(project).pair_outcomes(labels, f.consensus, ds_sides=ds_sides,
                                               rank_weights=rank_weights)


def _item_outcomes(project: Project, labels: list[tuple], f: SnapshotFilters,
                   ds_sides: dict | None = None, rank_weights: dict | None = None, *,
                   adjudicated: list[PairOutcome] | None = None,
                   dropped: dict[str, int] | None = None) -> list[PairOutcome]:
    """The item's pairs that pass the filters; ``dropped`` counts, per filter,
    the pairs it removed. An admin's adjudication replaces the consensus and
    passes the label filters (it is a decision, not a vote), not the ties filter."""
    dropped = {} if dropped is None else dropped
    if adjudicated is not None:
        outcomes, checks = adjudicated, ["ties"]
    else:
        outcomes = _consensus_outcomes(project, labels, f, ds_sides, rank_weights)
        checks = list(PAIR_FILTERS)
    for name in checks:
        if name == "min_labels":
            kept = outcomes if len(labels) >= f.min_labels else []
        elif name == "both_bad":
            bad = f.both_bad == "drop" and sum(1 for row in labels if row[3]) * 2 > len(labels)
            kept = [] if bad else outcomes
        elif name == "min_agreement":
            kept = [o for o in outcomes if o.agreement >= f.min_agreement]
        else:
            kept = [o for o in outcomes if f.ties == "keep" or not o.is_tie]
        if len(kept) < len(outcomes):
            dropped[name] = dropped.get(name, 0) + len(outcomes) - len(kept)
        outcomes = kept
    return outcomes


def _label_tie(task, row: tuple) -> bool:
    """A label that expresses no preference between some responses: a pairwise
    strength of 0, or a ranking with equal ranks (the task type decides)."""
    return task.is_tie({"strength": row[2], "ranking": row[4]})


def _labels_excluded(project: Project, f: SnapshotFilters, *, until) -> dict[str, int]:
    """How many labels each label-level filter removed (only the filters set)."""
    everything = SnapshotFilters(consensus=f.consensus)
    base = annotations_selected(project, everything, until=until).count()
    excluded = {}
    for name, value in (("exclude_labelers", f.exclude_labelers),
                        ("include_model_labels", not f.include_model_labels),
                        ("date_from", f.date_from), ("date_to", f.date_to)):
        if value:
            only = replace(everything, **{name: getattr(f, name)})
            excluded[name] = base - annotations_selected(project, only, until=until).count()
    return excluded


class _Writer:
    """Resolves texts for a batch of items, writes pair rows, feeds the hash."""

    def __init__(self, snapshot: DatasetSnapshot):
        self.snapshot = snapshot
        self.digest = hashlib.sha256(canonical_json(snapshot.filters).encode())
        self.counts = {"train": 0, "test": 0}
        self.pending: list[tuple[int, int, list[PairOutcome], float, int]] = []

    def add_prompt(self, prompt_id: int, item_outcomes: list[tuple[int, list[PairOutcome], int]]) -> None:
        total = sum(len(outcomes) for _, outcomes, _ in item_outcomes)
        for item_id, outcomes, num_labels in item_outcomes:
            if outcomes:
                # InstructGPT practice: a prompt's pairs share one unit of weight.
                self.pending.append((prompt_id, item_id, outcomes, 1.0 / total, num_labels))
        if len(self.pending) >= FLUSH_ITEMS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        item_ids = [row[1] for row in self.pending]
        prompts = {p.pk: p for p in Prompt.objects.filter(
            pk__in={row[0] for row in self.pending}).only("messages", "split")}
        slots: dict[int, dict[int, Response]] = {}
        for slot in ItemResponse.objects.filter(item_id__in=item_ids).select_related("response"):
            slots.setdefault(slot.item_id, {})[slot.position] = slot.response
        rows = []
        for prompt_id, item_id, outcomes, weight, num_labels in self.pending:
            prompt = prompts[prompt_id]
            for o in outcomes:
                chosen, rejected = slots[item_id][o.winner], slots[item_id][o.loser]
                row = SnapshotPair(
                    snapshot=self.snapshot, item_id=item_id, prompt_id=prompt_id,
                    prompt_messages=prompt.messages, chosen_response_id=chosen.pk,
                    rejected_response_id=rejected.pk, chosen=chosen.text, rejected=rejected.text,
                    chosen_messages=(chosen.metadata or {}).get("messages"),
                    rejected_messages=(rejected.metadata or {}).get("messages"),
                    chosen_model=chosen.model_name, rejected_model=rejected.model_name,
                    margin=round(o.margin, 6), is_tie=o.is_tie, weight=round(weight, 9),
                    agreement=round(o.agreement, 6), num_labels=num_labels,
                    split=prompt.split)
                rows.append(row)
                self.counts[prompt.split] += 1
                self.digest.update(canonical_json(pair_canonical(row)).encode())
                self.digest.update(b"\n")
        SnapshotPair.objects.bulk_create(rows, batch_size=1000)
        self.pending = []


def pair_canonical(pair: SnapshotPair) -> dict:
    """The fields a snapshot's content hash covers (no database row ids)."""
    canonical = {
        "item": pair.item_id, "prompt": pair.prompt_messages, "chosen": pair.chosen,
        "rejected": pair.rejected, "chosen_id": pair.chosen_response_id,
        "rejected_id": pair.rejected_response_id, "margin": pair.margin, "tie": pair.is_tie,
        "weight": pair.weight, "split": pair.split,
    }
    # Only multi-turn pairs carry messages: every other snapshot hashes as before.
    if pair.chosen_messages is not None or pair.rejected_messages is not None:
        canonical["messages"] = [pair.chosen_messages, pair.rejected_messages]
    return canonical


def _next_version(project: Project) -> int:
    # The project row lock serializes concurrent builds' version numbers.
    Project.objects.select_for_update().filter(pk=project.pk).values_list("pk").first()
    latest = DatasetSnapshot.objects.filter(project=project).aggregate(v=Max("version"))["v"]
    return (latest or 0) + 1


def dataset_snapshot_create(*, project: Project, filters: dict | None = None,
                            created_by=None) -> DatasetSnapshot:
    """The next snapshot version, to be filled by dataset_snapshot_fill (audited
    as ``created_by``; None: the system, as a schedule or the loop)."""
    cleaned = filters_clean(filters, project=project)
    with transaction.atomic():
        snapshot = DatasetSnapshot.objects.create(
            project=project, version=_next_version(project), created_by=created_by,
            filters=asdict(cleaned) | {"exclude_labelers": list(cleaned.exclude_labelers)},
            code_version=code_version())
        audit_record(created_by, "snapshot.create", snapshot, version=snapshot.version)
        return snapshot


def dataset_snapshot_fill(*, snapshot: DatasetSnapshot) -> DatasetSnapshot:
    """Build the pairs. All or none: a failure rolls them back and marks the
    snapshot failed. A second call (a task delivered twice) does nothing."""
    try:
        with transaction.atomic():
            locked = DatasetSnapshot.objects.select_for_update().select_related("project").get(
                pk=snapshot.pk)
            if locked.status == SnapshotStatus.BUILDING:
                _build_pairs(locked.project, locked, filters_clean(locked.filters))
    except Exception as error:
        DatasetSnapshot.objects.filter(pk=snapshot.pk, status=SnapshotStatus.BUILDING).update(
            status=SnapshotStatus.FAILED, error=str(error)[:2000], finished_at=timezone.now())
        raise
    snapshot.refresh_from_db()
    return snapshot


def dataset_snapshot_build(*, project: Project, filters: dict | None = None,
                           created_by=None) -> DatasetSnapshot:
    """Create and fill the next snapshot in this process."""
    snapshot = dataset_snapshot_create(project=project, filters=filters, created_by=created_by)
    return dataset_snapshot_fill(snapshot=snapshot)


def _build_pairs(project: Project, snapshot: DatasetSnapshot, f: SnapshotFilters) -> None:
    task = task_type_of(project)
    if task.unpaired:
        snapshot_completions_build(
            project=project, snapshot=snapshot, f=f,
            rows=annotations_selected(project, f, until=snapshot.created_at),
            labels_excluded=_labels_excluded(project, f, until=snapshot.created_at),
            adjudicated=adjudicated_item_outcomes(project=project, until=snapshot.created_at))
        return
    writer = _Writer(snapshot)
    adjudicated = adjudicated_item_outcomes(project=project, until=snapshot.created_at)
    items = items_kept = labels = ties = both_bad = 0
    agreement_sum = 0.0
    labelers_seen: set[int] = set()
    ds_sides = rank_weights = None
    if f.consensus == "weighted_rank":
        if f.consensus not in task.measures.consensus:
            raise Invalid("the weighted-rank consensus is for ranking projects", field="consensus")
        rank_weights = _ranking_weights(list(annotations_selected(project, f, until=snapshot.created_at)
                                             .order_by("pk").values_list(
                                                 "item_id", "labeler_id", "ranking", "display_order")))
    if f.consensus == "dawid_skene":
        if f.consensus not in task.measures.consensus:
            raise Invalid("Dawid–Skene consensus is not offered for this task type", field="consensus")
        ds_sides = _dawid_skene_sides(annotations_selected(project, f, until=snapshot.created_at)
                                      .values_list("item_id", "labeler_id", "strength")
                                      .iterator(chunk_size=5000))
    rows = annotations_selected(project, f, until=snapshot.created_at).order_by(
        "item__prompt_id", "item_id", "pk").values_list(
        "item_id", "item__prompt_id", "strength", "both_bad", "ranking", "labeler_id")
    dropped: dict[str, int] = {}
    tie_labels = preference_labels = 0
    for prompt_id, prompt_rows in groupby(rows.iterator(chunk_size=2000), key=lambda r: r[1]):
        per_item = []
        for item_id, item_rows in groupby(prompt_rows, key=lambda r: r[0]):
            item_labels = list(item_rows)
            items += 1
            labels += len(item_labels)
            both_bad += sum(1 for r in item_labels if r[3])
            preference_labels += sum(1 for r in item_labels if r[2] is not None or r[4])
            tie_labels += sum(1 for r in item_labels if _label_tie(task, r))
            labelers_seen.update(r[5] for r in item_labels)
            # An admin's decision overrides the consensus.
            outcomes = _item_outcomes(project, item_labels, f, ds_sides, rank_weights,
                                      adjudicated=adjudicated.get(item_id), dropped=dropped)
            if outcomes:
                items_kept += 1
                ties += sum(o.is_tie for o in outcomes)
                agreement_sum += sum(o.agreement for o in outcomes) / len(outcomes)
            per_item.append((item_id, outcomes, len(item_labels)))
        writer.add_prompt(prompt_id, per_item)
    writer.flush()
    pairs = sum(writer.counts.values())
    summary = {
        "items": items, "items_kept": items_kept, "labels": labels,
        "labelers": len(labelers_seen),
        "mean_item_agreement": round(agreement_sum / items_kept, 6) if items_kept else None,
        # Among the snapshot's pairs, after the ties filter (0 when ties are dropped).
        "tie_share": round(ties / pairs, 6) if pairs else None,
        "tie_pairs": ties,
        # Among the labels the snapshot drew on: what labelers said, before any pair filter.
        "tie_label_share": round(tie_labels / preference_labels, 6) if preference_labels else None,
        "both_bad_label_share": round(both_bad / labels, 6) if labels else None,
        "both_bad_labels": both_bad,
        "pairs_dropped": {name: dropped.get(name, 0) for name in PAIR_FILTERS},
        "labels_excluded": _labels_excluded(project, f, until=snapshot.created_at),
    }
    values = {"status": SnapshotStatus.READY, "counts": writer.counts, "agreement": summary,
              "content_hash": writer.digest.hexdigest(), "finished_at": timezone.now()}
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(**values)
    event_emit(project_id=project.pk, name="snapshot.built", data={
        "snapshot_id": snapshot.pk, "version": snapshot.version, "content_hash": values["content_hash"],
        "counts": writer.counts, "agreement": summary, "code_version": snapshot.code_version})


def dataset_snapshot_request(*, project: Project, filters: dict | None = None,
                             created_by=None) -> DatasetSnapshot:
    """Create the snapshot row now and build it on a worker."""
    with transaction.atomic():
        snapshot = dataset_snapshot_create(project=project, filters=filters, created_by=created_by)
        job_kind("snapshots").send(snapshot.pk, on_commit=True)
    return snapshot
