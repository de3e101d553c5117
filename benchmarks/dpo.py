"""DPO training benchmark: our policy trainer against TRL's DPOTrainer.

Both train the same causal LM from the same weights on the same pairs, in the
same order (no shuffling), with the same batch size, sequence length, AdamW
settings, cosine schedule, gradient clipping and precision (CPU float32,
dropout off, no gradient checkpointing). TRL tokenizes the same conversations
itself; the script checks that its token ids equal ours (so both see exactly
the same tokens) and that the step losses agree.

Training tokens per second = (non-pad tokens of the chosen and rejected
sequences of every step) / seconds. TRL's reference is its default: a frozen
copy of the model run forward in every step. Ours computes the reference
log-probs once before the loop, so our time is reported twice: the loop alone,
and loop + that reference pass (the fair total: the ratio uses it).

Run (from the repository root):
    .venv/bin/python benchmarks/dpo.py                       # SmolLM2-135M if materialized, else tiny
    .venv/bin/python benchmarks/dpo.py --model tiny --steps 20
    .venv/bin/python benchmarks/dpo.py --record              # append a section to benchmarks/RESULTS.md
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
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import date  # noqa: E402

import torch  # noqa: E402

from training.hooks import TrainingHooks  # noqa: E402
from training.policy.config import PolicyConfig  # noqa: E402
from training.policy.data import policy_pairs_encode  # noqa: E402
from training.policy.synthetic import tiny_policy  # noqa: E402
from training.policy.trainer import train_policy  # noqa: E402
from training.synthetic import synthetic_pairs  # noqa: E402

TOLERANCE = 1e-4
SMOLLM2 = ROOT / "var" / "models" / "smollm2-135m-instruct"


def model_dir(name: str, scratch: Path) -> tuple[str, Path]:
    if name == "tiny":
        return "tiny random Llama (2 layers, hidden 128)", tiny_policy(scratch / "tiny")
    if name == "smollm2":
        if not (SMOLLM2 / "config.json").is_file():
            raise SystemExit(f"{SMOLLM2} is missing: run `python manage.py bootstrap_models`")
        return "SmolLM2-135M-Instruct (134.5M parameters)", SMOLLM2
    return name, Path(name)


def config_for(args) -> PolicyConfig:
    return PolicyConfig(
        loss="sigmoid", beta=0.1, batch_size=args.batch_size, max_steps=args.steps, learning_rate=args.lr,
        warmup_ratio=0.0, weight_decay=0.0, max_grad_norm=1.0, max_length=args.max_length, shuffle=False,
        use_weights=False, disable_dropout=True, device="cpu", logging_steps=1, checkpoint_every_steps=0,
        seed=args.seed, reference_cache=False, eval_batch_size=args.batch_size)


def data(args):
    pairs = synthetic_pairs(args.steps * args.batch_size, seed=args.seed)
    return pairs, pairs[:2]  # a token evaluation: the benchmark times the loop


class _Losses(TrainingHooks):
    def __init__(self):
        self.losses: list[float] = []

    def on_log(self, *, step, split, values):
        if split == "train":
            self.losses.append(values["loss"])


def step_tokens(model_path: Path, args) -> int:
    """Non-pad tokens of all chosen and rejected sequences the run trains on."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    encoded = policy_pairs_encode(data(args)[0], tokenizer, args.max_length)
    return sum(len(p.chosen.ids) + len(p.rejected.ids) for p in encoded)


def run_ours(model_path: Path, args, scratch: Path) -> dict:
    hooks = _Losses()
    train, evaluation = data(args)
    result = train_policy(config_for(args), model_path=model_path, train_pairs=train, eval_pairs=evaluation,
                          output_dir=scratch / f"ours-{time.monotonic_ns()}", hooks=hooks)
    tokens = step_tokens(model_path, args)
    loop, reference = result.timings["train_s"], result.timings["reference_s"]
    return {"losses": hooks.losses, "loop_s": loop, "reference_s": reference, "seconds": loop + reference,
            "tokens": tokens, "tokens_per_s": tokens / (loop + reference), "loop_tokens_per_s": tokens / loop}


def run_trl(model_path: Path, args, scratch: Path) -> dict:
    from datasets import Dataset
    from torch.utils.data import SequentialSampler
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import DPOConfig, DPOTrainer

    config = config_for(args)
    train, _ = data(args)
    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=torch.float32)
    dataset = Dataset.from_list([{
        "prompt": p.prompt_messages, "chosen": [{"role": "assistant", "content": p.chosen}],
        "rejected": [{"role": "assistant", "content": p.rejected}]} for p in train])

    class Clock(TrainerCallback):
        begin = end = 0.0

        def on_train_begin(self, *a, **k):
            self.begin = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.end = time.perf_counter()

    class InOrderDPOTrainer(DPOTrainer):
        """TRL's trainer reading the pairs in order, recording each step's exact loss."""

        step_losses: list[float] = []

        def _get_train_sampler(self, *a, **k):
            return SequentialSampler(self.train_dataset)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            self.step_losses.append((out[0] if return_outputs else out).detach().item())
            return out

    trl_args = DPOConfig(
        output_dir=str(scratch / "trl"), per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=1, max_steps=config.max_steps, learning_rate=config.learning_rate,
        lr_scheduler_type="cosine", warmup_steps=0, weight_decay=0.0, max_grad_norm=config.max_grad_norm,
        adam_beta1=config.adam_beta1, adam_beta2=config.adam_beta2, adam_epsilon=config.adam_epsilon,
        optim="adamw_torch", logging_steps=1, save_strategy="no", report_to=[], use_cpu=True, bf16=False,
        seed=config.seed, disable_dropout=True, max_length=config.max_length, beta=config.beta,
        loss_type=["sigmoid"], dataloader_num_workers=0, disable_tqdm=True, gradient_checkpointing=False)
    trainer = InOrderDPOTrainer(model=model, args=trl_args, train_dataset=dataset, processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)
    trainer.step_losses = []
    ours = policy_pairs_encode(train, tokenizer, config.max_length)
    same_tokens = all(
        e.chosen.ids[:e.chosen.prompt_len] == row["prompt_ids"]
        and e.chosen.ids[e.chosen.prompt_len:] == row["chosen_ids"]
        and e.rejected.ids[e.rejected.prompt_len:] == row["rejected_ids"]
        for e, row in zip(ours, trainer.train_dataset, strict=True))
    clock = Clock()
    trainer.add_callback(clock)
    trainer.train()
    seconds = clock.end - clock.begin
    tokens = step_tokens(model_path, args)
    return {"losses": trainer.step_losses, "seconds": seconds, "tokens": tokens,
            "tokens_per_s": tokens / seconds, "same_tokens": same_tokens}


