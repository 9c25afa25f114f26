"""LoRA fine-tuning speed against TRL's SFTTrainer, same model, data and LoRA.

Target: >= 2x TRL's tokens/s with the final loss within 2%. The two run the
same optimisation, so their losses can agree: the same examples rendered to
the same tokens with the loss on the answer only, the same LoRA adapters
(lm_head trained whole) from the same seeded initialisation, AdamW without
weight decay, gradient clipping at 1, the loss averaged over each step's
answer tokens, as many optimizer steps, the same learning-rate schedule, fp32
on the CPU. TRL keeps its defaults wherever they already agree with ours or
leave the optimisation unchanged (gradient checkpointing, fused AdamW); what
had to be set differently is printed with the reason. `use_cpu=True`: the
comparison is run on a machine without a GPU; no checkpoints or logging
integrations. "Final loss" is measured the same way for both adapters: the
mean negative log-likelihood of the answer tokens of held-out examples.

TRL takes batches of 8 examples (its default); ours packs whole examples into
rows of a token budget, set to the smallest that gives as many steps, so both
average 8 examples a step. Which examples share a step still differs (each
trainer shuffles its own way): noise of the size a different seed makes, which
moves our loss by up to 1.5%. Needs TRL (`pip install -e '.[bench]'`).

    .venv/bin/python benchmarks/bench_sft_vs_trl.py [--size cpu-s] [--examples 600]
"""

import argparse
import math
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval_speed import examples as sample_examples  # noqa: E402  (sets up Django for the prompt renderer)

from training.ml.data import IGNORE_INDEX, answer_text, encode_example, prompt_text  # noqa: E402
from training.ml.finetune import LoraConfigValues, epoch_rows, lora_finetune, lr_schedule  # noqa: E402
from training.ml.ladder import build_demo_ladder, device_and_dtype, load_model  # noqa: E402

# SFTConfig's default per_device_train_batch_size.
TRL_BATCH_SIZE = 8
SHARED = {"r": 16, "alpha": 32, "dropout": 0.05, "lr": 1e-3, "epochs": 1, "scheduler": "cosine",
          "warmup_ratio": 0.03, "modules_to_save": ["lm_head"], "seed": 0}
# What TRL is set to beyond SHARED, and why.
ALIGNED = [
    "bf16 False (its default autocasts to bf16 on the CPU too; ours trains in fp32 there)",
    "our lr schedule (transformers' warmup starts at lr 0, so its first step is lost, and it rounds "
    "warmup_ratio x steps up where ours rounds down)",
    "adapters seeded as ours are (SFTTrainer adds them before Trainer seeds)",
]


