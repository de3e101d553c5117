"""What of a snapshot may leave Palate: labelers only under pseudonyms.

A snapshot's filters name excluded labelers by username (that is how curators
type them); the manifest and datasheet of an export carry those filters, so
they are rewritten here with the pseudonyms the rows use.
"""

from django.contrib.auth import get_user_model

from annotation.datasets.rows import labeler_pseudonym


def filters_public(filters: dict) -> dict:
    names = (filters or {}).get("exclude_labelers") or []
    if not names:
        return dict(filters or {})
    ids = dict(get_user_model().objects.filter(username__in=names).values_list("username", "pk"))
    return filters | {"exclude_labelers": sorted(
        labeler_pseudonym(ids[name]) if name in ids else "unknown-labeler" for name in names)}