def run_in_child(args, which: str) -> dict:
    """A fresh interpreter per run: one trainer's leftovers never slow the other's timing."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--only", which, "--model", args.model,
            "--batch-size", str(args.batch_size), "--steps", str(args.steps), "--max-length",
            str(args.max_length), "--lr", str(args.lr), "--seed", str(args.seed)]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{which} run failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(args) -> dict:
    label, _ = model_dir(args.model, Path(tempfile.mkdtemp(prefix="palate-bench-dpo-")))
    ours_runs, trl_runs = [], []
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both
        trl_runs.append(run_in_child(args, "trl"))
        ours_runs.append(run_in_child(args, "ours"))
    diffs = [abs(a - b) for a, b in zip(ours_runs[0]["losses"], trl_runs[0]["losses"], strict=True)]
    ours = statistics.median(r["tokens_per_s"] for r in ours_runs)
    ours_loop = statistics.median(r["loop_tokens_per_s"] for r in ours_runs)
    trl = statistics.median(r["tokens_per_s"] for r in trl_runs)
    return {"model": label, "config": config_for(args), "max_diff": max(diffs), "ours": ours,
            "ours_loop": ours_loop, "trl": trl, "ratio": ours / trl, "loop_ratio": ours_loop / trl,
            "ours_losses": ours_runs[0]["losses"], "trl_losses": trl_runs[0]["losses"],
            "tokens": ours_runs[0]["tokens"], "same_tokens": trl_runs[0]["same_tokens"],
            "threads": torch.get_num_threads(),
            "reference_s": statistics.median(r["reference_s"] for r in ours_runs)}


def report(r: dict, args) -> str:
    c = r["config"]
    ok = "PASS" if r["max_diff"] <= TOLERANCE else "FAIL"
    lines = [
        f"model {r['model']}, {c.max_steps * c.batch_size} synthetic pairs, batch {c.batch_size} pairs, "
        f"{c.max_steps} steps, max_length {c.max_length} (no sequence truncated), lr {c.learning_rate}, "
        f"sigmoid loss β {c.beta}, CPU float32, {r['threads']} torch threads, {r['tokens']} training tokens "
        f"per run, median of {args.repeats} runs each (a fresh process per run); token ids identical to "
        f"TRL's: {'yes' if r['same_tokens'] else 'NO'}",
        "",
        "| trainer | training tokens/s | ratio |",
        "|---|---:|---:|",
        f"| TRL 1.16 DPOTrainer (baseline; reference forward in every step) | {r['trl']:.1f} | 1.00 |",
        f"| Palate policy trainer, loop + one-off reference pass ({r['reference_s']:.1f} s) "
        f"| {r['ours']:.1f} "
        f"| {r['ratio']:.2f} |",
        f"| Palate policy trainer, loop only (reference cached from an earlier run) | {r['ours_loop']:.1f} "
        f"| {r['loop_ratio']:.2f} |",
        "",
        f"Step losses, max |ours - TRL| = {r['max_diff']:.2e} (tolerance {TOLERANCE:g}): {ok}",
        "",
        "| step | ours | TRL |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {i + 1} | {a:.6f} | {b:.6f} |"
              for i, (a, b) in enumerate(zip(r["ours_losses"], r["trl_losses"], strict=True))]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2" if (SMOLLM2 / "config.json").is_file() else "tiny",
                        help="smollm2, tiny, or a model folder")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=5e-6)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--record", action="store_true", help="append the result to benchmarks/RESULTS.md")
    parser.add_argument("--only", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if args.only:  # a child of run_in_child: one run, its result as the last line
        scratch = Path(tempfile.mkdtemp(prefix="palate-bench-dpo-"))
        _, path = model_dir(args.model, scratch)
        print(json.dumps((run_trl if args.only == "trl" else run_ours)(path, args, scratch)))
        return 0
    result = compare(args)
    text = report(result, args)
    print(text)
    if args.record:
        load = os.getloadavg()[0]
        section = (f"\n## DPO training: Palate vs TRL DPOTrainer ({date.today().isoformat()})\n\n"
                   f"`.venv/bin/python benchmarks/dpo.py --model {args.model} --steps {args.steps} "
                   f"--batch-size {args.batch_size} --repeats {args.repeats}` on {platform.machine()} "
                   f"({os.cpu_count()} cores), shared with other jobs (load average {load:.1f} at the end), "
                   f"so absolute numbers are noisy; the two trainers ran interleaved.\n\n{text}\n")
        with (ROOT / "benchmarks" / "RESULTS.md").open("a") as f:
            f.write(section)
    return 0 if result["max_diff"] <= TOLERANCE and result["same_tokens"] else 1


if __name__ == "__main__":
    sys.exit(main())
