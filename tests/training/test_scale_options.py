"""Options for real sizes, without launching ranks: strategies and their accelerate
launch lines, precision (bf16 LoRA base, QLoRA / flash-attention refusals),
length-grouped batching and the planner's account of sharding and QLoRA."""

import json
from dataclasses import replace

import pytest
import torch

from tests.training.test_policy_trainer import Log, cfg
from training.device import Placement, adapters_onto_full_base, load_options
from training.distributed.launch import (
    StrategyUnavailable,
    accelerate_config_path,
    distributed_train,
    launch_command,
)
from training.distributed.memory import ModelShape, memory_plan, memory_plan_for_run
from training.distributed.node import node_command
from training.distributed.resources import (
    DEEPSPEED_INSTALL,
    STRATEGIES,
    Resources,
    resources_from_dict,
    unavailable,
)
from training.policy.config import policy_config_from_dict
from training.policy.synthetic import tiny_policy
from training.policy.trainer import policy_model_load, train_policy
from training.reward.config import config_from_dict
from training.reward.data import DataCursor, PreferencePair
from training.synthetic import synthetic_pairs

LLAMA_70B = dict(model_type="llama", hidden_size=8192, num_hidden_layers=80, intermediate_size=28672,
                 vocab_size=128256, num_attention_heads=64, num_key_value_heads=8, tie_word_embeddings=False)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("policy") / "base")


# ---- strategies and launch lines ------------------------------------------------
def test_every_multi_process_strategy_ships_an_accelerate_config():
    for strategy in STRATEGIES.values():
        if strategy.multi_process:
            text = accelerate_config_path(strategy.name).read_text()
            assert "distributed_type:" in text, strategy.name
    assert "fsdp_version: 2" in accelerate_config_path("fsdp").read_text()
    assert "zero_stage: 3" in accelerate_config_path("deepspeed-zero3").read_text()


def test_fsdp_and_deepspeed_are_offered_with_what_each_shards():
    assert resources_from_dict({"strategy": "fsdp", "processes_per_node": 8}).weight_shards == 8
    assert resources_from_dict({"strategy": "ddp", "processes_per_node": 8}).weight_shards == 1
    zero2 = resources_from_dict({"strategy": "deepspeed-zero2", "processes_per_node": 8})
    zero3 = resources_from_dict({"strategy": "deepspeed-zero3", "processes_per_node": 8})
    assert (zero2.weight_shards, zero2.state_shards) == (1, 8)
    assert (zero3.weight_shards, zero3.state_shards) == (8, 8)


def test_a_worker_without_a_strategys_package_refuses_it_by_name_with_the_install_line(tmp_path,
                                                                                       monkeypatch):
    needs_missing = replace(STRATEGIES["deepspeed-zero3"],
                            requires=("palate_no_such_package", "1.0", DEEPSPEED_INSTALL))
    reason = unavailable(needs_missing)
    assert "needs the palate_no_such_package package on the worker" in reason
    assert "DS_BUILD_OPS=0 pip install --no-build-isolation -r requirements-deepspeed.txt" in reason
    assert unavailable(STRATEGIES["fsdp"]) == ""
    # The launcher refuses before it starts anything.
    monkeypatch.setitem(STRATEGIES, "deepspeed-zero2", replace(needs_missing, name="deepspeed-zero2"))
    with pytest.raises(StrategyUnavailable, match="needs the palate_no_such_package package"):
        distributed_train(trainer="reward", kind="reward", config={},
                          resources=Resources(strategy="deepspeed-zero2", processes_per_node=2),
                          model_path=tmp_path, train_pairs=[], eval_pairs=[], output_dir=tmp_path)
    assert not (tmp_path / "launch").exists()


def test_a_worker_with_another_deepspeed_version_refuses_it_by_name():
    # The engine relies on the pinned version's micro-step internals.
    other = replace(STRATEGIES["deepspeed-zero2"], requires=("pytest", "0.0.1", DEEPSPEED_INSTALL))
    assert unavailable(other).startswith("strategy deepspeed-zero2 is tested with pytest 0.0.1, the "
                                         "worker has ")
    # `make test` installs the pinned one (requirements-deepspeed.txt).
    assert unavailable(STRATEGIES["deepspeed-zero2"]) == unavailable(STRATEGIES["deepspeed-zero3"]) == ""


