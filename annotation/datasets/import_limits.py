"""How much an import may expand to, checked before it expands.

A file's size says little about what it decodes to: a 1 KB Parquet file of
dictionary-encoded 150,000-character strings decodes to gigabytes, and a gzip
file to a thousand times its size. Every reader holds its input to these
limits while it streams, and refuses (Invalid naming the limit, nothing
written) the moment one is passed:

* rows: MAX_ROWS (Parquet: from the footer, before any data is read);
* one value: MAX_VALUE_BYTES (the longest text a prompt or response may hold,
  validation.MAX_TEXT characters, at up to 4 bytes each, with room to spare);
* one line of JSON: MAX_LINE_BYTES;
* everything decoded: MAX_DECODED_BYTES.

For Parquet, byte-array columns are read as dictionary arrays (what the file
stores) and the decoded size is summed from the dictionary's value lengths
taken at the indices, so a bomb is measured without being expanded.
"""

from annotation.errors import Invalid

MAX_ROWS = 2_000_000
MAX_VALUE_BYTES = 1 * 2**20
MAX_LINE_BYTES = 32 * 2**20
MAX_DECODED_BYTES = 512 * 2**20
PARQUET_BATCH_ROWS = 100


def too_large(what: str, limit: int, *, line: int | None = None, field: str | None = None) -> Invalid:
    unit = f"{limit // 2**20} MiB" if limit >= 2**20 else f"{limit:,}"
    return Invalid(f"{what} exceeds the import limit of {unit}", line=line, field=field)


def _lengths(array):
    """Per-value decoded byte lengths of a string/binary array (dictionary or
    plain), or None for other types."""
    import pyarrow as pa  # heavy: loaded only by the formats that need it
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        if not (pa.types.is_string(array.type.value_type) or pa.types.is_binary(array.type.value_type)
                or pa.types.is_large_string(array.type.value_type)
                or pa.types.is_large_binary(array.type.value_type)):
            return None
        return pc.take(pc.binary_length(array.dictionary), array.indices)
    if pa.types.is_string(array.type) or pa.types.is_binary(array.type) or \
            pa.types.is_large_string(array.type) or pa.types.is_large_binary(array.type):
        return pc.binary_length(array)
    return None


def _children(array) -> list:
    import pyarrow as pa  # heavy: loaded only by the formats that need it

    if pa.types.is_struct(array.type):
        return list(array.flatten())
    if pa.types.is_list(array.type) or pa.types.is_large_list(array.type) or \
            pa.types.is_map(array.type) or pa.types.is_fixed_size_list(array.type):
        return [array.flatten()]
    return []


def arrow_decoded_bytes(array, *, name: str, first_row: int) -> int:
    """The bytes a pyarrow array decodes to; Invalid when one value is over
    MAX_VALUE_BYTES. (pyarrow is imported on use: only Parquet imports need it.)"""
    import pyarrow.compute as pc  # heavy: loaded only by the formats that need it

    total = 0
    stack = [array]
    while stack:
        current = stack.pop()
        lengths = _lengths(current)
        if lengths is not None:
            largest = pc.max(lengths).as_py() or 0
            if largest > MAX_VALUE_BYTES:
                raise too_large(f"a value of {largest:,} bytes", MAX_VALUE_BYTES,
                                line=first_row, field=name)
            total += pc.sum(lengths).as_py() or 0
        elif not _children(current):
            total += current.nbytes  # fixed-width values: bounded by the row count
        stack.extend(_children(current))
    return total


class DecodedBudget:
    """Counts decoded bytes across a whole import."""

    def __init__(self, limit: int = MAX_DECODED_BYTES):
        self.limit = limit
        self.spent = 0

    def spend(self, amount: int, *, line: int | None = None) -> None:
        self.spent += amount
        if self.spent > self.limit:
            raise too_large("the decoded data", self.limit, line=line)
