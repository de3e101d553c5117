"""Start the ranks of one more machine of a multi-node run:
``python -m training.distributed.node <run>/launch/spec.json --machine-rank 1``.

The Celery worker on the main machine (machine rank 0) writes the spec and
launches its own ranks (training/distributed/launch.py); every other machine
runs this with its machine rank, which runs the same ``accelerate launch``
line with ``--machine_rank`` set. The spec's folder must be on a filesystem
all machines share (the ranks read their inputs from it; rank 0 writes
checkpoints and the model there). The exit status is accelerate's.
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from training.distributed.launch import REPO_ROOT, launch_command, launch_env
from training.distributed.resources import resources_from_dict


def node_command(spec_path: Path, machine_rank: int) -> list[str]:
    spec = json.loads(Path(spec_path).read_text())
    resources = resources_from_dict(spec["resources"])
    if not 0 < machine_rank < resources.nodes:
        raise ValueError(f"machine_rank: must be between 1 and {resources.nodes - 1} for this run "
                         f"(0 is the main machine, started by the worker)")
    return launch_command(resources, Path(spec_path), machine_rank=machine_rank)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", type=Path, help="the run's launch/spec.json (on the shared filesystem)")
    parser.add_argument("--machine-rank", type=int, required=True)
    args = parser.parse_args(argv)
    try:
        cmd = node_command(args.spec, args.machine_rank)
    except (OSError, ValueError, KeyError) as error:
        parser.error(str(error))
    # Our interpreter, accelerate and our module; the spec's values were validated.
    return subprocess.call(cmd, cwd=REPO_ROOT, env=launch_env())  # noqa: S603


if __name__ == "__main__":
    sys.exit(main())
