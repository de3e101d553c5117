"""Training test data: a registered tiny backbone and READY snapshots of
synthetic, learnable pairs written directly (no labeling needed)."""

import hashlib
import itertools
from pathlib import Path

from django.utils import timezone

from annotation.models import DatasetSnapshot, Project, SnapshotPair, SnapshotStatus
from generation.models import ModelRole, ModelSpec
from training.synthetic import synthetic_pairs

_versions = itertools.count(1000)

# Small and quick: a run of these finishes in about a second on a CPU.
FAST = {"max_steps": 6, "batch_size": 8, "learning_rate": 3e-3, "logging_steps": 2,
        "checkpoint_every_steps": 3, "device": "cpu", "eval_batch_size": 16}


def backbone_make(path: Path, name: str = "tiny-bert") -> ModelSpec:
    return ModelSpec.objects.create(name=name, role=ModelRole.REWARD, path=str(path),
                                    base_model="random BertConfig", source="tests")


def snapshot_make(project: Project, *, train: int = 64, test: int = 16, ties: int = 0,
                  seed: int = 0) -> DatasetSnapshot:
    snapshot = DatasetSnapshot.objects.create(
        project=project, version=next(_versions), status=SnapshotStatus.READY,
        counts={"train": train, "test": test}, finished_at=timezone.now(),
        content_hash=hashlib.sha256(f"{project.pk}-{seed}-{train}-{test}".encode()).hexdigest())
    rows = []
    for split, pairs in (("train", synthetic_pairs(train, seed=seed, ties=ties)),
                         ("test", synthetic_pairs(test, seed=seed + 1))):
        for i, p in enumerate(pairs):
            rows.append(SnapshotPair(
                snapshot=snapshot, item_id=i, prompt_id=i, prompt_messages=p.prompt_messages,
                chosen_response_id=2 * i, rejected_response_id=2 * i + 1, chosen=p.chosen,
                rejected=p.rejected, chosen_model="m0", rejected_model="m1", margin=p.margin,
                is_tie=p.is_tie, weight=1.0, agreement=1.0, num_labels=3, split=split))
    SnapshotPair.objects.bulk_create(rows)
    return snapshot
