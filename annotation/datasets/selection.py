"""Which labels a snapshot draws on: its stored filters, parsed, and the
annotations they select (labels made before the snapshot, gold items out).

Below the services and the writers alike: exports, the datasheet and snapshot
builds all read the same selection."""

from dataclasses import dataclass, fields
from datetime import date

from annotation.errors import Invalid
from annotation.models import Annotation, AnnotationSource, DatasetSnapshot, Project

CONSENSUS_METHODS = ("majority", "mean", "dawid_skene", "weighted_rank")


@dataclass(frozen=True)
class SnapshotFilters:
    # Stored explicitly at creation (the project's default unless asked
    # otherwise), so a rebuild uses the method the snapshot was made with.
    consensus: str = "majority"
    min_agreement: float = 0.0
    min_labels: int = 1
    ties: str = "drop"
    both_bad: str = "drop"
    exclude_labelers: tuple[str, ...] = ()
    include_model_labels: bool = True
    date_from: str | None = None
    date_to: str | None = None


def filters_parse(data: dict | None) -> SnapshotFilters:
    """Checked filters as stored; a missing consensus is "majority" (the
    services fill in a project's default before this, for new snapshots)."""
    data = dict(data or {})
    known = {f.name for f in fields(SnapshotFilters)}
    unknown = set(data) - known
    if unknown:
        raise Invalid("unknown filter", field=sorted(unknown)[0])
    if data.get("consensus", "majority") not in CONSENSUS_METHODS:
        raise Invalid(f"must be one of {', '.join(CONSENSUS_METHODS)}", field="consensus")
    for name in ("ties", "both_bad"):
        if data.get(name, "drop") not in ("drop", "keep"):
            raise Invalid("must be drop or keep", field=name)
    agreement = data.get("min_agreement", 0.0)
    if isinstance(agreement, bool) or not isinstance(agreement, int | float) or not 0 <= agreement <= 1:
        raise Invalid("must be a number from 0 to 1", field="min_agreement")
    labels = data.get("min_labels", 1)
    if isinstance(labels, bool) or not isinstance(labels, int) or labels < 1:
        raise Invalid("must be a positive integer", field="min_labels")
    excluded = data.get("exclude_labelers", ())
    if isinstance(excluded, str) or not all(isinstance(u, str) for u in excluded):
        raise Invalid("must be a list of usernames", field="exclude_labelers")
    data["exclude_labelers"] = tuple(sorted(set(excluded)))
    for name in ("date_from", "date_to"):
        if data.get(name) is not None:
            try:
                data[name] = date.fromisoformat(str(data[name])).isoformat()
            except ValueError:
                raise Invalid("must be a date (YYYY-MM-DD)", field=name) from None
    data["min_agreement"] = float(agreement)
    data["include_model_labels"] = bool(data.get("include_model_labels", True))
    return SnapshotFilters(**data)


def annotations_selected(project: Project, f: SnapshotFilters, *, until):
    # Only labels that existed when the snapshot was created: a rebuild of the
    # same snapshot, or its raw export later, sees the same rows.
    rows = Annotation.objects.filter(project=project, item__is_gold=False, created_at__lte=until)
    if f.exclude_labelers:
        rows = rows.exclude(labeler__username__in=f.exclude_labelers)
    if not f.include_model_labels:
        rows = rows.exclude(source=AnnotationSource.MODEL)
    if f.date_from:
        rows = rows.filter(created_at__date__gte=f.date_from)
    if f.date_to:
        rows = rows.filter(created_at__date__lte=f.date_to)
    return rows


def annotations_for_snapshot(snapshot: DatasetSnapshot):
    return annotations_selected(snapshot.project, filters_parse(snapshot.filters),
                                until=snapshot.created_at)
