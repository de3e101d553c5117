"""Our DPO loss on a batch equals TRL's DPOTrainer on the same tiny model, reference
and batch (to 1e-5), and TRL's tokenization of the same conversations equals ours.

The reference is a second tiny model with other random weights, so the loss is
not the trivial ln 2 of step 0. TRL 1.16 is in requirements-dev.txt.
"""

import pytest
import torch

from tests.packages import installed

installed("trl", "pip install -r requirements-dev.txt")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.policy.data import policy_pairs_encode
    from training.policy.synthetic import tiny_policy
    from training.synthetic import synthetic_pairs

    root = tmp_path_factory.mktemp("parity")
    policy_dir, ref_dir = tiny_policy(root / "policy", seed=0), tiny_policy(root / "ref", seed=1)
    tokenizer = AutoTokenizer.from_pretrained(str(policy_dir))
    pairs = synthetic_pairs(8, seed=5)
    # A multi-turn prompt too: the boundary must agree beyond the first turn.
    pairs[0] = type(pairs[0])(prompt_messages=[
        {"role": "user", "content": "question word1 ?"}, {"role": "assistant", "content": "good2 word3"},
        {"role": "user", "content": "question word4 ?"}], chosen="good5 word6", rejected="bad7")
    dataset = Dataset.from_list([{
        "prompt": p.prompt_messages, "chosen": [{"role": "assistant", "content": p.chosen}],
        "rejected": [{"role": "assistant", "content": p.rejected}]} for p in pairs])
    ours = policy_pairs_encode(pairs, tokenizer, 512)
    policy = AutoModelForCausalLM.from_pretrained(str(policy_dir), dtype=torch.float32)
    ref = AutoModelForCausalLM.from_pretrained(str(ref_dir), dtype=torch.float32)
    return {"tokenizer": tokenizer, "dataset": dataset, "ours": ours, "policy": policy, "ref": ref,
            "root": root}


def trl_trainer(setup, loss_type: str, beta: float):
    from trl import DPOConfig, DPOTrainer

    args = DPOConfig(output_dir=str(setup["root"] / f"trl-{loss_type}"), loss_type=[loss_type], beta=beta,
                     per_device_train_batch_size=8, use_cpu=True, bf16=False, report_to=[],
                     max_length=None, gradient_checkpointing=False, disable_dropout=True, disable_tqdm=True)
    return DPOTrainer(model=setup["policy"], ref_model=setup["ref"], args=args,
                      train_dataset=setup["dataset"], processing_class=setup["tokenizer"])


def test_trls_tokenization_of_the_conversations_equals_ours(setup):
    trainer = trl_trainer(setup, "sigmoid", 0.1)
    for row, enc in zip(trainer.train_dataset, setup["ours"], strict=True):
        assert enc.chosen.ids[:enc.chosen.prompt_len] == row["prompt_ids"]
        assert enc.chosen.ids[enc.chosen.prompt_len:] == row["chosen_ids"]
        assert enc.rejected.ids[enc.rejected.prompt_len:] == row["rejected_ids"]


@pytest.mark.parametrize(("loss_type", "beta"), [("sigmoid", 0.1), ("sigmoid", 0.5), ("ipo", 0.1),
                                                  ("hinge", 0.1)])
def test_dpo_loss_on_a_batch_equals_trls_dpo_trainer(setup, loss_type, beta):
    from training.device import placement_choose
    from training.policy.config import policy_config_from_dict
    from training.policy.reference import logps_compute
    from training.policy.trainer import paired_step

    trainer = trl_trainer(setup, loss_type, beta)
    inputs = trainer.data_collator([trainer.train_dataset[i] for i in range(len(trainer.train_dataset))])
    theirs = trainer.compute_loss(trainer.model, inputs).item()

    cpu, pad = placement_choose("cpu"), setup["tokenizer"].pad_token_id
    encoded = setup["ours"]
    ref = torch.stack([logps_compute(setup["ref"], [p.chosen for p in encoded], pad_id=pad, batch_size=8,
                                     placement=cpu),
                       logps_compute(setup["ref"], [p.rejected for p in encoded], pad_id=pad, batch_size=8,
                                     placement=cpu)], dim=1)
    config = policy_config_from_dict({"loss": loss_type, "beta": beta, "device": "cpu"})
    with torch.no_grad():
        ours = paired_step(setup["policy"], encoded, ref, config, pad_id=pad, placement=cpu)["losses"].mean()
    assert abs(ours.item() - 0.6931) > 1e-2 or loss_type != "sigmoid"  # a non-trivial batch
    assert ours.item() == pytest.approx(theirs, abs=1e-5)


def test_several_training_steps_equal_trls_step_by_step(tmp_path):
    """benchmarks/dpo.py's two runs at small size: same tokens, same loss at every
    step (so optimizer, schedule and clipping match too, not only the loss)."""
    import argparse

    from benchmarks.dpo import run_ours, run_trl
    from training.policy.synthetic import tiny_policy

    model_dir = tiny_policy(tmp_path / "tiny")
    args = argparse.Namespace(batch_size=4, steps=4, max_length=128, lr=5e-3, seed=3)
    trl = run_trl(model_dir, args, tmp_path)
    ours = run_ours(model_dir, args, tmp_path)
    assert trl["same_tokens"] and ours["tokens"] == trl["tokens"]
    assert len(ours["losses"]) == len(trl["losses"]) == 4
    assert ours["losses"] == pytest.approx(trl["losses"], abs=1e-5)
    assert ours["losses"][-1] < ours["losses"][0]  # it did learn: lr high enough to move
