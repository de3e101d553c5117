"""The prepared GPU check: reward and DPO training on models of real shapes, on one GPU.

Needs only torch, transformers, accelerate and peft (what a GPU machine has) and
this repository: nothing of Django, no `datasets`, no downloads. Models are
random-initialised from configs of real shapes and saved locally:

- ``1b``: a Llama-3.2-1B-shaped decoder (hidden 2048, 16 layers, GQA 32/8,
  vocab 128256 in the embedding and head), full fine-tuning, DPO and reward;
- ``7b-lora``: a Llama-2-7B-shaped decoder (hidden 4096, MLP 11008, 32 heads)
  with LoRA r=16 on every linear map, DPO; ``--layers-7b`` keeps the run
  inside the time budget (default 8 of the 32 layers: per-layer throughput
  and MFU are those of the full model; memory scales with the layers).

For each it reports tokens/s, peak GPU memory and MFU (model FLOPs: 6·N per
trained token for full fine-tuning, 4·N for LoRA, where the frozen weights get
no gradient; the reference pass is counted at 2·N per token), checks the bf16
autocast losses against float32 on the same trained weights and batch
(``--bf16-tolerance``), and, where TRL and `datasets` are importable, runs
TRL's DPOTrainer on the same data and batch for the 1B. Writes JSON and a
section for benchmarks/RESULTS.md.

    python benchmarks/gpu_check.py                    # on the GPU machine (make gpu-check)
    python benchmarks/gpu_check.py --cpu-smoke        # tiny shapes on the CPU: the script's own test
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "benchmarks":
    sys.path[0] = str(ROOT)  # benchmarks/queue.py would shadow the standard library's queue
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import torch  # noqa: E402

from training.hooks import TrainingHooks  # noqa: E402
from training.policy.config import PolicyConfig  # noqa: E402
from training.policy.synthetic import tiny_policy  # noqa: E402
from training.reward.config import RewardConfig  # noqa: E402
from training.reward.data import PreferencePair  # noqa: E402
from training.synthetic import BAD, FILLER, GOOD  # noqa: E402

SHAPES = {
    "1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
               num_key_value_heads=8, head_dim=64, vocab_size=128256, tie_word_embeddings=True),
    "7b-lora": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
                    num_key_value_heads=32, head_dim=128, vocab_size=32000, tie_word_embeddings=False),
    # --cpu-smoke: the same code path in seconds.
    "smoke": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, head_dim=64, vocab_size=1024, tie_word_embeddings=True),
}
# Dense bf16 tensor-core peak per GPU (vendor datasheets), for MFU.
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}
SECTION = "## GPU check (benchmarks/gpu_check.py)"


class Recorder(TrainingHooks):
    def __init__(self):
        self.train: list[dict] = []

    def on_log(self, *, step, split, values):
        if split == "train":
            self.train.append({"step": step, **values})


def model_make(folder: Path, shape: dict, *, layers: int | None, device: str) -> tuple[Path, int]:
    """A random Llama of ``shape`` saved in bf16 (float32 on the CPU) with a small BPE
    tokenizer (its ids are a subset of the model's vocabulary: the logits cost the full
    vocabulary all the same). Returns the folder and the parameter count."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tiny_policy(folder, hidden=128, layers=1)  # the tokenizer (and a throw-away tiny model)
    config = LlamaConfig.from_pretrained(folder)
    for key, value in shape.items():
        setattr(config, key, value)
    if layers:
        config.num_hidden_layers = layers
    config.max_position_embeddings = 4096
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):  # initialise on the GPU: a CPU init of billions of weights takes minutes
        model = LlamaForCausalLM(config).to(dtype)
    n = sum(p.numel() for p in model.parameters())
    for stale in folder.glob("model*.safetensors*"):
        stale.unlink()
    model.save_pretrained(folder)
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder, n


def pairs_make(n: int, words_per_response: int) -> list[PreferencePair]:
    words = GOOD + BAD + FILLER
    prompt = [{"role": "user", "content": " ".join(words[j % len(words)] for j in range(24))}]
    return [PreferencePair(prompt,
                           " ".join(words[(i * 3 + j) % len(words)] for j in range(words_per_response)),
                           " ".join(words[(i * 5 + j) % len(words)] for j in range(words_per_response)))
            for i in range(n)]


