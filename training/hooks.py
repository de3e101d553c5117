"""What the training loop tells its caller, and how the caller stops it.

Kept free of torch and transformers: the web process and the admin import it
(through the run services) without paying for the training stack.
"""

from pathlib import Path


class StopTraining(Exception):  # noqa: N818 - a signal, not an error
    """Raised by a hook to stop cleanly (run cancelled, or its claim lost)."""


class TimeLimitReached(Exception):  # noqa: N818
    """The soft deadline passed: a checkpoint was written, the run can be resumed."""


class TrainingHooks:
    """Callbacks from the loop; the default does nothing."""

    def on_heartbeat(self) -> None:
        """Long phases without steps (loading, tokenizing) call this now and then."""

    def on_start(self, *, total_steps: int, start_step: int, device: str) -> None: ...
    def on_log(self, *, step: int, split: str, values: dict) -> None: ...
    def on_progress(self, *, step: int, total_steps: int) -> None: ...
    def on_checkpoint(self, *, step: int, path: Path) -> None: ...
