"""Migration in and out: Label Studio JSON exports (the pairwise "Human
Preference collection for RLHF" and the ranker templates), Argilla datasets in
their Hugging Face datasets layout, and a project's items and labels back out
as Label Studio JSON.

The readers turn each foreign record into annotation.datasets.readers.RawAnnotation
rows and hand them to the raw import (annotation.services.preference_import), so
these imports behave as raw imports do: all or nothing, duplicates skipped,
annotators as pseudonymous import-only accounts, original times kept. Errors
name the record (``line``: its 1-based position in the file or dataset) and the
field in the source's own terms.
"""
