"""The policy trainer without Django: tokenization boundary, log-probs, reference cache,
learning (full and LoRA), KTO, invariance, likelihood-displacement alarm."""

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from training.device import placement_choose
from training.hooks import TrainingHooks
from training.policy.config import policy_config_from_dict
from training.policy.data import PolicyEncoder, UnpairedResponse, collate_sequences, policy_pairs_encode
from training.policy.metrics import DisplacementAlarm
from training.policy.reference import logps_compute, reference_logps, sequence_logps
from training.policy.synthetic import tiny_policy
from training.policy.trainer import paired_step, policy_model_load, train_policy
from training.reward.data import PreferencePair
from training.synthetic import synthetic_pairs

CPU = placement_choose("cpu")
MULTI_TURN = [{"role": "system", "content": "Be brief."},
              {"role": "user", "content": "question word3 word7 ?"},
              {"role": "assistant", "content": "good1 word2 bad3"},
              {"role": "user", "content": "question word9 ?"}]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_policy(tmp_path_factory.mktemp("policy") / "base")


@pytest.fixture(scope="module")
def tokenizer(model_dir):
    return AutoTokenizer.from_pretrained(str(model_dir))


class Log(TrainingHooks):
    def __init__(self):
        self.train, self.eval = [], []

    def on_log(self, *, step, split, values):
        (self.train if split == "train" else self.eval).append(values)


def cfg(**kw):
    base = {"device": "cpu", "batch_size": 8, "learning_rate": 3e-3, "logging_steps": 5, "max_steps": 20,
            "max_length": 64, "warmup_ratio": 0.0, "checkpoint_every_steps": 0, "eval_batch_size": 16}
    kind = kw.pop("kind", "dpo")
    return policy_config_from_dict(base | kw, kind=kind)


# ---- tokenization -------------------------------------------------------------
def test_multi_turn_boundary_is_exact(tokenizer):
    response = "good4 word11 good7 ?"
    seq = PolicyEncoder(tokenizer, 512).encode(MULTI_TURN, response)
    full = tokenizer.apply_chat_template([*MULTI_TURN, {"role": "assistant", "content": response}],
                                         tokenize=False)
    prompt = tokenizer.apply_chat_template(MULTI_TURN, tokenize=False, add_generation_prompt=True)
    # The ids are exactly the one tokenization of the whole conversation ...
    assert seq.ids == tokenizer(full, add_special_tokens=False)["input_ids"]
    # ... the prompt part is exactly the prompt's own tokenization (earlier turns included) ...
    assert seq.ids[:seq.prompt_len] == tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(seq.ids[:seq.prompt_len]) == prompt
    # ... and the response part is the assistant turn: the text, its end marker, the newline.
    assert tokenizer.decode(seq.ids[seq.prompt_len:]) == response + "<|im_end|>\n"
    assert "bad3" in tokenizer.decode(seq.ids[:seq.prompt_len])  # the earlier assistant turn is prompt


def test_a_token_straddling_the_seam_is_a_response_token(tokenizer):
    tok = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    # A template whose generation prompt ends in a space: byte-level BPE glues that
    # space to the response's first word ("Ġgood1"), across the seam.
    tok.chat_template = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}assistant: {% endif %}")
    seq = PolicyEncoder(tok, 512).encode([{"role": "user", "content": "question ?"}], "good1 word2")
    full = "user: question ?\nassistant: good1 word2\n"
    assert seq.ids == tok(full, add_special_tokens=False)["input_ids"]
    first = tok.decode(seq.ids[seq.prompt_len:seq.prompt_len + 1])
    assert first.strip().startswith("good") and first.startswith(" ")
    assert tok.decode(seq.ids[:seq.prompt_len]) == "user: question ?\nassistant:"


def test_without_a_chat_template_the_prompt_is_text_and_the_response_ends_with_eos(tokenizer):
    tok = AutoTokenizer.from_pretrained(tokenizer.name_or_path)
    tok.chat_template = None
    seq = PolicyEncoder(tok, 512).encode([{"role": "user", "content": "question word1 ?"}], "good2")
    assert tok.decode(seq.ids[:seq.prompt_len]) == "question word1 ?\n"
    assert tok.decode(seq.ids[seq.prompt_len:]) == "good2<|im_end|>"


def test_truncation_keeps_responses_and_cuts_both_prompts_alike(tokenizer):
    long_prompt = [{"role": "user", "content": " ".join(f"word{i % 40}" for i in range(60))}]
    pair = PreferencePair(prompt_messages=long_prompt, chosen="good1 good2 good3", rejected="bad1")
    (enc,) = policy_pairs_encode([pair], tokenizer, 40)
    assert enc.truncated
    assert len(enc.chosen.ids) <= 40 and len(enc.rejected.ids) <= 40
    assert enc.chosen.ids[:enc.chosen.prompt_len] == enc.rejected.ids[:enc.rejected.prompt_len]
    assert tokenizer.decode(enc.chosen.ids[enc.chosen.prompt_len:]) == "good1 good2 good3<|im_end|>\n"


