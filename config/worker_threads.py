"""CPU threads for the torch work a Celery worker process does.

torch (and the tokenizers' Rust pool) start one thread per core in every
process. On the embedded default the generation worker and the training worker
share the machine: with both at full width, the two oversubscribe the cores and
one of them starves (the demo's generation did 1 of 8 prompts in 25 minutes
while the demo reward run trained, then 7 in 4 minutes once it ended). So each
worker gets its share: PALATE_TORCH_THREADS threads per process (0 keeps the
libraries' defaults, right for a dedicated GPU host). `scripts/run_all.py`
splits the cores between the generation and the training worker.
"""

import os
import sys

# Read at load by OpenMP (torch's intra-op pool), MKL, OpenBLAS and the Rust
# tokenizers pool: they must be in the environment before those libraries load.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS")


def threads_limit(threads: int) -> None:
    """Cap this process's compute threads at `threads` (0: leave the defaults)."""
    if threads <= 0:
        return
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    # A library loaded before the cap keeps its pool size unless told again.
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)


def threads_split(*, cores: int, workers: int) -> list[int]:
    """Cores shared among `workers` processes that each run torch: every one
    gets at least one thread, the first ones take the remainder."""
    base, extra = divmod(max(cores, 1), max(workers, 1))
    return [max(1, base + (1 if i < extra else 0)) for i in range(workers)]
