"""Agreement over time: how consistent the labels of each period are.

Each item belongs to the period of its *latest* annotation (when its labels
were complete), so an item is counted once, in the period that finished it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from annotation.quality._common import as_id_vector, check_lengths, encode
from annotation.quality.agreement import krippendorff_alpha, percent_agreement, reliability_matrix


@dataclass(frozen=True)
class AgreementPeriod:
    """One period's figures; ``alpha`` and ``percent`` are None when undefined."""

    period: object
    n_items: int
    n_annotations: int
    alpha: float | None
    percent: float | None

    def as_dict(self) -> dict:
        period = self.period.item() if isinstance(self.period, np.generic) else self.period
        return {"period": period, "n_items": self.n_items, "n_annotations": self.n_annotations,
                "alpha": self.alpha, "percent": self.percent}


def agreement_over_time(
    *,
    items: npt.ArrayLike,
    labelers: npt.ArrayLike,
    labels: npt.ArrayLike,
    periods: npt.ArrayLike,
    level: str = "nominal",
) -> list[AgreementPeriod]:
    """Krippendorff's alpha (``level``, nominal by default) and percent agreement per
    period, oldest first. Rankings pass one row per (item, response) unit with the
    rank as the label and ``level="ordinal"``.

    ``periods[t]`` is any sortable key of annotation ``t``'s time (an ISO week
    or day string, an integer); item ``i``'s period is the largest key among
    its annotations. Per period, over the items it finished::

        alpha   = krippendorff_alpha(labels of those items, level)
        percent = percent_agreement(same matrix)

    A period whose items have no pair of labels gets None for both.
    """
    item_arr = as_id_vector(items, name="items")
    labeler_arr = as_id_vector(labelers, name="labelers")
    label_arr = np.asarray(labels, dtype=np.float64)
    period_arr = as_id_vector(periods, name="periods")
    check_lengths(items=item_arr, labelers=labeler_arr, labels=label_arr, periods=period_arr)
    if len(item_arr) == 0:
        return []
    if not np.isfinite(label_arr).all():
        raise ValueError("labels must be finite (drop missing labels first)")
    _, item = encode(item_arr)
    period_ids, period = encode(period_arr)
    item_period = np.full(int(item.max()) + 1, -1, dtype=np.int64)
    np.maximum.at(item_period, item, period)
    finished = item_period[item]
    out = []
    for code, key in enumerate(period_ids):
        mask = finished == code
        if not mask.any():
            continue
        matrix = reliability_matrix(items=item_arr[mask], annotators=labeler_arr[mask],
                                    values=label_arr[mask]).data
        out.append(AgreementPeriod(
            period=key,
            n_items=int(len(np.unique(item[mask]))),
            n_annotations=int(mask.sum()),
            alpha=krippendorff_alpha(reliability_data=matrix, level=level),  # type: ignore[arg-type]  # checked there
            percent=percent_agreement(reliability_data=matrix),
        ))
    return out
