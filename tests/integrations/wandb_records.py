"""Reads a W&B offline run's transaction log (``run-<id>.wandb``) back as
protobuf records, to check what a run wrote without W&B's servers.

The file is W&B's header (":W&B", magic 0xBEE1, version) followed by a LevelDB
log: 32 KiB blocks of records, each with a 7-byte header (CRC-32, length,
type: 1 full, 2 first, 3 middle, 4 last of a split record); a block's tail
shorter than a header is padding. Each joined payload is one ``Record``.
"""

import struct
from pathlib import Path

BLOCK = 32 * 1024
HEADER = 7


def wandb_records(path: Path) -> list:
    from wandb.proto import wandb_internal_pb2

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B" and struct.unpack("<H", data[4:6])[0] == 0xBEE1, "not a W&B transaction log"
    records, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(data):
        room = BLOCK - pos % BLOCK
        if room < HEADER:  # padding at a block's end
            pos += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + HEADER])
        payload = data[pos + HEADER:pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        pending += payload
        if kind in (1, 4):  # full or last: a whole record
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records
