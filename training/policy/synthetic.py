"""A tiny random chat policy (Llama-shaped causal LM), offline, for tests and benchmarks.

The tokenizer is a byte-level BPE trained here on the synthetic preference
vocabulary (training.synthetic: "good"/"bad"/filler words), with SmolLM2's chat
markers and template, so any text encodes and BPE merges can cross the
prompt/response seam as with a real model. head_dim is 64, the smallest vLLM's
CPU attention accepts, so the same folder also serves.
"""

from pathlib import Path

from training.synthetic import BAD, FILLER, GOOD

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _corpus():
    words = GOOD + BAD + FILLER + ["question", "?", "user", "assistant", "system"]
    for i in range(600):
        yield " ".join(words[(i * 7 + j * 5) % len(words)] for j in range(10)) + f" {i}."


def tiny_policy(folder: Path, *, hidden: int = 128, layers: int = 2, vocab_size: int = 512,
                seed: int = 0) -> Path:
    """Write a tokenizer (with chat template) and a random LlamaForCausalLM into ``folder``."""
    import torch  # the torch stack: loaded where a model is used, never in the web process
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, **dict(zip(
        ("bos_token", "eos_token", "unk_token", "pad_token"),
        ("<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|endoftext|>"), strict=True)))
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=layers, num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64,
        head_dim=64, max_position_embeddings=512, bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = fast.eos_token_id
    model.generation_config.pad_token_id = fast.pad_token_id
    model.save_pretrained(folder)
    return folder
