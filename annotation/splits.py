"""Prompt identity and the train/test split, both derived from content alone.

The split is a pure function of the prompt's hash, so the same prompt lands
on the same side in every project build and every export: no leakage.
"""

import hashlib
import json

ROLES = ("system", "user", "assistant")


def canonical_json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def prompt_hash(messages: list[dict]) -> str:
    canonical = [{"role": m["role"], "content": m["content"]} for m in messages]
    return hashlib.sha256(canonical_json(canonical).encode("utf-8")).hexdigest()


def split_for_hash(content_hash: str, *, test_fraction: float) -> str:
    # A second hash decorrelates the split from any prefix structure in the id.
    digest = hashlib.sha256(f"split:{content_hash}".encode()).digest()
    position = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if position < test_fraction else "train"
