"""Inter-annotator agreement on a reliability matrix.

Input convention: ``reliability_data`` is an (annotators × items) array of
numbers with NaN where an annotator did not label an item, so items may have
different annotator sets (this is the layout of the ``krippendorff`` package).
:func:`reliability_matrix` builds it from long-format ``(item, annotator,
value)`` triples as they come out of the database.

Every statistic returns ``None`` when it is undefined for the data (no item
with two values, no variation at all, one annotator); malformed input raises
``ValueError``. No function here returns NaN as a scalar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

import numpy as np
import numpy.typing as npt

from annotation.quality._common import (
    BoolArray,
    FloatArray,
    IntArray,
    as_finite_vector,
    as_id_vector,
    as_reliability_matrix,
    check_lengths,
    encode,
    encode_with_domain,
    float_domain,
    group_sizes_and_starts,
    nan_to_none,
    sorted_domain,
    within_group_pairs,
)

Level = Literal["nominal", "ordinal", "interval"]
KappaWeights = Literal["linear", "quadratic"] | None
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval")

# Dense (item × value) count tables are used while items × values stays below this.
_DENSE_CELLS = 1 << 25
# Data whose values are at most this many integers apart take the comparison fast path.
_SMALL_DOMAIN = 16


@dataclass(frozen=True)
class ReliabilityMatrix:
    """A reliability matrix with the ids its rows and columns stand for.

    ``data[a, i]`` is annotator ``annotator_ids[a]``'s value for item
    ``item_ids[i]`` (NaN when missing). Ids are sorted ascending.
    """

    data: FloatArray
    annotator_ids: np.ndarray
    item_ids: np.ndarray


def reliability_matrix(
    *, items: npt.ArrayLike, annotators: npt.ArrayLike, values: npt.ArrayLike
) -> ReliabilityMatrix:
    """Pivot long-format triples into an (annotators × items) matrix with NaN for missing cells.

    ``items[t]``, ``annotators[t]``, ``values[t]`` describe one annotation.
    Ids may be any integers or strings (e.g. database primary keys). A second
    value for the same (annotator, item) cell raises ValueError, as does a
    non-finite value.
    """
    item_arr = as_id_vector(items, name="items")
    annotator_arr = as_id_vector(annotators, name="annotators")
    value_arr = as_finite_vector(values, name="values")
    check_lengths(items=item_arr, annotators=annotator_arr, values=value_arr)
    item_ids, item_idx = encode(item_arr)
    annotator_ids, annotator_idx = encode(annotator_arr)
    cell = annotator_idx * len(item_ids) + item_idx
    if len(np.unique(cell)) != len(cell):
        raise ValueError("an annotator has more than one value for the same item")
    data = np.full((len(annotator_ids), len(item_ids)), np.nan)
    data[annotator_idx, item_idx] = value_arr
    return ReliabilityMatrix(data=data, annotator_ids=annotator_ids, item_ids=item_ids)


# --------------------------------------------------------------------------- value counts


@dataclass(frozen=True)
class _UnitValues:
    """Sparse value counts of the items that hold at least two values ("pairable units").

    Entry ``e`` says item ``unit[e]`` holds value ``domain[code[e]]`` ``count[e]``
    times. ``m[u]`` is item ``u``'s number of values (0 for items that are not
    pairable, which have no entries). ``domain`` holds every value seen in the
    input, including values only seen in unpairable items.
    """

    unit: IntArray
    code: IntArray
    count: FloatArray
    m: FloatArray
    domain: FloatArray
    n_items: int

    @property
    def pairable(self) -> BoolArray:
        return self.m >= 2


def _small_domain_table(
    data: FloatArray, value_domain: npt.ArrayLike | None
) -> tuple[FloatArray, FloatArray] | None:
    """Dense item × value counts when the data take few distinct values, else None.

    One vectorized comparison per candidate value, so no index arrays are
    built: the fast path for rating scales such as -2..2. Candidates are the
    given ``value_domain`` or the integers between the data's min and max; the
    path is taken only if every non-missing value matched a candidate.
    """
    n_present = int(np.count_nonzero(~np.isnan(data)))
    if value_domain is not None:
        candidates = sorted_domain(value_domain, name="value_domain")
    elif n_present == 0:
        return None
    else:
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        if hi - lo > _SMALL_DOMAIN or lo != np.floor(lo):
            return None
        candidates = np.arange(lo, hi + 1.0)
    if len(candidates) > _SMALL_DOMAIN + 1:
        return None
    table = np.empty((data.shape[1], len(candidates)))
    for j, value in enumerate(candidates):
        table[:, j] = np.add.reduce((data == value).view(np.uint8), axis=0, dtype=np.int32)
    if int(table.sum()) != n_present:
        return None  # some value is not a candidate: the general path encodes (or rejects) it
    if value_domain is None:
        used = table.any(axis=0)
        table, candidates = table[:, used], candidates[used]
    return table, candidates


def _unit_values_from_table(table: FloatArray, domain: FloatArray) -> _UnitValues:
    m = table.sum(axis=1)
    units, codes = np.nonzero(table * (m >= 2)[:, None])
    return _UnitValues(
        unit=units.astype(np.int64, copy=False),
        code=codes.astype(np.int64, copy=False),
        count=table[units, codes],
        m=m * (m >= 2),
        domain=domain,
        n_items=table.shape[0],
    )


def _unit_values_from_matrix(data: FloatArray, value_domain: npt.ArrayLike | None) -> _UnitValues:
    small = _small_domain_table(data, value_domain)
    if small is not None:
        return _unit_values_from_table(*small)
    mask = ~np.isnan(data)
    n_items = data.shape[1]
    per_item = mask.sum(axis=0)
    values = data[mask]
    if value_domain is None:
        domain, codes = float_domain(values)
    else:
        domain = sorted_domain(value_domain, name="value_domain")
        codes = encode_with_domain(values, domain, name="reliability_data")
    units = np.nonzero(mask)[1]
    keep = per_item[units] >= 2
    return _compress(units[keep], codes[keep], domain, n_items)


def _unit_values_from_counts(counts: npt.ArrayLike, value_domain: npt.ArrayLike | None) -> _UnitValues:
    table = np.asarray(counts, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"counts must be 2-D (items × values), got shape {table.shape}")
    if not np.isfinite(table).all() or (table < 0).any() or not np.array_equal(table, np.round(table)):
        raise ValueError("counts must be non-negative integers")
    n_items, n_values = table.shape
    if value_domain is None:
        domain = np.arange(n_values, dtype=np.float64)
    else:
        domain = as_finite_vector(value_domain, name="value_domain")
        if len(domain) != n_values:
            raise ValueError("value_domain must have one entry per column of counts")
        if len(domain) > 1 and (np.diff(domain) <= 0).any():
            raise ValueError("value_domain must be strictly increasing (it orders the columns of counts)")
    return _unit_values_from_table(table, domain)


def _compress(units: IntArray, codes: IntArray, domain: FloatArray, n_items: int) -> _UnitValues:
    """Collapse repeated (unit, code) entries into counts."""
    n_values = max(len(domain), 1)
    keys = units * n_values + codes
    if n_items * n_values <= _DENSE_CELLS:
        dense = np.bincount(keys, minlength=n_items * n_values)
        keys = np.flatnonzero(dense)
        counts = dense[keys].astype(np.float64)
    else:
        keys, counts_int = np.unique(keys, return_counts=True)
        counts = counts_int.astype(np.float64)
    unit = keys // n_values
    # np.bincount with weights is float64; numpy's stubs say integer (hence the casts here).
    m = cast(FloatArray, np.bincount(unit, weights=counts, minlength=n_items))
    return _UnitValues(
        unit=unit, code=keys % n_values, count=counts, m=m, domain=domain, n_items=n_items
    )


def _unit_values(
    reliability_data: npt.ArrayLike | None, counts: npt.ArrayLike | None, value_domain: npt.ArrayLike | None
) -> _UnitValues:
    if (reliability_data is None) == (counts is None):
        raise ValueError("pass exactly one of reliability_data or counts")
    if reliability_data is not None:
        return _unit_values_from_matrix(as_reliability_matrix(reliability_data), value_domain)
    return _unit_values_from_counts(cast(npt.ArrayLike, counts), value_domain)  # not None: checked above


def value_counts(
    *, reliability_data: npt.ArrayLike, value_domain: npt.ArrayLike | None = None
) -> tuple[IntArray, FloatArray]:
    """Item × value count table of a reliability matrix.

    Returns ``(counts, domain)`` where ``counts[i, v]`` is how many annotators
    gave item ``i`` the value ``domain[v]``. ``domain`` is ``value_domain``
    (sorted) when given, else the sorted distinct values of the data. This is
    the input format of :func:`fleiss_kappa` and of statsmodels' ``fleiss_kappa``.
    Meant for categories: ValueError if the dense table would exceed 2**27 cells.
    """
    data = as_reliability_matrix(reliability_data)
    mask = ~np.isnan(data)
    values = data[mask]
    if value_domain is None:
        domain, codes = float_domain(values)
    else:
        domain = sorted_domain(value_domain, name="value_domain")
        codes = encode_with_domain(values, domain, name="reliability_data")
    units = np.nonzero(mask)[1]
    n_items, n_values = data.shape[1], len(domain)
    if n_items * n_values > 1 << 27:
        raise ValueError(f"{n_values} distinct values × {n_items} items is too large for a count table")
    table = np.bincount(units * n_values + codes, minlength=n_items * n_values)
    return table.reshape(n_items, n_values).astype(np.int64), domain


# --------------------------------------------------------------------------- Krippendorff


def _ordinal_positions(n_v: FloatArray) -> FloatArray:
    """Mid-cumulative frequencies ``a_c = sum_{g<=c} n_g - n_c / 2``.

    Krippendorff's ordinal distance ``(sum_{g=c..k} n_g - (n_c + n_k)/2)^2``
    equals ``(a_k - a_c)^2``, so ordinal alpha is interval alpha on ``a``.
    """
    return np.cumsum(n_v) - n_v / 2.0


def _within_unit_disagreement(uv: _UnitValues, level: Level, n_v: FloatArray) -> FloatArray:
    """Per item ``q_u = sum_{i != j in u} delta(x_i, x_j) / (m_u - 1)`` (0 for unpairable items)."""
    m = uv.m
    pairable = m >= 2
    q = np.zeros(uv.n_items)
    if level == "nominal":
        squares = np.bincount(uv.unit, weights=uv.count**2, minlength=uv.n_items)
        q[pairable] = (m[pairable] ** 2 - squares[pairable]) / (m[pairable] - 1.0)
        return q
    x = uv.domain if level == "interval" else _ordinal_positions(n_v)
    x_entry = x[uv.code]
    mean = np.zeros(uv.n_items)
    sums = np.bincount(uv.unit, weights=uv.count * x_entry, minlength=uv.n_items)
    mean[pairable] = sums[pairable] / m[pairable]
    deviation = x_entry - mean[uv.unit]
    squares = np.bincount(uv.unit, weights=uv.count * deviation**2, minlength=uv.n_items)
    q[pairable] = 2.0 * m[pairable] * squares[pairable] / (m[pairable] - 1.0)
    return q


def _expected_disagreement(level: Level, n_v: FloatArray, domain: FloatArray) -> float:
    """``sum_{c,k} n_c n_k delta_ck`` for the pairable-value marginals ``n_v``."""
    n = n_v.sum()
    if level == "nominal":
        return float(n * n - (n_v**2).sum())
    x = domain if level == "interval" else _ordinal_positions(n_v)
    mean = (n_v * x).sum() / n
    return float(2.0 * n * (n_v * (x - mean) ** 2).sum())


def _alpha(uv: _UnitValues, level: Level, weights: FloatArray | None = None) -> float | None:
    entry_weight = uv.count if weights is None else uv.count * weights[uv.unit]
    n_v = cast(FloatArray, np.bincount(uv.code, weights=entry_weight, minlength=len(uv.domain)))
    n = n_v.sum()
    if n < 2:
        return None
    q = _within_unit_disagreement(uv, level, n_v)
    observed = float(q.sum() if weights is None else (q * weights).sum())
    expected = _expected_disagreement(level, n_v, uv.domain)
    if expected <= 0.0:
        return None
    return 1.0 - (n - 1.0) * observed / expected


class _AlphaResampler:
    """Evaluates alpha for item weights ``w`` (bootstrap multiplicities) without copying data.

    Every term of alpha is a weighted sum over items: ``n_v = sum_u w_u n_u.``
    and ``sum o d = sum_u w_u q_u``. ``q_u`` is fixed for nominal and interval
    data; for ordinal data it depends on the marginals through the positions
    ``a``, and is recomputed from per-item moments ``sum_c n_uc a_c`` and
    ``sum_c n_uc a_c^2`` (after centring ``a``).
    """

    def __init__(self, uv: _UnitValues, level: Level) -> None:
        self.level = level
        self.domain = uv.domain
        self.items = np.flatnonzero(uv.pairable)
        position = np.full(uv.n_items, -1, dtype=np.int64)
        position[self.items] = np.arange(len(self.items))
        n_pairable, n_values = len(self.items), len(uv.domain)
        self.m = uv.m[self.items]
        # Few distinct values: a dense value-major (values × items) table, so each
        # reduction runs over contiguous memory. Plain ufunc reductions rather than
        # BLAS matrix-vector products, which are slow on tall, thin operands when
        # the cores are shared. Many values (continuous data): the sparse entries.
        self.table: FloatArray | None = None
        self.entry_unit = position[uv.unit]
        self.entry_code = uv.code
        self.entry_count = uv.count
        if n_values * n_pairable <= _DENSE_CELLS:
            self.table = np.zeros((n_values, n_pairable))
            self.table[uv.code, self.entry_unit] = uv.count
        n_v = cast(FloatArray, np.bincount(uv.code, weights=uv.count, minlength=n_values))
        self.q = None if level == "ordinal" else _within_unit_disagreement(uv, level, n_v)[self.items]

    def _marginals(self, weights: FloatArray) -> FloatArray:
        if self.table is not None:
            return (self.table * weights).sum(axis=1)
        return cast(FloatArray, np.bincount(
            self.entry_code, weights=self.entry_count * weights[self.entry_unit], minlength=len(self.domain)
        ))

    def _item_sums(self, per_value: FloatArray) -> FloatArray:
        """``sum_c n_uc per_value[c]`` for every pairable item ``u``."""
        if self.table is not None:
            return (self.table * per_value[:, None]).sum(axis=0)
        return cast(FloatArray, np.bincount(
            self.entry_unit, weights=self.entry_count * per_value[self.entry_code], minlength=len(self.items)
        ))

    def alpha(self, weights: FloatArray) -> float | None:
        n_v = self._marginals(weights)
        n = n_v.sum()
        if n < 2:
            return None
        if self.q is not None:
            observed = float((weights * self.q).sum())
        else:
            a = _ordinal_positions(n_v)
            a = a - (n_v * a).sum() / n
            first = self._item_sums(a)
            second = self._item_sums(a * a)
            squares = np.maximum(second - first * first / self.m, 0.0)
            observed = float((weights * 2.0 * self.m * squares / (self.m - 1.0)).sum())
        expected = _expected_disagreement(self.level, n_v, self.domain)
        if expected <= 0.0:
            return None
        return 1.0 - (n - 1.0) * observed / expected


def _check_level(level: str) -> Level:
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    return level


def krippendorff_alpha(
    *,
    reliability_data: npt.ArrayLike | None = None,
    counts: npt.ArrayLike | None = None,
    level: Level = "nominal",
    value_domain: npt.ArrayLike | None = None,
) -> float | None:
    """Krippendorff's alpha for nominal, ordinal or interval data with missing values.

    Pass either ``reliability_data`` (annotators × items, NaN = missing) or
    ``counts`` (items × values, as from :func:`value_counts`; ``value_domain``
    then names the value of each column, default ``0..V-1``).

    With ``n_uc`` the number of values ``c`` in item ``u``, ``m_u = sum_c n_uc``,
    the coincidence matrix ``o_ck = sum_u (n_uc n_uk - [c=k] n_uc) / (m_u - 1)``
    over items with ``m_u >= 2``, ``n_c = sum_k o_ck`` and ``n = sum_c n_c``::

        alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck

    with ``d_ck = [c != k]`` (nominal), ``(v_c - v_k)^2`` (interval) and
    ``(sum_{g=c..k} n_g - (n_c + n_k)/2)^2`` (ordinal). The sums are evaluated
    in closed form per item (``sum_ck o_ck d_ck = sum_u sum_{i!=j in u} d / (m_u - 1)``),
    so the cost is linear in the number of annotations and independent of the
    number of distinct values. Matches the ``krippendorff`` package
    (``alpha(reliability_data, level_of_measurement=level)``).

    Returns ``None`` when alpha is undefined: no item has two values (including
    a single annotator and an empty matrix), or there is no variation among the
    pairable values (``D_e = 0``, e.g. all labels identical). ValueError for a
    bad ``level``, shape, value outside ``value_domain`` or an infinite value.
    """
    level = _check_level(level)
    return _alpha(_unit_values(reliability_data, counts, value_domain), level)


# --------------------------------------------------------------------------- Fleiss, percent


def fleiss_kappa(
    *,
    counts: npt.ArrayLike | None = None,
    reliability_data: npt.ArrayLike | None = None,
    raters_per_item: int | None = None,
) -> float | None:
    """Fleiss' kappa for items rated by the same number of raters.

    ``counts[i, j]`` is the number of raters who put item ``i`` in category
    ``j`` (statsmodels' layout); alternatively pass ``reliability_data``
    (annotators × items, NaN = missing). With ``n`` raters per item and ``N`` items::

        P_i = (sum_j n_ij^2 - n) / (n (n - 1))      P_bar = mean_i P_i
        p_j = sum_i n_ij / (N n)                     P_e   = sum_j p_j^2
        kappa = (P_bar - P_e) / (1 - P_e)

    Rule for unequal counts: items with no ratings are ignored. If
    ``raters_per_item`` is given, only items with exactly that many ratings
    are used (e.g. the project's overlap, so in-flight items drop out);
    otherwise every rated item must have the same count, else ValueError —
    use :func:`krippendorff_alpha` (nominal), which handles unequal counts.

    Returns ``None`` when undefined: no usable item, fewer than two raters per
    item, or every rating in one category (``P_e = 1``).
    """
    if (counts is None) == (reliability_data is None):
        raise ValueError("pass exactly one of counts or reliability_data")
    if reliability_data is not None:
        table = value_counts(reliability_data=reliability_data)[0].astype(np.float64)
    else:
        table = np.asarray(counts, dtype=np.float64)
        if table.ndim != 2:
            raise ValueError(f"counts must be 2-D (items × categories), got shape {table.shape}")
        if not np.isfinite(table).all() or (table < 0).any() or not np.array_equal(table, np.round(table)):
            raise ValueError("counts must be non-negative integers")
    per_item = table.sum(axis=1)
    if raters_per_item is not None:
        if raters_per_item < 1:
            raise ValueError("raters_per_item must be at least 1")
        table = table[per_item == raters_per_item]
    else:
        table = table[per_item > 0]
        sizes = np.unique(per_item[per_item > 0])
        if len(sizes) > 1:
            raise ValueError(
                f"items have unequal numbers of ratings ({sizes.tolist()}); pass raters_per_item "
                "to use only items with that many ratings, or use krippendorff_alpha"
            )
    if len(table) == 0:
        return None
    n = float(table[0].sum())
    if n < 2:
        return None
    p_items = ((table**2).sum(axis=1) - n) / (n * (n - 1.0))
    p_bar = float(p_items.mean())
    p_cat = table.sum(axis=0) / (len(table) * n)
    p_e = float((p_cat**2).sum())
    if p_e >= 1.0:
        return None
    return (p_bar - p_e) / (1.0 - p_e)


def percent_agreement(
    *, reliability_data: npt.ArrayLike | None = None, counts: npt.ArrayLike | None = None
) -> float | None:
    """Raw pairwise percent agreement, the mean over items of the share of agreeing rater pairs.

    For item ``u`` with ``m_u >= 2`` values, ``P_u = sum_c n_uc (n_uc - 1) / (m_u (m_u - 1))``;
    the result is the unweighted mean of ``P_u`` over those items (Fleiss'
    ``P_bar`` when every item has the same number of raters). Not chance
    corrected. ``None`` when no item has two values.
    """
    uv = _unit_values(reliability_data, counts, None)
    pairable = uv.pairable
    if not pairable.any():
        return None
    same = np.bincount(uv.unit, weights=uv.count * (uv.count - 1.0), minlength=uv.n_items)
    m = uv.m[pairable]
    return float((same[pairable] / (m * (m - 1.0))).mean())


# --------------------------------------------------------------------------- Cohen


def _kappa_weights(n_labels: int, weights: KappaWeights) -> FloatArray:
    if weights is None:
        return 1.0 - np.eye(n_labels)
    positions = np.arange(n_labels, dtype=np.float64)
    diff = positions[:, None] - positions[None, :]
    if weights == "linear":
        return np.abs(diff)
    if weights == "quadratic":
        return diff**2
    raise ValueError(f"weights must be None, 'linear' or 'quadratic', got {weights!r}")


def _kappa_from_confusion(confusion: FloatArray, weight_matrix: FloatArray) -> FloatArray:
    """Vectorized Cohen's kappa over a stack (..., V, V) of confusion tables; NaN when undefined."""
    n = confusion.sum(axis=(-2, -1))
    rows = confusion.sum(axis=-1)
    cols = confusion.sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = rows[..., :, None] * cols[..., None, :] / n[..., None, None]
        observed_d = (weight_matrix * confusion).sum(axis=(-2, -1))
        expected_d = (weight_matrix * expected).sum(axis=(-2, -1))
        kappa = 1.0 - observed_d / expected_d
    kappa = np.where((n > 0) & (expected_d > 0), kappa, np.nan)
    return kappa


def cohen_kappa(
    *,
    rater_a: npt.ArrayLike,
    rater_b: npt.ArrayLike,
    weights: KappaWeights = None,
    labels: npt.ArrayLike | None = None,
) -> float | None:
    """Cohen's kappa between two raters on the items both labeled (NaN = missing).

    With confusion table ``O`` (``O_xy`` = items rated ``x`` by A and ``y`` by B),
    ``n`` items, expected table ``E_xy = O_x. O_.y / n`` and disagreement
    weights ``w`` (unweighted ``[x != y]``, linear ``|i - j|``, quadratic
    ``(i - j)^2`` where ``i``, ``j`` are positions in ``labels``)::

        kappa = 1 - sum w O / sum w E

    ``labels`` (the ordered label set) defaults to the sorted union of the
    values both raters used on their common items, exactly as scikit-learn's
    ``cohen_kappa_score``; pass the full scale (e.g. ``-2..2``) for weighted
    kappa that does not depend on which values happened to be used.
    ``None`` when undefined (no common item, or ``sum w E = 0``, e.g. both raters
    constant on the same label).
    """
    a = np.asarray(rater_a, dtype=np.float64)
    b = np.asarray(rater_b, dtype=np.float64)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError("rater_a and rater_b must be 1-D")
    check_lengths(rater_a=a, rater_b=b)
    if np.isinf(a).any() or np.isinf(b).any():
        raise ValueError("ratings must be finite or NaN")
    both = ~np.isnan(a) & ~np.isnan(b)
    a, b = a[both], b[both]
    if len(a) == 0:
        return None
    domain = np.unique(np.concatenate([a, b])) if labels is None else sorted_domain(labels, name="labels")
    codes_a = encode_with_domain(a, domain, name="rater_a")
    codes_b = encode_with_domain(b, domain, name="rater_b")
    n_labels = len(domain)
    confusion = np.bincount(codes_a * n_labels + codes_b, minlength=n_labels * n_labels)
    kappa = _kappa_from_confusion(
        confusion.reshape(n_labels, n_labels).astype(np.float64), _kappa_weights(n_labels, weights)
    )
    value = float(kappa)
    return None if np.isnan(value) else value


@dataclass(frozen=True)
class PairwiseAgreement:
    """Annotator × annotator agreement on the items each pair labeled in common.

    ``kappa[a, b]`` is Cohen's kappa and ``percent[a, b]`` the share of common
    items with identical labels; ``n_common[a, b]`` counts the common items.
    Cells are NaN exactly where ``defined`` is false (fewer than ``min_common``
    common items, or kappa's denominator is zero); ``percent_defined`` likewise
    for ``percent``. The matrices are symmetric; the diagonal compares an
    annotator with itself. Use :meth:`as_dict` for JSON (NaN becomes None).
    """

    kappa: FloatArray
    percent: FloatArray
    n_common: IntArray
    defined: BoolArray
    percent_defined: BoolArray
    weights: KappaWeights
    labels: FloatArray

    def mean_kappa(self) -> float | None:
        """Mean kappa over defined off-diagonal pairs (each unordered pair once); None if none."""
        upper = np.triu(self.defined, k=1)
        return float(self.kappa[upper].mean()) if upper.any() else None

    def as_dict(self) -> dict:
        return {
            "kappa": nan_to_none(self.kappa),
            "percent": nan_to_none(self.percent),
            "n_common": self.n_common.tolist(),
            "weights": self.weights,
            "labels": self.labels.tolist(),
            "mean_kappa": self.mean_kappa(),
        }


def pairwise_agreement(
    *,
    reliability_data: npt.ArrayLike,
    weights: KappaWeights = None,
    labels: npt.ArrayLike | None = None,
    min_common: int = 1,
) -> PairwiseAgreement:
    """Cohen's kappa (unweighted, linear or quadratic) and percent agreement for every annotator pair.

    Each pair is compared on the items both labeled; the formula is that of
    :func:`cohen_kappa`. ``labels`` (the ordered scale used for the weights)
    defaults to the sorted distinct values of the whole matrix, so every pair
    is weighted on the same scale; each cell then equals scikit-learn's
    ``cohen_kappa_score(a, b, labels=labels, weights=weights)`` on the pair's
    common items.

    All confusion tables come from one pass over the within-item annotator
    pairs (``sum_u m_u (m_u - 1) / 2`` of them), so the cost is linear in the
    number of items; memory holds ``annotators^2 × labels^2`` table cells.
    """
    if min_common < 1:
        raise ValueError("min_common must be at least 1")
    data = as_reliability_matrix(reliability_data)
    n_annotators, n_items = data.shape
    mask = ~np.isnan(data)
    # Entries sorted by item, then annotator (row-major order of the transpose).
    entry_item, entry_annotator = np.nonzero(mask.T)
    entry_values = data.T[entry_item, entry_annotator]
    if labels is None:
        domain, codes = float_domain(entry_values)
    else:
        domain = sorted_domain(labels, name="labels")
        codes = encode_with_domain(entry_values, domain, name="reliability_data")
    n_labels = max(len(domain), 1)
    sizes, starts = group_sizes_and_starts(entry_item.astype(np.int64), n_items)
    first, second = within_group_pairs(sizes, starts)
    ann_a, ann_b = entry_annotator[first], entry_annotator[second]
    code_a, code_b = codes[first], codes[second]
    pair_index = ann_a.astype(np.int64) * n_annotators + ann_b
    n_cells = n_annotators * n_annotators * n_labels * n_labels
    keys = (pair_index * n_labels + code_a) * n_labels + code_b
    confusion = np.zeros((n_annotators, n_annotators, n_labels, n_labels))
    if n_cells <= _DENSE_CELLS:
        confusion = np.bincount(keys, minlength=n_cells).astype(np.float64)
        confusion = confusion.reshape(n_annotators, n_annotators, n_labels, n_labels)
    else:
        uniq, cnt = np.unique(keys, return_counts=True)
        confusion.reshape(-1)[uniq] = cnt
    # Pairs were enumerated with a < b; mirror them and add each annotator with itself.
    confusion = confusion + confusion.transpose(1, 0, 3, 2)
    self_counts = np.bincount(
        entry_annotator.astype(np.int64) * n_labels + codes, minlength=n_annotators * n_labels
    ).reshape(n_annotators, n_labels)
    diag = np.arange(n_annotators)
    confusion[diag, diag] = 0.0
    for label in range(n_labels):
        confusion[diag, diag, label, label] = self_counts[:, label]
    weight_matrix = _kappa_weights(n_labels, weights)
    kappa = _kappa_from_confusion(confusion, weight_matrix)
    n_common = confusion.sum(axis=(-2, -1)).round().astype(np.int64)
    enough = n_common >= min_common
    kappa = np.where(enough, kappa, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        percent = np.trace(confusion, axis1=-2, axis2=-1) / n_common
    percent = np.where(enough, percent, np.nan)
    return PairwiseAgreement(
        kappa=kappa,
        percent=percent,
        n_common=n_common,
        defined=~np.isnan(kappa),
        percent_defined=~np.isnan(percent),
        weights=weights,
        labels=domain,
    )
