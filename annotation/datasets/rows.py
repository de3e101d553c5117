"""Row shapes of the export formats, produced one at a time from the database."""

import hashlib
import hmac
from collections.abc import Iterator

from django.conf import settings

from annotation.models import Annotation, DatasetSnapshot, SnapshotPair

CHUNK = 2000


def labeler_pseudonym(user_id: int) -> str:
    """A stable pseudonymous labeler id: no name or e-mail ever leaves Palate."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"labeler:{user_id}".encode(), hashlib.sha256)
    return "L-" + digest.hexdigest()[:16]


def transcript(messages: list[dict]) -> str:
    """A conversation as plain text, in the Anthropic HH layout TRL's text
    examples use; a single user turn is just its text."""
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    names = {"user": "Human", "assistant": "Assistant", "system": "System"}
    return "".join(f"\n\n{names[m['role']]}: {m['content']}" for m in messages) + "\n\nAssistant:"


def trl_row(pair: SnapshotPair, *, style: str) -> dict:
    if style == "conversational":
        return {
            "prompt": pair.prompt_messages,
            "chosen": [{"role": "assistant", "content": pair.chosen}],
            "rejected": [{"role": "assistant", "content": pair.rejected}],
        }
    return {"prompt": transcript(pair.prompt_messages), "chosen": pair.chosen,
            "rejected": pair.rejected}


def pair_meta(pair: SnapshotPair) -> dict:
    return {"margin": pair.margin, "weight": pair.weight, "is_tie": pair.is_tie,
            "agreement": pair.agreement, "num_labels": pair.num_labels,
            "item_id": pair.item_id, "chosen_model": pair.chosen_model,
            "rejected_model": pair.rejected_model}


def trl_rows(snapshot: DatasetSnapshot, *, split: str, style: str, meta: bool) -> Iterator[dict]:
    pairs = SnapshotPair.objects.filter(snapshot=snapshot, split=split).order_by("pk")
    for pair in pairs.iterator(chunk_size=CHUNK):
        row = trl_row(pair, style=style)
        yield row | pair_meta(pair) if meta else row


def raw_rows(snapshot: DatasetSnapshot, *, split: str) -> Iterator[dict]:
    """One row per annotation the snapshot drew on (labels made before it was built)."""
    from annotation.services.datasets import annotations_for_snapshot

    rows = annotations_for_snapshot(snapshot).filter(item__prompt__split=split).order_by("pk")
    rows = rows.select_related("item__prompt").prefetch_related("item__slots__response")
    for a in rows.iterator(chunk_size=CHUNK):
        yield raw_row(a)


def raw_row(a: Annotation) -> dict:
    return {
        "item_id": a.item_id, "prompt": a.item.prompt.messages,
        "prompt_id": a.item.prompt_id,
        "responses": [{"text": s.response.text, "model_name": s.response.model_name}
                      for s in sorted(a.item.slots.all(), key=lambda s: s.position)],
        "labeler": labeler_pseudonym(a.labeler_id),
        "source": a.source, "display_order": a.display_order, "strength": a.strength,
        "both_bad": a.both_bad, "ranking": a.ranking, "ratings": a.ratings,
        "rationale": a.rationale, "flagged_unsafe": a.flagged_unsafe,
        "time_on_task_ms": a.time_on_task_ms, "created_at": a.created_at.isoformat(),
    }