def held_out_loss(checkpoint, adapter_dir, examples) -> float:
    """Mean NLL of the answer tokens, one example at a time, plain attention."""
    import torch

    model, tokenizer = load_model(checkpoint, adapter_dir=adapter_dir)
    total, count = 0.0, 0
    with torch.no_grad():
        for example in examples:
            encoded = encode_example(tokenizer, example, max_length=1400)
            labels = torch.tensor([encoded["labels"]])
            logits = model(input_ids=torch.tensor([encoded["input_ids"]])).logits[:, :-1]
            targets = labels[:, 1:]
            total += float(torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum"))
            count += int((targets != IGNORE_INDEX).sum())
    return total / count


def row_budget(checkpoint, train, steps: int) -> int:
    """The smallest `batch_tokens` with which lora_finetune takes at most `steps` optimizer steps."""
    _, tokenizer = load_model(checkpoint)
    config = LoraConfigValues.from_overrides(SHARED)
    encoded = [encode_example(tokenizer, example, max_length=config.max_seq_len) for example in train]
    lengths = [len(example["input_ids"]) for example in encoded]
    # No fewer: rows hold whole examples and at most the budget.
    budget = max(max(lengths), math.ceil(sum(lengths) / steps))
    while epoch_rows(encoded, replace(config, batch_tokens=budget))[1] > steps:
        budget += 1
    return budget


def trl_finetune(checkpoint, train, output_dir) -> tuple[float, int, int, str]:
    """SFTTrainer on prompt/completion rows rendered exactly as ours are.

    Returns (seconds, tokens, steps, the TRL defaults kept that match ours).
    """
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    class OurScheduleSFTTrainer(SFTTrainer):
        def create_scheduler(self, num_training_steps, optimizer=None):
            if self.lr_scheduler is None:
                self.lr_scheduler = lr_schedule(
                    optimizer or self.optimizer, config=LoraConfigValues.from_overrides(SHARED),
                    total_steps=num_training_steps,
                )
            return self.lr_scheduler

    device_and_dtype("cpu")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    rows = [{"prompt": prompt_text(tokenizer, example.prompt), "completion": answer_text(tokenizer, example.prompt, example.response)}
            for example in train]
    lengths = [len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) for row in rows]
    args = SFTConfig(
        output_dir=str(output_dir), use_cpu=True, learning_rate=SHARED["lr"], num_train_epochs=SHARED["epochs"],
        bf16=False, seed=SHARED["seed"], report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )
    # TRL would cut a long example's end (its answer), ours its prompt's start: neither may cut.
    if max(lengths) > args.max_length:
        raise ValueError(f"an example of {max(lengths)} tokens is over TRL's max_length {args.max_length}")
    lora = LoraConfig(r=SHARED["r"], lora_alpha=SHARED["alpha"], lora_dropout=SHARED["dropout"],
                      target_modules="all-linear", modules_to_save=SHARED["modules_to_save"], task_type="CAUSAL_LM")
    # As lora_finetune seeds before adding the adapters: the same initial LoRA weights.
    torch.manual_seed(SHARED["seed"])
    trainer = OurScheduleSFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                                    processing_class=tokenizer, peft_config=lora)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    trainer.model.save_pretrained(output_dir)
    kept = (f"AdamW betas ({args.adam_beta1}, {args.adam_beta2}), eps {args.adam_epsilon}, weight decay "
            f"{args.weight_decay}; max_grad_norm {args.max_grad_norm}; completion_only_loss "
            f"{trainer.completion_only_loss}, the loss averaged over the step's answer tokens; max_length "
            f"{args.max_length}, longest example {max(lengths)} tokens")
    return seconds, sum(lengths), trainer.state.global_step, kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", default="cpu-s")
    parser.add_argument("--examples", type=int, default=600)
    args = parser.parse_args()
    train, _ = sample_examples(10)
    held_out, train = train[-150:], train[: args.examples]
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        rung = build_demo_ladder(texts=[e.prompt for e in train], output_dir=folder, sizes=[args.size],
                                 pretrain_steps=150)[0]
        # As many optimizer steps as TRL's batches, so as many examples a step on average.
        batch_tokens = row_budget(rung["path"], train, math.ceil(len(train) / TRL_BATCH_SIZE))
        ours = lora_finetune(checkpoint_dir=rung["path"], examples=train, output_dir=folder / "ours",
                             config=LoraConfigValues.from_overrides({**SHARED, "batch_tokens": batch_tokens}))
        trl_seconds, trl_tokens, trl_steps, kept = trl_finetune(rung["path"], train, folder / "trl")
        ours_loss = held_out_loss(rung["path"], folder / "ours", held_out)
        trl_loss = held_out_loss(rung["path"], folder / "trl", held_out)
    trl_rate = trl_tokens / trl_seconds
    print(f"rung {args.size} ({rung['parameters']:,} parameters), {len(train)} examples, "
          f"{ours.tokens:,} tokens, LoRA r {SHARED['r']}, lr {SHARED['lr']}, {SHARED['epochs']} epoch")
    print("TRL set to ours: " + "; ".join(ALIGNED))
    print("TRL defaults kept, as ours: " + kept)
    print(f"ladderlab: {ours.seconds:.1f} s, {ours.tokens_per_second:,.0f} tokens/s, {ours.steps} steps "
          f"of up to {batch_tokens:,} tokens")
    print(f"TRL SFTTrainer: {trl_seconds:.1f} s, {trl_rate:,.0f} tokens/s, {trl_steps} steps "
          f"of {TRL_BATCH_SIZE} examples")
    print(f"speed-up {ours.tokens_per_second / trl_rate:.2f}x   target: >= 2x")
    gap = (ours_loss - trl_loss) / trl_loss
    print(f"held-out answer loss: ladderlab {ours_loss:.4f}, TRL {trl_loss:.4f} ({gap:+.1%})   target: within 2%")


if __name__ == "__main__":
    main()
