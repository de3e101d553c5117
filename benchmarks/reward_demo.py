"""The demo project's reward model: held-out accuracy, from nothing to a trained model.

Runs the documented commands against a fresh SQLite database (so a developer's
var/palate.sqlite3 is left alone):

    manage.py migrate
    manage.py seed_demo --no-generate
    manage.py bootstrap_models --only all-minilm-l6-v2
    manage.py import_preferences demo-pairwise annotation/fixtures/demo_preferences.jsonl
    manage.py train demo-pairwise --kind reward --sync --epochs 4 --learning-rate 1e-4 --max-length 256

and prints the trained model's pairwise accuracy on the snapshot's held-out
(test) split against a named baseline measured on the same pairs in the same
run: "the longer response wins", the classic length bias of preference data.

    python benchmarks/reward_demo.py [--keep DIR]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this folder is sys.path[0] and its queue.py would shadow the
# standard library's (concurrent.futures imports it); the project root goes there.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)
FIXTURE = ROOT / "annotation" / "fixtures" / "demo_preferences.jsonl"
TRAIN_ARGS = ["--epochs", "4", "--learning-rate", "1e-4", "--max-length", "256"]


def manage(env: dict, *args: str) -> str:
    command = [sys.executable, str(ROOT / "manage.py"), *args]
    print("$ manage.py " + " ".join(args), flush=True)
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"manage.py {args[0]} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", help="Folder for the database and the run (default: a temporary one).")
    args = parser.parse_args()
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="palate-reward-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "1",
           "PALATE_VAR_DIR": str(work), "DATABASE_URL": f"sqlite:///{work / 'demo.sqlite3'}",
           "PALATE_TRAINING_DIR": str(work / "training"),
           # The models stay where `make run` put them (materializing is the slow part).
           "PALATE_MODELS_DIR": os.environ.get("PALATE_MODELS_DIR", str(ROOT / "var" / "models"))}

    started = time.perf_counter()
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "seed_demo", "--no-generate")
    manage(env, "bootstrap_models", "--only", "all-minilm-l6-v2")
    print(manage(env, "import_preferences", "demo-pairwise", str(FIXTURE)).strip().splitlines()[-1])
    out = manage(env, "train", "demo-pairwise", "--kind", "reward", "--sync", *TRAIN_ARGS)
    # The command prints a JSON block (results, timings, device) on lines of its own.
    report = json.loads(out[out.index("\n{") + 1:out.rindex("}") + 1])
    elapsed = time.perf_counter() - started

    summary(env, report, elapsed)


def summary(env: dict, report: dict, elapsed: float) -> None:
    """The baseline on the very same held-out pairs, read from the run's snapshot, and the table."""
    os.environ.update(env)
    import django

    django.setup()
    from annotation.models import SnapshotPair
    from training.models import TrainingRun

    results = report["results"]
    run = TrainingRun.objects.select_related("snapshot", "base_model").order_by("-pk").first()
    pairs = list(SnapshotPair.objects.filter(snapshot=run.snapshot, split="test", is_tie=False)
                 .values_list("chosen", "rejected"))
    longer = sum(len(c) > len(r) for c, r in pairs) / len(pairs)

    print()
    print(f"project demo-pairwise, snapshot v{run.snapshot.version} "
          f"({run.snapshot.counts.get('train', 0)} train / {run.snapshot.counts.get('test', 0)} test pairs), "
          f"backbone {run.base_model.name}, device {report['device']}")
    print(f"held-out accuracy (reward model):            {results['accuracy']:.4f}")
    print(f"held-out accuracy (baseline: longer wins):   {longer:.4f}")
    print(f"ratio reward model / baseline:               {results['accuracy'] / longer:.2f}")
    print(f"held-out loss {results['loss']:.4f}, ECE {results['ece']:.4f}, "
          f"train {report['timings'].get('train_s', 0):.0f} s, whole script {elapsed:.0f} s")


if __name__ == "__main__":
    main()