def test_the_launch_line_is_accelerate_with_the_strategys_config_and_machine_ranks(tmp_path):
    one = launch_command(Resources(strategy="fsdp", processes_per_node=4), tmp_path / "spec.json")
    assert one[1:3] == ["-m", "accelerate.commands.launch"]
    assert one[one.index("--config_file") + 1].endswith("accelerate/fsdp.yaml")
    assert one[one.index("--num_processes") + 1] == "4" and one[one.index("--main_process_port") + 1] == "0"
    assert one[-3:] == ["-m", "training.distributed.entry", str(tmp_path / "spec.json")]
    nodes = Resources(strategy="ddp", processes_per_node=8, nodes=2, master_addr="10.0.0.1",
                      master_port=29511)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"resources": nodes.to_dict()}))
    line = node_command(spec, 1)
    for flag, value in (("--num_processes", "16"), ("--num_machines", "2"), ("--machine_rank", "1"),
                        ("--main_process_ip", "10.0.0.1"), ("--main_process_port", "29511")):
        assert line[line.index(flag) + 1] == value
    with pytest.raises(ValueError, match="machine_rank: must be between 1 and 1"):
        node_command(spec, 0)


# ---- precision --------------------------------------------------------------------
def test_qlora_and_flash_attention_are_refused_at_validation_without_cuda():
    with pytest.raises(ValueError, match="qlora: 4-bit QLoRA runs on CUDA GPUs only.*not 'auto'"):
        policy_config_from_dict({"lora": True, "qlora": True})
    with pytest.raises(ValueError, match="qlora: 4-bit QLoRA runs on CUDA GPUs only.*not 'cpu'"):
        config_from_dict({"lora": True, "qlora": True, "device": "cpu"})
    with pytest.raises(ValueError, match="qlora: QLoRA trains LoRA adapters"):
        config_from_dict({"qlora": True, "device": "cuda"})
    with pytest.raises(ValueError, match="attn_implementation: flash_attention_2 runs on CUDA GPUs only"):
        policy_config_from_dict({"attn_implementation": "flash_attention_2"})
    assert policy_config_from_dict({"lora": True, "qlora": True, "device": "cuda"}).qlora
    # The trainer's own check, for a worker that has no GPU after all:
    with pytest.raises(RuntimeError, match="qlora: 4-bit QLoRA needs a CUDA GPU"):
        load_options(Placement(torch.device("cpu"), torch.float32, "cpu"), lora=True, qlora=True)


def test_a_lora_base_loads_in_bf16_where_the_device_computes_in_bf16_and_the_adapters_stay_fp32(model_dir):
    bf16 = Placement(torch.device("cpu"), torch.bfloat16, "cpu bf16 (as a bf16 GPU)")
    _, lora = policy_model_load(model_dir, cfg(lora=True, attn_implementation="sdpa"), bf16)
    trainable = {p.dtype for p in lora.parameters() if p.requires_grad}
    frozen = {p.dtype for p in lora.parameters() if not p.requires_grad}
    assert trainable == {torch.float32} and frozen == {torch.bfloat16}
    assert lora.get_base_model().config._attn_implementation == "sdpa"
    # Every weight trains: float32 master weights whatever the compute dtype.
    _, full = policy_model_load(model_dir, cfg(), bf16)
    assert {p.dtype for p in full.parameters()} == {torch.float32}


def test_trained_adapters_move_onto_a_full_precision_base(model_dir):
    # What a QLoRA run does before merging (its 4-bit base is not what it ships); the
    # same peft names hold over a 4-bit and a full-precision base.
    config = cfg(lora=True)
    _, trained = policy_model_load(model_dir, config)
    with torch.no_grad():
        for name, p in trained.named_parameters():
            if "lora_B" in name:
                p.fill_(0.01)
    moved = adapters_onto_full_base(trained, lambda: policy_model_load(model_dir, config)[1])
    assert moved is not trained
    for name, p in moved.named_parameters():
        if p.requires_grad:
            assert torch.equal(p, dict(trained.named_parameters())[name]), name
    assert any("lora_B" in n and float(p.detach().abs().sum()) > 0 for n, p in moved.named_parameters())


# ---- length-grouped batching --------------------------------------------------------
def varied_pairs(n: int, seed: int) -> list[PreferencePair]:
    pairs = synthetic_pairs(n, seed=seed)
    return [PreferencePair(**{**p.__dict__, "chosen": " ".join([p.chosen] * (1 + i % 5)),
                              "rejected": " ".join([p.rejected] * (1 + (i * 3) % 4))})
            for i, p in enumerate(pairs)]


