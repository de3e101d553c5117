"""Rounds of the training loop on the demo project, on CPU, with SmolLM2, judged
against the ground truth.

What it does, each stage timed:

1. a fresh SQLite database, `seed_demo` and `bootstrap_models` (SmolLM2-135M-
   Instruct and all-MiniLM-L6-v2 from their wheels, cached in the models dir);
   templated questions on named topics: for ``shorter`` asking for short
   answers, so that the answers end well before the token cap and a length
   preference can show; for ``topic`` questions whose answers need not open
   with the topic, so that some candidates name it first and some do not;
   half the prompts are held out (the project's test fraction), so every round
   is evaluated on at least 50 held-out prompts;
2. candidates: SmolLM2 (transformers backend) samples two answers per prompt;
3. labels: the demo's two labelers answer every item through the real queue by
   one explicit synthetic rule (``benchmarks/loop_truth.py``): ``shorter`` —
   the answer with fewer words wins — or ``topic`` — the answer whose first
   sentence names the prompt's topic wins, a preference length cannot fake;
4. ``--rounds`` loop rounds (training/loop): snapshot → reward model (MiniLM)
   → DPO (SmolLM2, LoRA) → evaluation on every held-out prompt, several
   samples per prompt, judged by the round's own reward model (not
   independent), the previous round's reward model (not independent either
   when the round added no decided training pair) and an AI judge (SmolLM2
   through the AI labeler's prompt, both orders) → decision by the first
   independent judge with a verdict → candidates from the new policy for
   fresh prompts, which the labelers label before the next round (after a
   rejected round, fresh candidates from the unchanged reference instead);
5. the ground truth: the labelers' own rule applied to every policy answer
   and the reference answer of the same prompt and seed, summarized like the
   other judges (paired bootstrap over prompts, length-controlled rate).

The named baseline is the reference policy (SmolLM2 as bootstrapped, then each
promoted policy): the printed ratios are win rates over it, with 95% intervals
and prompt counts, per judge and per round.

Run (from the repository root; both preferences one after the other):
    .venv/bin/python benchmarks/loop.py
    .venv/bin/python benchmarks/loop.py --preference topic --rounds 3 --json
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
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

from benchmarks.loop_truth import PREFERENCES, pair_score, preference_strength  # noqa: E402

TOPICS = [
    "photosynthesis", "gravity", "inflation", "a black hole", "the immune system", "recursion",
    "a database index", "compound interest", "the water cycle", "machine learning", "democracy",
    "a volcano", "DNA", "the internet", "climate change", "a rainbow", "electricity", "vaccines",
    "the stock market", "evolution", "an earthquake", "encryption", "the moon", "tides",
    "a neural network", "supply and demand", "the speed of light", "a sorting algorithm",
    "the greenhouse effect", "an atom", "a compiler", "the French Revolution", "a glacier",
    "the heart", "a hurricane", "magnetism", "a telescope", "the Roman Empire", "a battery",
    "friction", "a virus", "the ocean", "a satellite", "erosion", "a solar panel", "the brain",
    "a fossil", "an orchestra", "a bridge", "the printing press", "a desert", "honey bees",
    "a thunderstorm", "the Olympic Games", "a camera", "chess", "a library", "coffee",
    "a rainforest", "the alphabet", "a lighthouse", "a calendar", "a microscope", "a windmill",
]
TEMPLATES = {
    # Short answers, ending well before the cap: a length preference can show.
    "shorter": [
        "What is {}? Answer in one or two sentences.",
        "Describe {} in a few words.",
        "Tell me one short fact about {}.",
    ],
    # Questions whose natural answer does not open with the topic ("What is
    # photosynthesis?" gets "Photosynthesis is …" from both candidates, a tie):
    # here some candidates name it first and some do not, so pairs are decided.
    "topic": [
        # SmolLM2-135M at T = 0.8 named the topic first in about half of its answers to
        # these (13 topics × 2 samples each): 7, 8 and 5 of 13 pairs decided.
        "Write a one-line tweet about {}.",
        "Why should anyone care about {}?",
        "I have five minutes before a quiz on {}. What should I do?",
    ],
}


def questions(*, rule: str, held_out: int, train: int, fresh: int,
              test_fraction: float) -> list[tuple[str, str]]:
    """(question, topic) pairs: ``held_out`` that the project's split puts in
    the test split, ``train`` in the train split (both get candidates before
    round 1), then ``fresh`` more for the rounds' new candidates. The split is
    a hash of the prompt (annotation.splits), so it is known before import."""
    from annotation.splits import prompt_hash, split_for_hash

    wanted = {"test": held_out, "train": train}
    first: list[tuple[str, str]] = []
    rest: list[tuple[str, str]] = []
    templates = TEMPLATES[rule]
    for question, topic in ((t.format(topic), topic) for t in templates for topic in TOPICS):
        split = split_for_hash(prompt_hash([{"role": "user", "content": question}]),
                               test_fraction=test_fraction)
        if wanted[split] > 0:
            wanted[split] -= 1
            first.append((question, topic))
        else:
            rest.append((question, topic))
    if any(wanted.values()) or len(rest) < fresh:
        raise SystemExit(f"not enough templated prompts for {held_out} held-out, {train} train and {fresh} "
                         f"fresh ones ({len(templates) * len(TOPICS)} in all)")
    return first + rest[:fresh]


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


def label_everything(project, rule: str, topics: dict[int, str]) -> int:
    """Every open item answered by both labelers through the real queue, by ``rule``."""
    from django.contrib.auth import get_user_model

    from annotation.models import Membership, Role
    from annotation.services.queue import item_claim_next, new_idempotency_key
    from annotation.services.submissions import annotation_submit

    labelers = get_user_model().objects.filter(
        pk__in=Membership.objects.filter(project=project, role=Role.LABELER).values("user_id"))
    count = 0
    for user in labelers.order_by("pk"):
        while (assignment := item_claim_next(project=project, labeler=user)) is not None:
            item = assignment.item
            texts = [s.response.text for s in item.slots.order_by("position")]
            strength = preference_strength(rule, texts, topics.get(item.prompt_id, ""))
            annotation_submit(assignment=assignment, data={"strength": strength},
                              idempotency_key=new_idempotency_key())
            count += 1
    return count


def ground_truth_add(evaluation, rule: str, topics: dict[int, str]) -> dict:
    """The labelers' rule on each (policy, reference) comparison of the
    evaluation, summarized like the other judges (same prompts resampled,
    same seed), stored beside them on the evaluation and returned."""
    from training.policy_eval.judges import judge_meta, judges_summarize

    wins, groups, diffs = [], [], []
    samples = [dict(row) for row in evaluation.samples]
    for row in samples:
        topic = topics.get(row.get("prompt_id"), "")
        scores = [pair_score(rule, mine, theirs, topic) if mine != theirs else 0.5
                  for mine, theirs in zip(row["policy"], row["reference"], strict=True)]
        row.setdefault("judges", {})["ground_truth"] = scores
        wins += scores
        groups += [row["prompt_index"]] * len(scores)
        diffs += [a - b for a, b in zip(row["policy_tokens"], row["reference_tokens"], strict=True)]
    config = evaluation.config
    summary = judges_summarize({"ground_truth": wins}, groups, diffs, resamples=config["resamples"],
                               level=config["level"], seed=config["seed"])["ground_truth"]
    summary.update(judge_meta("ground_truth"), source=f"the synthetic labelers' rule '{rule}'")
    results = dict(evaluation.results)
    results["judges"] = {**results.get("judges", {}), "ground_truth": summary}
    type(evaluation).objects.filter(pk=evaluation.pk).update(results=results, samples=samples)
    evaluation.results, evaluation.samples = results, samples
    return summary


def sign_agreement(judges: dict) -> dict[str, str]:
    """Per judge (the round's own reward model too): does its win rate lie on the
    same side of 50% as the ground truth's? A judge at exactly 50% (every answer
    a tie, as a position-biased judge asked in both orders gives) has no side:
    "no sign", neither agreement nor disagreement."""
    truth = judges.get("ground_truth") or {}
    if not truth.get("available"):
        return {}

    def side(j: dict) -> int:
        return 1 if j["win_rate"] > 0.5 else (-1 if j["win_rate"] < 0.5 else 0)

    out = {}
    for name, j in judges.items():
        if name == "ground_truth" or not j.get("available"):
            continue
        if side(j) == side(truth):
            out[name] = "agrees"
        else:
            out[name] = "no sign (50%)" if side(j) == 0 else "DISAGREES"
    return out


def candidates(project, *, model: str, prompt_ids: list[int], max_tokens: int, seed: int):
    from generation.services.jobs import generation_job_create, generation_job_run

    job = generation_job_create(project=project, model_names=[model], n=2,
                                sampling={"max_tokens": max_tokens, "temperature": 0.8, "seed": seed},
                                prompt_ids=prompt_ids, check_backend=False, enqueue=False)
    job = generation_job_run(job_id=job.pk)
    if job.status != "succeeded":
        raise SystemExit(f"candidate generation {job.status}: {job.error}")
    return job


def run_one(args) -> dict:
    import torch

    torch.manual_seed(0)
    if args.threads:
        torch.set_num_threads(args.threads)
    var_dir = Path(tempfile.mkdtemp(prefix="palate-loop-bench-"))
    environment(var_dir, Path(args.models_dir))

    from django.core.management import call_command

    from annotation.models import Project, Prompt
    from annotation.services.prompts import PromptInput, prompt_create_many
    from generation.models import ModelSpec
    from training.loop.models import LoopSetting
    from training.loop.services import (
        fresh_prompt_ids,
        loop_round_advance,
        loop_round_start,
        loop_round_summary,
        stage_timings,
    )

    rule = args.preference
    wall: dict[str, float] = {}
    started = time.monotonic()
    call_command("migrate", verbosity=0, interactive=False)
    call_command("seed_demo", "--no-generate", verbosity=0)  # eager Celery would generate here
    call_command("bootstrap_models", verbosity=0)
    project = Project.objects.get(slug="demo-pairwise")
    # Half the new prompts held out: ≥ 50 held-out prompts for every round's evaluation.
    Project.objects.filter(pk=project.pk).update(test_fraction=args.test_fraction)
    project.refresh_from_db()
    asked = questions(rule=rule, held_out=args.held_out, train=args.train_prompts,
                      fresh=args.rounds * args.fresh,
                      test_fraction=args.test_fraction)
    prompt_create_many(project=project, entries=[
        PromptInput(messages=[{"role": "user", "content": q}]) for q, _ in asked])
    by_text = {q: topic for q, topic in asked}
    topics = {pk: by_text.get(messages[0]["content"], "") for pk, messages in
              Prompt.objects.filter(project=project).values_list("pk", "messages")}
    wall["setup"] = time.monotonic() - started

    started = time.monotonic()
    waiting = fresh_prompt_ids(project=project, limit=100_000)
    first = candidates(project, model="smollm2-135m-instruct",
                       prompt_ids=waiting[:args.held_out + args.train_prompts],
                       max_tokens=args.max_tokens, seed=0)
    wall["candidates"] = time.monotonic() - started
    started = time.monotonic()
    labels = label_everything(project, rule, topics)
    wall["labels"] = time.monotonic() - started

    judge = ModelSpec.objects.get(name="smollm2-135m-instruct")
    LoopSetting.objects.update_or_create(project=project, defaults={
        "reward_hyperparameters": {"max_steps": args.reward_steps, "batch_size": 8, "learning_rate": 5e-5,
                                   "max_length": 256, "device": "cpu", "logging_steps": 10,
                                   "checkpoint_every_steps": 0, "seed": 0},
        "dpo_hyperparameters": {"max_steps": args.dpo_steps, "batch_size": 4, "learning_rate": args.dpo_lr,
                                "lora": True, "beta": args.beta, "max_length": 256, "device": "cpu",
                                "logging_steps": 10, "checkpoint_every_steps": 0, "seed": 0},
        # All held-out prompts (the default), several samples each.
        "eval_config": {"samples_per_prompt": args.eval_samples, "max_new_tokens": args.max_tokens,
                        "temperature": 1.0, "seed": 0, "batch_size": 8},
        "prompts_per_round": args.fresh, "win_threshold": 0.5, "promotion_judge": "independent",
        "ai_judge": judge, "min_eval_prompts": args.min_eval_prompts,
        "generation_sampling": {"n": 2, "max_tokens": args.max_tokens, "temperature": 0.8, "seed": 1},
        # Tied pairs stay in the snapshot (the trainers drop them): under the topic rule most
        # pairs are ties (both answers name the topic), and a prompt without a decided pair
        # must still count as held out, or the evaluation would fall below 50 prompts.
        "snapshot_filters": {"ties": "keep"},
    })

    cpu = platform.processor() or platform.machine()
    print(f"Loop benchmark, preference '{rule}': {args.rounds} rounds on demo-pairwise, CPU "
          f"({os.cpu_count()} cores, {cpu}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"data: {first.items_created} candidate items from {first.progress_done} prompts + the demo's, "
          f"{labels} synthetic labels ({rule})", flush=True)
    rounds = []
    for number in range(1, args.rounds + 1):
        rnd = loop_round_start(project=project, enqueue=False)
        started = time.monotonic()
        rnd = loop_round_advance(round_id=rnd.pk)
        seconds = time.monotonic() - started
        if rnd.evaluation is not None:
            ground_truth_add(rnd.evaluation, rule, topics)
        print(loop_round_summary(rnd))  # every judge, the ground truth among them
        if rnd.status != "succeeded":
            raise SystemExit(f"round {number} {rnd.status}: {rnd.error}")
        r = rnd.evaluation.results
        agreement = sign_agreement(r["judges"])
        print(f"  sign agreement with the ground truth: {agreement}")
        rounds.append({
            "round": number, "decision": rnd.decision, "reason": rnd.decision_reason,
            "rule": rnd.decision_detail, "reference": rnd.reference_policy.name,
            "policy": rnd.dpo_run.output_model.name, "prompts": r["prompts"], "samples": r["samples"],
            "kl": [r["kl"], r["kl_low"], r["kl_high"]], "reference_length": r["reference_length"],
            "policy_length": r["policy_length"], "policy_truncated": r["policy_truncated"],
            "reward_heldout_accuracy": (rnd.reward_run.results or {}).get("accuracy"),
            "reward_heldout_pairs": (rnd.reward_run.results or {}).get("pairs"),
            "judges": r["judges"], "agreement": agreement, "snapshot": rnd.snapshot.counts,
            "seconds": round(seconds, 1), "stages": {k: round(v, 1) for k, v in stage_timings(rnd).items()},
        })
        wall[f"round {number}"] = seconds
        if number < args.rounds:
            started = time.monotonic()
            if rnd.generation_job is None:  # rejected: the labelers get fresh pairs from the reference
                fresh = fresh_prompt_ids(project=project, limit=args.fresh)
                if fresh:
                    candidates(project, model=rnd.reference_policy.name, prompt_ids=fresh,
                               max_tokens=args.max_tokens, seed=number)
            new_labels = label_everything(project, rule, topics)
            wall[f"labels after round {number}"] = time.monotonic() - started
            print(f"  {new_labels} new labels for round {number + 1}", flush=True)

    print(f"\nTrend, preference '{rule}' (win rates over each round's reference; 95% intervals):")
    print(trend_table(rounds))
    print("wall seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in wall.items())
          + f"; total {sum(wall.values()):.0f}")
    promoted = [r for r in rounds if r["decision"] == "accepted"]
    if promoted:
        last = promoted[-1]
        truth = last["judges"]["ground_truth"]
        print(f"RESULT {rule}: promoted policy of round {last['round']}: ground-truth win rate "
              f"{truth['win_rate']:.3f} [{truth['win_rate_low']:.3f}, {truth['win_rate_high']:.3f}] on "
              f"{truth['prompts']} held-out prompts: interval "
              f"{'ABOVE' if truth['win_rate_low'] > 0.5 else 'NOT above'} 50%")
    else:
        print(f"RESULT {rule}: no round promoted its policy")
    return {"preference": rule, "rounds": rounds, "wall": {k: round(v, 1) for k, v in wall.items()},
            "total_seconds": round(sum(wall.values()), 1), "args": vars(args)}


def _pct(j: dict, key: str = "win_rate") -> str:
    if not j or not j.get("available"):
        return "—"
    return f"{j[key]:.1%} [{j[key + '_low']:.1%}, {j[key + '_high']:.1%}]"


def _previous(j: dict | None) -> str:
    """The previous round's reward model, with how many of the policy's
    training pairs it had not seen, and marked when that is none."""
    if not j or not j.get("available"):
        return "—"
    unseen = f"; unseen pairs {j['unseen_pairs']} of {j['policy_pairs']}" if "unseen_pairs" in j else ""
    marker = " **not indep.**" if j.get("independent") is False else ""
    return f"{_pct(j)}{unseen}{marker}"


def trend_table(rounds: list[dict]) -> str:
    head = ("| round | decision (judge) | prompts | ground truth | GT length-controlled | previous RM | "
            "AI judge | own RM (not indep.) | KL nats | length tokens | RM held-out acc. |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rounds:
        j = r["judges"]
        acc = r["reward_heldout_accuracy"]
        accuracy = "—" if acc is None else f"{acc:.2f} of {r['reward_heldout_pairs']}"
        lines.append(
            f"| {r['round']} | {r['decision']} ({(r['rule'] or {}).get('judge') or '—'}) | {r['prompts']} | "
            f"{_pct(j.get('ground_truth'))} | {_pct(j.get('ground_truth'), 'lc_win_rate')} | "
            f"{_previous(j.get('previous_reward'))} | {_pct(j.get('ai_judge'))} | "
            f"{_pct(j.get('own_reward'))} | "
            f"{r['kl'][0]:.2f} | {r['reference_length']:.1f} → {r['policy_length']:.1f} | "
            f"{accuracy} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preference", choices=(*PREFERENCES, "both"), default="both",
                        help="The synthetic labelers' rule; both: one run each, one after the other.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--held-out", type=int, default=52,
                        help="Templated prompts in the test split (candidates and labels before round 1).")
    parser.add_argument("--train-prompts", type=int, default=52,
                        help="Templated prompts in the train split (candidates and labels before round 1).")
    parser.add_argument("--fresh", type=int, default=16,
                        help="Fresh prompts per round (the next candidates).")
    parser.add_argument("--test-fraction", type=float, default=0.5)
    parser.add_argument("--max-tokens", type=int, default=96, help="Longest candidate / sample.")
    parser.add_argument("--reward-steps", type=int, default=40)
    parser.add_argument("--dpo-steps", type=int, default=40)
    parser.add_argument("--dpo-lr", type=float, default=5e-4, help="LoRA learning rate.")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--eval-samples", type=int, default=2, help="Samples per prompt and model.")
    parser.add_argument("--min-eval-prompts", type=int, default=50,
                        help="The loop's minimum of held-out prompts to promote on (a smoke run lowers it).")
    parser.add_argument("--models-dir", default=str(ROOT / "var" / "models"),
                        help="Where bootstrap_models materializes (and finds) the checkpoints.")
    parser.add_argument("--json", action="store_true", help="Also print the results as JSON.")
    parser.add_argument("--json-out", help="Write the results as JSON to this file.")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default).")
    parser.add_argument("--parallel", action="store_true",
                        help="With --preference both: run the two preferences at the same time.")
    args = parser.parse_args()

    if args.preference != "both":
        result = run_one(args)
        if args.json:
            print(json.dumps(result, indent=2))
        if args.json_out:
            Path(args.json_out).write_text(json.dumps(result, indent=2))
        return
    # One process per preference: each gets its own fresh database and Django setup.
    folder = Path(tempfile.mkdtemp(prefix="palate-loop-bench-"))
    argv = [a for a in sys.argv[1:] if a not in ("--json", "--parallel")]
    runs = {}
    for preference in PREFERENCES:
        command = [sys.executable, str(Path(__file__).resolve()), *argv, "--preference", preference,
                   "--json-out", str(folder / f"{preference}.json")]
        if args.parallel:  # each its own log, printed when both are done
            runs[preference] = subprocess.Popen(command, stdout=(folder / f"{preference}.log").open("w"),
                                                stderr=subprocess.STDOUT)
        elif subprocess.run(command, check=False).returncode != 0:
            raise SystemExit(f"the '{preference}' run failed")
    for preference, process in runs.items():
        code = process.wait()
        print((folder / f"{preference}.log").read_text())
        if code != 0:
            raise SystemExit(f"the '{preference}' run failed")
    results = [json.loads((folder / f"{p}.json").read_text()) for p in PREFERENCES]
    for result in results:
        print(f"\n== {result['preference']} ({result['total_seconds']:.0f} s)")
        print(trend_table(result["rounds"]))
    if args.json:
        print(json.dumps(results, indent=2))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