def test_the_target_mask_covers_response_tokens_only():
    from training.policy.data import EncodedSequence

    batch = collate_sequences([EncodedSequence([5, 6, 7, 8], 2), EncodedSequence([5, 9], 1)], pad_id=0)
    # position t predicts token t+1: targets 7, 8 for the first; 9 for the second
    assert batch["target_mask"].tolist() == [[False, True, True], [True, False, False]]
    assert batch["lengths"].tolist() == [2, 1]


# ---- log-probs and the reference --------------------------------------------------
def test_response_logps_equal_a_full_log_softmax(model_dir, tokenizer):
    config = cfg()
    _, model = policy_model_load(model_dir, config)
    pairs = policy_pairs_encode(synthetic_pairs(6, seed=3), tokenizer, 64)
    seqs = [p.chosen for p in pairs] + [p.rejected for p in pairs]
    batch = collate_sequences(seqs, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        ours = sequence_logps(model, batch, CPU)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        token = torch.log_softmax(logits[:, :-1], -1).gather(-1, batch["input_ids"][:, 1:, None]).squeeze(-1)
        expected = (token * batch["target_mask"]).sum(1)
    assert torch.allclose(ours, expected, atol=1e-5)


def test_cached_reference_logps_equal_on_the_fly_ones(model_dir, tokenizer, tmp_path):
    config = cfg()
    _, model = policy_model_load(model_dir, config)
    pairs = policy_pairs_encode(synthetic_pairs(10, seed=4), tokenizer, 64)
    seqs = [p.chosen for p in pairs]
    kw = {"pad_id": tokenizer.pad_token_id, "batch_size": 3, "placement": CPU, "model_key": "m"}
    first, hit1 = reference_logps(model, seqs, cache_dir=tmp_path, **kw)
    second, hit2 = reference_logps(model, seqs, cache_dir=tmp_path, **kw)
    assert (hit1, hit2) == (False, True) and len(list(tmp_path.glob("ref-*.safetensors"))) == 1
    assert torch.equal(first, second)
    # On the fly: batched differently, and inside a training step (train mode, grads on).
    assert torch.allclose(first, logps_compute(model, seqs, pad_id=tokenizer.pad_token_id, batch_size=10,
                                               placement=CPU), atol=1e-5)
    ref = torch.stack([first, reference_logps(model, [p.rejected for p in pairs], cache_dir=tmp_path,
                                              **kw)[0]], 1)
    out = paired_step(model.train(), pairs, ref, config, pad_id=tokenizer.pad_token_id, placement=CPU)
    assert torch.allclose(out["chosen_logp"].detach(), first, atol=1e-5)
    assert out["losses"].detach() == pytest.approx(torch.full((10,), 0.6931471805599453), abs=1e-5)
    # Other data (the rejected responses above, a subset), another model: other cache entries.
    reference_logps(model, seqs[:5], cache_dir=tmp_path, **kw)
    reference_logps(model, seqs, cache_dir=tmp_path, **(kw | {"model_key": "other"}))
    assert len(list(tmp_path.glob("ref-*.safetensors"))) == 4


def test_with_lora_the_reference_is_the_adapter_disabled_base(model_dir, tokenizer):
    _, base = policy_model_load(model_dir, cfg())
    _, lora = policy_model_load(model_dir, cfg(lora=True, lora_r=4))
    with torch.no_grad():  # move the adapters away from their zero start
        for name, p in lora.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    seqs = [p.chosen for p in policy_pairs_encode(synthetic_pairs(4, seed=5), tokenizer, 64)]
    kw = {"pad_id": tokenizer.pad_token_id, "batch_size": 4, "placement": CPU}
    expected = logps_compute(base, seqs, **kw)
    assert not torch.allclose(logps_compute(lora, seqs, **kw), expected, atol=1e-3)  # adapters matter
    assert torch.allclose(reference_logps(lora, seqs, model_key="m", **kw)[0], expected, atol=1e-5)


# ---- learning -------------------------------------------------------------------
def test_full_fine_tuning_raises_preference_accuracy_and_changes_the_weights(model_dir, tmp_path):
    log = Log()
    result = train_policy(cfg(), model_path=model_dir, train_pairs=synthetic_pairs(96, seed=0),
                          eval_pairs=synthetic_pairs(32, seed=1), output_dir=tmp_path, hooks=log)
    first, last = log.train[0], log.train[-1]
    assert last["accuracy"] > first["accuracy"] and last["margin"] > first["margin"] > 0
    assert last["loss"] < first["loss"] < 0.6932
    assert result.eval_metrics["accuracy"] >= 0.9 and result.eval_metrics["pairs"] == 32
    assert result.eval_metrics["margin"] > 0
    assert {"chosen_reward", "rejected_reward", "chosen_logp", "rejected_logp", "chosen_length",
            "rejected_length", "likelihood_displacement", "tokens_per_s"} <= set(last)
    before = load_file(model_dir / "model.safetensors")
    after = load_file(result.model_dir / "model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)
    AutoModelForCausalLM.from_pretrained(result.model_dir)  # a plain model folder


def test_lora_training_learns_and_saves_merged_weights(model_dir, tmp_path):
    log = Log()
    result = train_policy(cfg(lora=True, lora_r=8, learning_rate=2e-2), model_path=model_dir,
                          train_pairs=synthetic_pairs(96, seed=0), eval_pairs=synthetic_pairs(32, seed=1),
                          output_dir=tmp_path, hooks=log)
    assert result.eval_metrics["accuracy"] >= 0.8 and log.train[-1]["margin"] > log.train[0]["margin"]
    merged = load_file(result.model_dir / "model.safetensors")
    assert not any("lora" in k for k in merged)
    base = load_file(model_dir / "model.safetensors")
    assert any(not torch.equal(base[k], merged[k]) for k in base)
    # The checkpoints hold the adapters only (frozen weights come back from the base).
    ckpt = load_file(next((tmp_path / "checkpoints").glob("step-*")) / "model.safetensors")
    assert ckpt and all("lora" in k for k in ckpt)


@pytest.mark.parametrize("loss", ["ipo", "hinge", "cdpo", "simpo", "orpo"])
def test_every_paired_variant_learns_the_preference(model_dir, tmp_path, loss):
    extra = {"cdpo": {"label_smoothing": 0.1}, "simpo": {"beta": 2.0}}.get(loss, {})
    result = train_policy(cfg(loss=loss, max_steps=12, **extra), model_path=model_dir,
                          train_pairs=synthetic_pairs(96, seed=0), eval_pairs=synthetic_pairs(32, seed=1),
                          output_dir=tmp_path)
    assert result.eval_metrics["accuracy"] >= 0.8, result.eval_metrics


def test_kto_learns_from_unpaired_thumbs(model_dir, tmp_path):
    both_bad = [UnpairedResponse([{"role": "user", "content": "question word1 ?"}], "bad1 bad2 word3", False)]
    log = Log()
    result = train_policy(cfg(loss="kto", max_steps=15), model_path=model_dir,
                          train_pairs=synthetic_pairs(64, seed=0), eval_pairs=synthetic_pairs(32, seed=1),
                          extra_unpaired=both_bad * 8, output_dir=tmp_path, hooks=log)
    last = log.train[-1]
    assert last["chosen_reward"] - last["rejected_reward"] == pytest.approx(last["margin"])
    assert last["margin"] > log.train[0]["margin"] and last["margin"] > 0
    assert log.train[-1]["accuracy"] is None  # unpaired: no pairwise accuracy while training
    assert result.eval_metrics["accuracy"] >= 0.8  # evaluated on held-out pairs


def test_batch_8_equals_batch_1_times_8_accumulation(model_dir, tmp_path):
    pairs = synthetic_pairs(32, seed=2)
    logs_a, logs_b = Log(), Log()
    a = train_policy(cfg(max_steps=3, batch_size=8, shuffle=False, logging_steps=1), model_path=model_dir,
                     train_pairs=pairs, eval_pairs=pairs[:4], output_dir=tmp_path / "a", hooks=logs_a)
    b = train_policy(cfg(max_steps=3, batch_size=1, gradient_accumulation_steps=8, shuffle=False,
                         logging_steps=1), model_path=model_dir, train_pairs=pairs, eval_pairs=pairs[:4],
                     output_dir=tmp_path / "b", hooks=logs_b)
    assert [v["loss"] for v in logs_a.train] == pytest.approx([v["loss"] for v in logs_b.train], abs=1e-5)
    assert [v["margin"] for v in logs_a.train] == pytest.approx([v["margin"] for v in logs_b.train], abs=1e-5)
    wa, wb = load_file(a.model_dir / "model.safetensors"), load_file(b.model_dir / "model.safetensors")
    # Adam divides each gradient by its running RMS: an element whose gradient is ~0
    # turns float summation-order noise into a step of up to lr. So the weights
    # agree to well under one step (3 steps of lr 3e-3 moved them by up to 9e-3).
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=5e-4, rtol=0)


def test_gradient_checkpointing_gives_the_same_step(model_dir, tmp_path):
    pairs = synthetic_pairs(16, seed=2)
    a = train_policy(cfg(max_steps=2), model_path=model_dir, train_pairs=pairs, eval_pairs=pairs[:4],
                     output_dir=tmp_path / "a")
    b = train_policy(cfg(max_steps=2, gradient_checkpointing=True), model_path=model_dir, train_pairs=pairs,
                     eval_pairs=pairs[:4], output_dir=tmp_path / "b")
    assert a.eval_metrics["loss"] == pytest.approx(b.eval_metrics["loss"], abs=1e-5)


def test_the_displacement_alarm_fires_on_a_steady_fall_below_the_reference():
    alarm = DisplacementAlarm(window=3, min_drop=1.0)
    assert [alarm.update(s, v) for s, v in [(1, 0.5), (2, 0.2), (3, -0.1)]] == [False, False, False]  # -0.6
    assert alarm.update(4, -0.9)  # 0.2 → -0.1 → -0.9: falling 3 logs, 1.1 nats, below 0
    assert alarm.first_step == 4
    assert not alarm.update(5, -0.5)  # it rose: the streak is broken
    assert not DisplacementAlarm(3, 1.0).update(1, None)
