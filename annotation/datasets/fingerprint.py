"""A snapshot's content hash without database ids, to compare across projects.

``DatasetSnapshot.content_hash`` covers item and response ids: it proves two
builds in one database are the same, but a dataset exported from one Palate
and imported into another (``import_preferences --format raw``) gets new ids.
The portable hash covers what a trainer sees and the labels decided — prompt,
chosen, rejected, the models that wrote them, margin, tie, weight, agreement,
label count and split — split by split in the snapshot's order, plus the filters. Two
snapshots with the same portable hash hold the same dataset row for row.
"""

import hashlib

from annotation.models import DatasetSnapshot, SnapshotPair
from annotation.splits import canonical_json

PORTABLE_FIELDS = ("prompt_messages", "chosen", "rejected", "chosen_model", "rejected_model",
                   "margin", "is_tie", "weight", "agreement", "num_labels", "split")


def snapshot_portable_hash(snapshot: DatasetSnapshot) -> str:
    """SHA-256 over the filters and every pair's PORTABLE_FIELDS, streamed."""
    digest = hashlib.sha256(canonical_json(snapshot.filters).encode())
    # Per split, in build order: importing a raw export split by split keeps
    # the order within each split (not the interleaving of the two).
    rows = (SnapshotPair.objects.filter(snapshot=snapshot).order_by("split", "pk")
            .values_list(*PORTABLE_FIELDS))
    for row in rows.iterator(chunk_size=2000):
        digest.update(canonical_json(dict(zip(PORTABLE_FIELDS, row, strict=True))).encode())
        digest.update(b"\n")
    return digest.hexdigest()