def peak_tflops(args) -> float | None:
    if args.peak_tflops:
        return args.peak_tflops
    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name(0)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def _gpu_reset() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb() -> float | None:
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def run_ours(kind: str, model_dir: Path, n_params: int, args, scratch: Path, *, lora: bool,
             options: dict | None = None) -> dict:
    """One training run; ``options``: config fields (qlora, group_by_length,
    attn_implementation, ...) and ``strategy`` (fsdp: every visible GPU, launched
    with accelerate as the worker does)."""
    from training.policy.trainer import train_policy
    from training.reward.trainer import train_reward_model

    options = dict(options or {})
    strategy = options.pop("strategy", None)

    pairs = pairs_make(args.batch_size * args.steps, args.words)
    common = dict(batch_size=args.batch_size, max_steps=args.steps, max_length=args.max_length,
                  learning_rate=1e-5 if not lora else 1e-4, logging_steps=1, checkpoint_every_steps=0,
                  warmup_ratio=0.0, gradient_checkpointing=args.gradient_checkpointing, lora=lora,
                  lora_r=16, device=args.device, eval_batch_size=args.batch_size, shuffle=False) | options
    hooks = Recorder()
    _gpu_reset()
    label = "-".join(map(str, [kind, model_dir.name, lora, *options.values(), strategy]))
    out_dir = scratch / f"ours-{label}"
    if strategy:
        from training.distributed.launch import distributed_train
        from training.distributed.resources import Resources

        gpus = torch.cuda.device_count()
        config = (PolicyConfig(**common, reference_cache=False) if kind == "dpo" else RewardConfig(**common))
        # The global batch stays args.batch_size: each of the GPUs takes its share.
        config.batch_size = max(1, args.batch_size // gpus)
        result = distributed_train(trainer="policy" if kind == "dpo" else "reward", kind=kind,
                                   config=config.to_dict(),
                                   resources=Resources(strategy=strategy, processes_per_node=gpus),
                                   model_path=model_dir, train_pairs=pairs,
                                   eval_pairs=pairs[:args.batch_size], output_dir=out_dir, hooks=hooks)
    elif kind == "dpo":
        config = PolicyConfig(**common, reference_cache=False)
        result = train_policy(config, model_path=model_dir, train_pairs=pairs,
                              eval_pairs=pairs[:args.batch_size], output_dir=out_dir, hooks=hooks)
    else:
        config = RewardConfig(**common)
        result = train_reward_model(config, model_path=model_dir, train_pairs=pairs,
                                    eval_pairs=pairs[:args.batch_size], output_dir=out_dir, hooks=hooks)
    # Steady state: the first step pays for kernel selection and allocator growth.
    steady = hooks.train[1:] or hooks.train
    tokens_per_s = sum(r["tokens_per_s"] for r in steady) / len(steady)
    flops_per_token = (4 if lora else 6) * n_params
    peak = peak_tflops(args)
    ranks = torch.cuda.device_count() if strategy else 1
    # A distributed run's memory is rank 0's, as it logged it (this process holds no model).
    memory = hooks.train[-1]["memory_mb"] / 1024 if strategy else _peak_gb()
    return {"kind": kind, "model": model_dir.name, "parameters": n_params, "lora": lora,
            "options": options | ({"strategy": f"{strategy} x {ranks}"} if strategy else {}),
            "steps": result.steps, "device": result.device, "tokens_per_s": tokens_per_s,
            "peak_memory_gb": memory, "losses": [r["loss"] for r in hooks.train],
            "mfu": (tokens_per_s * flops_per_token / (peak * ranks * 1e12)) if peak else None,
            "model_dir": str(result.model_dir), "timings": result.timings}


def bf16_against_fp32(trained_dir: Path, base_dir: Path, args) -> dict:
    """DPO losses of the trained policy against its base on one batch, under bf16 autocast
    and in float32: the largest difference per pair."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.device import Placement
    from training.policy.data import collate_sequences, policy_pairs_encode
    from training.policy.losses import get_policy_loss
    from training.policy.reference import sequence_logps

    device = torch.device(args.device)
    tokenizer = AutoTokenizer.from_pretrained(str(trained_dir))
    pad = tokenizer.pad_token_id or 0
    pairs = policy_pairs_encode(pairs_make(args.batch_size, args.words), tokenizer, args.max_length)
    batch = collate_sequences([p.chosen for p in pairs] + [p.rejected for p in pairs], pad_id=pad)
    losses = {}
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        placement = Placement(device, dtype, name)
        logps = {}
        for role, folder in (("policy", trained_dir), ("reference", base_dir)):
            model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).to(device).eval()
            with torch.no_grad():
                logps[role] = sequence_logps(model, batch, placement)
            del model
        n = len(pairs)
        losses[name] = get_policy_loss("sigmoid").fn(
            chosen=logps["policy"][:n], rejected=logps["policy"][n:], ref_chosen=logps["reference"][:n],
            ref_rejected=logps["reference"][n:], chosen_lengths=None, rejected_lengths=None, beta=0.1,
            label_smoothing=0.0, simpo_gamma=0.0, desirable_weight=1.0, undesirable_weight=1.0).cpu()
    diff = float((losses["bf16"] - losses["fp32"]).abs().max())
    return {"fp32": losses["fp32"].tolist(), "bf16": losses["bf16"].tolist(), "max_abs_diff": diff,
            "tolerance": args.bf16_tolerance, "ok": diff <= args.bf16_tolerance}


def run_trl_dpo(model_dir: Path, n_params: int, args, scratch: Path) -> dict:
    """TRL's DPOTrainer on the same pairs, batch, length and precision, where installed."""
    try:
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import DPOConfig, DPOTrainer
    except ImportError as error:
        return {"skipped": f"TRL or datasets not installed here ({error.name})"}
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    pairs = pairs_make(args.batch_size * args.steps, args.words)
    dataset = Dataset.from_list([{"prompt": p.prompt_messages,
                                  "chosen": [{"role": "assistant", "content": p.chosen}],
                                  "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs])
    times: list[float] = []
    tokens: list[int] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a, **k):
            times.append(time.perf_counter())

    class Counting(DPOTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            tokens.append(int(sum(inputs[k].ne(tokenizer.pad_token_id).sum() for k in inputs
                                  if k.endswith("_input_ids") and k != "prompt_input_ids")))
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    cuda = args.device == "cuda"
    trl_args = DPOConfig(output_dir=str(scratch / "trl"), per_device_train_batch_size=args.batch_size,
                         max_steps=args.steps, learning_rate=1e-5, logging_steps=1, save_strategy="no",
                         report_to=[], bf16=cuda, use_cpu=not cuda, max_length=args.max_length,
                         gradient_checkpointing=args.gradient_checkpointing, disable_tqdm=True,
                         dataloader_num_workers=0, beta=0.1)
    _gpu_reset()
    trainer = Counting(model=model, args=trl_args, train_dataset=dataset, processing_class=tokenizer)
    trainer.add_callback(Clock())
    trainer.train()
    times.append(time.perf_counter())
    steady = list(zip(tokens[1:], [b - a for a, b in zip(times[1:], times[2:], strict=False)], strict=False))
    tokens_per_s = sum(t for t, _ in steady) / max(sum(s for _, s in steady), 1e-9) if steady else None
    peak = peak_tflops(args)
    return {"tokens_per_s": tokens_per_s, "peak_memory_gb": _peak_gb(),
            "mfu": tokens_per_s * 6 * n_params / (peak * 1e12) if peak and tokens_per_s else None}


PRECISION = "bf16 autocast on float32 weights (a LoRA base in bf16)"


def results_section(report: dict) -> str:
    lines = [SECTION, "", f"Run {report['when']} on {report['device']} (torch {report['torch']}); "
             f"batch {report['args']['batch_size']} pairs × {report['args']['max_length']} tokens, "
             f"{report['args']['steps']} steps, "
             f"{PRECISION if report['device'] != 'cpu' else 'float32'}"
             f"{', gradient checkpointing' if report['args']['gradient_checkpointing'] else ''}.", "",
             "| run | parameters | tokens/s | peak memory (GB) | MFU |", "|---|---|---|---|---|"]

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    for r in report["runs"]:
        extra = ", ".join(f"{k}={v}" for k, v in r.get("options", {}).items())
        name = f"ours {r['kind']} {r['model']}{' LoRA' if r['lora'] else ''}{f' ({extra})' if extra else ''}"
        lines.append(f"| {name} | {r['parameters'] / 1e9:.2f}B | {fmt(r['tokens_per_s'], '.0f')} | "
                     f"{fmt(r['peak_memory_gb'], '.1f')} | {fmt(r['mfu'], '.1%')} |")
    trl = report.get("trl_dpo", {})
    if "skipped" in trl:
        lines.append(f"| TRL DPOTrainer 1b | — | not run: {trl['skipped']} | — | — |")
    elif trl:
        lines.append(f"| TRL DPOTrainer 1b | — | {fmt(trl['tokens_per_s'], '.0f')} | "
                     f"{fmt(trl['peak_memory_gb'], '.1f')} | {fmt(trl['mfu'], '.1%')} |")
    b = report.get("bf16_check")
    if b:
        lines += ["", "bf16 autocast against float32, DPO loss of the first trained policy against its base "
                      f"on one batch: "
                      f"largest difference {b['max_abs_diff']:.2e} (tolerance {b['tolerance']:g}): "
                      f"{'within' if b['ok'] else 'OUTSIDE'}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cpu-smoke", action="store_true", help="Tiny shapes on the CPU (seconds).")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=4, help="Pairs per step.")
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--words", type=int, default=900, help="Words per response (fills max_length).")
    parser.add_argument("--layers-7b", type=int, default=8, help="Layers of the 7B-shaped model (32: all).")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="Override the GPU's bf16 peak.")
    parser.add_argument("--bf16-tolerance", type=float, default=0.02,
                        help="Largest |bf16 − fp32| DPO loss per pair accepted (the loss is ~0.69).")
    parser.add_argument("--out", default=str(ROOT / "var" / "gpu_check.json"))
    parser.add_argument("--results-md", default=str(ROOT / "benchmarks" / "RESULTS.md"),
                        help="Where the section goes ('' to skip).")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        args.device, args.steps, args.batch_size, args.max_length, args.words = "cpu", 3, 2, 64, 60
        # The LoRA case also takes the options a GPU run measures (same code path).
        plan = [("smoke", "dpo", False, None, {}), ("smoke", "reward", False, None, {}),
                ("smoke", "dpo", True, None, {"group_by_length": True, "attn_implementation": "sdpa"})]
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device: run on the GPU machine, or pass --cpu-smoke")
        args.device = "cuda"
        plan = [("1b", "dpo", False, None, {}), ("1b", "reward", False, None, {}),
                ("7b-lora", "dpo", True, args.layers_7b, {})]
        if _importable("bitsandbytes"):  # QLoRA: the same 7B-shaped LoRA run on a 4-bit base
            plan.append(("7b-lora", "dpo", True, args.layers_7b, {"qlora": True}))
        if torch.cuda.device_count() > 1:  # FSDP over every GPU of the machine, as the worker launches it
            plan.append(("1b", "dpo", False, None, {"strategy": "fsdp"}))
    started = time.perf_counter()
    report = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "torch": torch.__version__,
              "device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu",
              "args": {k: v for k, v in vars(args).items() if k not in ("out", "results_md")}, "runs": []}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        scratch = Path(tmp)
        made: dict[tuple, tuple[Path, int]] = {}
        first_dpo = None
        for shape, kind, lora, layers, options in plan:
            key = (shape, layers)
            if key not in made:
                made[key] = model_make(scratch / f"{shape}-{layers or 'all'}", SHAPES[shape], layers=layers,
                                       device=args.device)
            folder, n = made[key]
            run = run_ours(kind, folder, n, args, scratch, lora=lora, options=options)
            report["runs"].append(run)
            print(json.dumps({k: v for k, v in run.items() if k != "losses"}), flush=True)
            if kind == "dpo" and not lora and not options and first_dpo is None:
                first_dpo = (Path(run["model_dir"]), folder, n)
        if first_dpo is not None:
            report["bf16_check"] = bf16_against_fp32(first_dpo[0], first_dpo[1], args)
            report["trl_dpo"] = run_trl_dpo(first_dpo[1], first_dpo[2], args, scratch) \
                if not args.cpu_smoke else {"skipped": "not compared in the CPU smoke run"}
    report["seconds"] = time.perf_counter() - started
    assert "django" not in sys.modules, "the GPU check must not import Django"
    assert all(math.isfinite(loss) for r in report["runs"] for loss in r["losses"]), "a loss is not finite"
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    if args.results_md:
        results_replace(Path(args.results_md), results_section(report))
    print(results_section(report))
    return report


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def results_replace(path: Path, section: str) -> None:
    """Put ``section`` in place of the previous GPU-check section (or at the end)."""
    text = path.read_text() if path.is_file() else ""
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        text = head + section + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text)


if __name__ == "__main__":
    main()
