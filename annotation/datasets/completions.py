"""Unpaired snapshots: one labeled completion per item (SnapshotCompletion).

The task types whose labels judge one response at a time (``unpaired``,
e.g. single-response feedback) give their snapshots prompt/completion/label
rows instead of preference pairs: what KTO trains on, and (the thumbs-up ones)
SFT. Streamed like the pairs: labels ordered by prompt and item, one prompt
at a time (a prompt's rows share one unit of weight), written in batches.

Filters as for pairs, in the same order: ``min_labels``, ``min_agreement``
(the share of the item's labels on the consensus side, or the Dawid–Skene
posterior), and ``ties``: an even split has no consensus and is dropped
whatever the filter says (a completion needs a thumbs up or down).
``both_bad`` does not apply (there is one response). An admin's
adjudication replaces the consensus and passes the label filters.
"""

import hashlib
from itertools import groupby

from django.utils import timezone

from annotation.events import event_emit
from annotation.models import (
    DatasetSnapshot,
    ItemResponse,
    Prompt,
    SnapshotCompletion,
    SnapshotStatus,
)
from annotation.splits import canonical_json
from annotation.task_types import task_type_of
from annotation.task_types.feedback import Feedback, feedback_dawid_skene

FLUSH_ITEMS = 500
COMPLETION_FILTERS = ("min_labels", "min_agreement", "ties")


def completion_canonical(row: SnapshotCompletion) -> dict:
    """The fields a snapshot's content hash covers (no database row ids)."""
    return {"item": row.item_id, "prompt": row.prompt_messages, "completion": row.completion,
            "response_id": row.response_id, "label": row.label, "score": row.score,
            "weight": row.weight, "split": row.split}


class _Writer:
    def __init__(self, snapshot: DatasetSnapshot):
        self.snapshot = snapshot
        self.digest = hashlib.sha256(canonical_json(snapshot.filters).encode())
        self.counts = {"train": 0, "test": 0}
        self.pending: list[tuple] = []

    def add_prompt(self, prompt_id: int, kept: list[tuple]) -> None:
        for item_id, outcome, num_labels in kept:
            self.pending.append((prompt_id, item_id, outcome, 1.0 / len(kept), num_labels))
        if len(self.pending) >= FLUSH_ITEMS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        prompts = {p.pk: p for p in Prompt.objects.filter(
            pk__in={row[0] for row in self.pending}).only("messages", "split")}
        responses = {slot.item_id: slot.response for slot in ItemResponse.objects.filter(
            item_id__in=[row[1] for row in self.pending], position=0).select_related("response")}
        rows = []
        for prompt_id, item_id, outcome, weight, num_labels in self.pending:
            prompt, response = prompts[prompt_id], responses[item_id]
            row = SnapshotCompletion(
                snapshot=self.snapshot, item_id=item_id, prompt_id=prompt_id,
                prompt_messages=prompt.messages, response_id=response.pk, completion=response.text,
                model_name=response.model_name, label=outcome.label, score=round(outcome.score, 6),
                weight=round(weight, 9), agreement=round(outcome.agreement, 6),
                num_labels=num_labels, split=prompt.split)
            rows.append(row)
            self.counts[prompt.split] += 1
            self.digest.update(canonical_json(completion_canonical(row)).encode())
            self.digest.update(b"\n")
        SnapshotCompletion.objects.bulk_create(rows, batch_size=1000)
        self.pending = []


def _kept(outcome, n_labels: int, f, adjudicated: bool, dropped: dict) -> bool:
    """Whether an item's outcome passes the filters; counts the filter that dropped it."""
    checks = () if adjudicated else ("min_labels", "min_agreement")
    for name in (*checks, "ties"):
        if name == "min_labels":
            fails = n_labels < f.min_labels
        elif name == "min_agreement":
            fails = outcome is not None and outcome.agreement < f.min_agreement
        else:
            fails = outcome is None
        if fails:
            dropped[name] = dropped.get(name, 0) + 1
            return False
    return True


def snapshot_completions_build(*, project, snapshot: DatasetSnapshot, f, rows,
                               labels_excluded: dict, adjudicated: dict) -> None:
    """Fill ``snapshot`` with labeled completions from ``rows`` (the snapshot's
    annotations, filters applied) and mark it ready. Runs inside the caller's
    transaction (dataset_snapshot_fill)."""
    task = task_type_of(project)
    if not isinstance(task, Feedback):  # the one unpaired type; its votes are thumbs
        raise TypeError(f"{task.name} labels are not single-response judgements")
    decided = None
    if f.consensus == "dawid_skene":
        decided = feedback_dawid_skene(rows.values_list("item_id", "labeler_id", task.judgement_field)
                                       .iterator(chunk_size=5000))
    writer = _Writer(snapshot)
    items = items_kept = labels = ups = 0
    agreement_sum = 0.0
    labelers: set[int] = set()
    dropped: dict[str, int] = {}
    ordered = rows.filter(**{f"{task.judgement_field}__isnull": False}).order_by(
        "item__prompt_id", "item_id", "pk").values_list(
        "item_id", "item__prompt_id", task.judgement_field, "labeler_id")
    for prompt_id, prompt_rows in groupby(ordered.iterator(chunk_size=2000), key=lambda r: r[1]):
        kept = []
        for item_id, item_rows in groupby(prompt_rows, key=lambda r: r[0]):
            item_labels = list(item_rows)
            votes = [r[2] for r in item_labels]
            items += 1
            labels += len(votes)
            ups += sum(votes)
            labelers.update(r[3] for r in item_labels)
            if item_id in adjudicated:
                outcome = adjudicated[item_id][0]
            else:
                outcome = task.completion(votes, f.consensus,
                                          decided=None if decided is None else decided.get(item_id))
            if not _kept(outcome, len(votes), f, item_id in adjudicated, dropped):
                continue
            items_kept += 1
            agreement_sum += outcome.agreement
            kept.append((item_id, outcome, len(votes)))
        if kept:
            writer.add_prompt(prompt_id, kept)
    writer.flush()
    total = sum(writer.counts.values())
    summary = {
        "items": items, "items_kept": items_kept, "labels": labels, "labelers": len(labelers),
        "mean_item_agreement": round(agreement_sum / items_kept, 6) if items_kept else None,
        "up_label_share": round(ups / labels, 6) if labels else None,
        "up_rows": SnapshotCompletion.objects.filter(snapshot=snapshot, label=True).count(),
        "rows": total,
        "pairs_dropped": {name: dropped.get(name, 0) for name in COMPLETION_FILTERS},
        "labels_excluded": labels_excluded,
    }
    values = {"status": SnapshotStatus.READY, "counts": writer.counts, "agreement": summary,
              "content_hash": writer.digest.hexdigest(), "finished_at": timezone.now()}
    DatasetSnapshot.objects.filter(pk=snapshot.pk).update(**values)
    event_emit(project_id=project.pk, name="snapshot.built", data={
        "snapshot_id": snapshot.pk, "version": snapshot.version, "content_hash": values["content_hash"],
        "counts": writer.counts, "agreement": summary, "code_version": snapshot.code_version})
