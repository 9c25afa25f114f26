"""LoRA fine-tuning speed against TRL's SFTTrainer, same model, data and LoRA.

Target: >= 2x TRL's tokens/s with the final loss within 2%. TRL runs with its
defaults except what makes the comparison fair: the same LoRA adapters,
learning rate, epochs and scheduler, `use_cpu=True` on a machine without a
GPU (its bf16 default needs one), no checkpoints or logging integrations.
"Final loss" is measured the same way for both adapters: the mean negative
log-likelihood of the answer tokens of held-out examples.

Both take about as many examples per optimizer step (TRL's default batch of
8; ours packs rows of 8 examples' worth of tokens), so the two reach
comparable losses. Needs TRL (`pip install -e '.[bench]'`).

    .venv/bin/python benchmarks/bench_sft_vs_trl.py [--size cpu-s] [--examples 600]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_eval_speed import examples as sample_examples  # noqa: E402  (sets up Django for the prompt renderer)

from training.ml.data import IGNORE_INDEX, answer_text, encode_example, prompt_text  # noqa: E402
from training.ml.finetune import LoraConfigValues, lora_finetune  # noqa: E402
from training.ml.ladder import build_demo_ladder, device_and_dtype, load_model  # noqa: E402

# SFTConfig's default per_device_train_batch_size.
TRL_BATCH_SIZE = 8
SHARED = {"r": 16, "alpha": 32, "dropout": 0.05, "lr": 1e-3, "epochs": 1, "scheduler": "cosine",
          "warmup_ratio": 0.03, "modules_to_save": ["lm_head"], "seed": 0}


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


def trl_finetune(checkpoint, train, output_dir) -> tuple[float, int]:
    """SFTTrainer on prompt/completion rows rendered exactly as ours are; (seconds, tokens)."""
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    device_and_dtype("cpu")
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    model = AutoModelForCausalLM.from_pretrained(checkpoint)
    rows = [{"prompt": prompt_text(tokenizer, example.prompt), "completion": answer_text(tokenizer, example.prompt, example.response)}
            for example in train]
    tokens = sum(len(tokenizer(row["prompt"] + row["completion"])["input_ids"]) for row in rows)
    args = SFTConfig(
        output_dir=str(output_dir), use_cpu=True, learning_rate=SHARED["lr"], num_train_epochs=SHARED["epochs"],
        lr_scheduler_type=SHARED["scheduler"], warmup_steps=SHARED["warmup_ratio"], seed=SHARED["seed"],
        report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
    )
    lora = LoraConfig(r=SHARED["r"], lora_alpha=SHARED["alpha"], lora_dropout=SHARED["dropout"],
                      target_modules="all-linear", modules_to_save=SHARED["modules_to_save"], task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows), processing_class=tokenizer,
                         peft_config=lora)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    trainer.model.save_pretrained(output_dir)
    return seconds, tokens


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
        # As many examples per optimizer step as TRL's default batch of 8, in packed rows.
        _, tokenizer = load_model(rung["path"])
        mean_tokens = sum(len(encode_example(tokenizer, e, max_length=1400)["input_ids"]) for e in train) / len(train)
        batch_tokens = round(TRL_BATCH_SIZE * mean_tokens)
        ours = lora_finetune(checkpoint_dir=rung["path"], examples=train, output_dir=folder / "ours",
                             config=LoraConfigValues.from_overrides({**SHARED, "batch_tokens": batch_tokens}))
        trl_seconds, trl_tokens = trl_finetune(rung["path"], train, folder / "trl")
        ours_loss = held_out_loss(rung["path"], folder / "ours", held_out)
        trl_loss = held_out_loss(rung["path"], folder / "trl", held_out)
    trl_rate = trl_tokens / trl_seconds
    print(f"rung {args.size} ({rung['parameters']:,} parameters), {len(train)} examples, "
          f"{ours.tokens:,} tokens, LoRA r {SHARED['r']}, lr {SHARED['lr']}, {SHARED['epochs']} epoch")
    print(f"ladderlab: {ours.seconds:.1f} s, {ours.tokens_per_second:,.0f} tokens/s, {ours.steps} steps "
          f"of {batch_tokens:,} tokens")
    print(f"TRL SFTTrainer: {trl_seconds:.1f} s, {trl_rate:,.0f} tokens/s")
    print(f"speed-up {ours.tokens_per_second / trl_rate:.2f}x   target: >= 2x")
    gap = (ours_loss - trl_loss) / trl_loss
    print(f"held-out answer loss: ladderlab {ours_loss:.4f}, TRL {trl_loss:.4f} ({gap:+.1%})   target: within 2%")


if __name__ == "__main__":
    main()