def padded_tokens(order: list[int], lengths: list[int], batch: int) -> int:
    return sum(batch * max(lengths[i] for i in order[s:s + batch]) for s in range(0, len(order), batch))


def test_length_grouping_pads_less_keeps_the_epoch_and_resumes_exactly():
    lengths = [(i * 37) % 101 + 1 for i in range(400)]
    plain = DataCursor(400, seed=1, shuffle=True).take(400)
    grouped = DataCursor(400, seed=1, shuffle=True, lengths=lengths, group=4)
    order = grouped.take(400)
    assert sorted(order) == list(range(400)) and order != plain
    assert padded_tokens(order, lengths, 4) < 0.7 * padded_tokens(plain, lengths, 4)
    first = grouped.take(150)
    resumed = DataCursor(400, seed=1, shuffle=True, lengths=lengths, group=4, epoch=1, offset=100)
    assert resumed.take(50) == first[100:]


def test_a_length_grouped_sft_epoch_has_the_loss_of_the_plain_one(model_dir, tmp_path):
    # Learning rate 0: the weights stay, so the epoch's mean loss depends only on which
    # examples it saw, not on how they were batched and padded (padding must not leak).
    pairs = varied_pairs(16, seed=2)
    logs = {}
    for grouped in (False, True):
        config = cfg(kind="sft", learning_rate=0.0, batch_size=4, max_steps=4, logging_steps=4,
                     use_weights=False, group_by_length=grouped, max_length=128)
        logs[grouped] = Log()
        train_policy(config, model_path=model_dir, train_pairs=pairs, eval_pairs=[],
                     output_dir=tmp_path / str(grouped), hooks=logs[grouped])
    assert len({len(p.chosen.split()) for p in pairs}) == 5  # lengths vary: grouping reorders
    assert logs[True].train[-1]["loss"] == pytest.approx(logs[False].train[-1]["loss"], abs=1e-6)


# ---- the planner ------------------------------------------------------------------------
def test_the_planner_divides_what_fsdp_shards_and_counts_qlora_and_the_bf16_lora_base():
    llama = ModelShape.from_config(LLAMA_70B, causal=True)
    common = dict(sequences=8, max_length=1024, gradient_checkpointing=True, available_gb=80)
    one = memory_plan(llama, method="lora", gpus=1, **common)
    eight = memory_plan(llama, method="lora", shards=8, gpus=8, **common)
    qlora = memory_plan(llama, method="qlora", gpus=1, **common)
    assert not one.fits and one.weights_gb > 2 * 65e9 / 2**30  # a bf16 base of 70B
    assert eight.fits and eight.weights_gb < one.weights_gb / 6
    assert qlora.fits and qlora.weights_gb < 0.3 * one.weights_gb


def test_a_runs_plan_follows_its_strategy_and_method(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(LLAMA_70B))
    config = {"batch_size": 1, "max_length": 1024, "lora": True, "gradient_checkpointing": True}
    plans = {name: memory_plan_for_run(
        kind="dpo", config=config, model_path=tmp_path,
        resources=Resources(strategy=name, processes_per_node=8, gpu_memory_gb=80))
        for name in ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")}
    assert not plans["ddp"].fits and plans["fsdp"].fits
    # ZeRO-2 shards gradients and optimizer state, not the weights; ZeRO-3 all three, as fsdp.
    # DeepSpeed keeps the trained adapters in bf16 plus a float32 master copy split
    # like the optimizer state (fsdp and ddp: the adapters in float32 only).
    zero2, zero3 = plans["deepspeed-zero2"], plans["deepspeed-zero3"]
    adapters_gib = zero2.trainable / 2**30
    assert zero2.weights_gb == pytest.approx(plans["ddp"].weights_gb - adapters_gib * (4 - 2 - 4 / 8))
    assert zero2.optimizer_gb == plans["fsdp"].optimizer_gb
    assert zero2.gradients_gb == plans["fsdp"].gradients_gb < plans["ddp"].gradients_gb
    assert zero3.total_gb == pytest.approx(plans["fsdp"].total_gb + adapters_gib * 2 / 8)
    qlora = memory_plan_for_run(kind="dpo", config=config | {"qlora": True}, model_path=tmp_path,
                                resources=Resources(gpu_memory_gb=80))
    assert qlora.fits and qlora.total_gb < plans["ddp"].total_gb / 2
