"""LoRA fine-tuning of one rung sharded across the processes of one machine.

For rungs too large for one GPU (the 14B/32B rungs of a production ladder):
`torchrun` starts one process per GPU and PyTorch's FSDP2 (`fully_shard`, one
unit per decoder layer) leaves each process a shard of the frozen weights and
of the adapters. The loss, the packed rows and the adapters are the
single-process path's (`finetune.py`); each process trains on its own rows and
FSDP averages the gradients. The main process saves the adapter with its
`training-result.json` and writes progress to `progress.json` beside it.

    torchrun --nproc_per_node 8 -m training.ml.distributed --checkpoint /models/Qwen2.5-32B \\
        --examples train.jsonl --output adapters/32B --config '{"lr": 2e-5}'

`--examples` is JSON lines of {"prompt", "response"}. On CUDA the process
group is NCCL and the weights bf16; without GPUs it is gloo and fp32, which
is how the test suite runs this exact path on two CPU processes.
"""

import argparse
import json
import math
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from training.ml.data import TrainExample, encode_example
from training.ml.lifetime import die_with_parent, dying_with_this_process
from training.ml.finetune import (
    PROGRESS_EVERY_SECONDS,
    TRAINING_RESULT_FILE,
    FinetuneResult,
    LoraConfigValues,
    collate_packed,
    epoch_rows,
    lr_schedule,
    optimizer_step,
    packed_loss,
    prepare_model,
    progress_report,
)

PROGRESS_FILE = "progress.json"


def read_examples(path) -> list[TrainExample]:
    """Training examples from JSON lines; a bad line names the file and line."""
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                examples.append(TrainExample(prompt=row["prompt"], response=row["response"]))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"{path}, line {number}: not an example with prompt and response ({error})")
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def write_examples(path, examples: list[TrainExample]) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for example in examples:
            out.write(json.dumps({"prompt": example.prompt, "response": example.response}) + "\n")


def _write_json(path: Path, value: dict) -> None:
    # Written beside, then renamed: a reader never sees half a file.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(value))
    partial.replace(path)


def sharded_finetune(*, checkpoint_dir, examples: list[TrainExample], output_dir, config: LoraConfigValues) -> None:
    """Train on every process torchrun started; the main process saves."""
    import torch
    import torch.distributed as dist
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if cuda else "gloo")
    world, rank = dist.get_world_size(), dist.get_rank()
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    output_dir = Path(output_dir)
    if rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
    try:
        model, tokenizer = prepare_model(checkpoint_dir, config, "cpu", torch.float32)
        if not cuda:
            torch.set_num_threads(1)
        mesh = init_device_mesh(device.type, (world,))
        precision = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if cuda else None
        shard = {"mesh": mesh, **({"mp_policy": precision} if precision else {})}
        for layer in model.base_model.model.model.layers:
            fully_shard(layer, **shard)
        fully_shard(model, **shard)
        # What this process holds, against the whole model: the evidence of sharding.
        local_parameters = sum(parameter.to_local().numel() for parameter in model.parameters())
        all_parameters = sum(parameter.numel() for parameter in model.parameters())
        encoded = [encode_example(tokenizer, example, max_length=config.max_seq_len) for example in examples]
        schedule, steps = epoch_rows(encoded, config)
        # Every process takes the same number of steps: the collectives meet at each one.
        total_steps = max(1, steps // world)
        trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        scheduler = lr_schedule(optimizer, config=config, total_steps=total_steps)
        curve, tokens = [], 0
        started = last_report = time.monotonic()
        for step in range(total_steps):
            batch = collate_packed(schedule[step * world + rank], device)
            loss = packed_loss(model, batch)
            losses = loss.detach().reshape(1)
            dist.all_reduce(losses)
            mean_loss = float(losses) / world
            if not math.isfinite(mean_loss):
                raise FloatingPointError(f"loss is {mean_loss} at step {step + 1} of {total_steps} (lr {config.lr:g})")
            optimizer_step(loss, trainable, optimizer, scheduler)
            tokens += batch["input_ids"].shape[1] * world
            curve.append([step + 1, mean_loss])
            now = time.monotonic()
            if rank == 0 and (now - last_report >= PROGRESS_EVERY_SECONDS or step + 1 == total_steps):
                last_report = now
                _write_json(output_dir / PROGRESS_FILE, progress_report(
                    step=step + 1, total_steps=total_steps, loss=mean_loss, tokens=tokens, elapsed=now - started
                ))
        seconds = time.monotonic() - started
        # Gathered whole on every process (a collective), kept by the main one.
        state_dict = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        if rank == 0:
            model.save_pretrained(output_dir, state_dict=state_dict)
            result = FinetuneResult(
                adapter_dir=str(output_dir),
                steps=total_steps,
                tokens=tokens,
                seconds=seconds,
                tokens_per_second=tokens / seconds if seconds else 0.0,
                loss_curve=curve,
            ).to_dict()
            _write_json(
                output_dir / TRAINING_RESULT_FILE,
                {**result, "sharding": {"processes": world, "local_parameters": local_parameters,
                                        "parameters": all_parameters}},
            )
        dist.barrier()
    finally:
        dist.destroy_process_group()


def torchrun_start(arguments: list[str], *, log) -> "subprocess.Popen":
    """`torchrun ARGUMENTS`, its output to `log`, dying with the calling process (the worker).

    It gets SIGTERM then, on which torchrun stops its trainers; each trainer
    also dies with torchrun itself (`main`), should torchrun be killed outright.
    """
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", *arguments],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
        preexec_fn=dying_with_this_process(signal.SIGTERM),
    )


def launch(
    *,
    checkpoint_dir,
    examples: list[TrainExample],
    output_dir,
    overrides: dict,
    processes: int,
    progress: Callable[[dict], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
) -> FinetuneResult:
    """Run `sharded_finetune` on `processes` local processes and wait for it.

    Progress is read from the main process's progress file about every
    second; a cancel request terminates the processes (Cancelled), a
    non-finite loss fails like the single-process path (Diverged), any other
    failure raises with the end of the processes' log.
    """
    from training.ml.finetune import Cancelled, Diverged

    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    examples_file = output_dir / "train-examples.jsonl"
    write_examples(examples_file, examples)
    log_path = output_dir / "launch.log"
    arguments = [
        "--standalone", f"--nproc_per_node={processes}",
        "-m", "training.ml.distributed", "--checkpoint", str(checkpoint_dir), "--examples", str(examples_file),
        "--output", str(output_dir), "--config", json.dumps(overrides),
    ]
    with open(log_path, "wb") as log:
        process = torchrun_start(arguments, log=log)
        try:
            while process.poll() is None:
                time.sleep(1.0)
                if should_cancel is not None and should_cancel():
                    raise Cancelled("cancelled during sharded fine-tuning")
                if progress is not None and (output_dir / PROGRESS_FILE).exists():
                    progress(json.loads((output_dir / PROGRESS_FILE).read_text()))
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
    examples_file.unlink()
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-2000:]
        if "FloatingPointError: loss is" in tail:
            raise Diverged(tail.rsplit("FloatingPointError: ", 1)[1].splitlines()[0])
        raise RuntimeError(f"sharded fine-tuning on {processes} processes exited with {process.returncode}:\n{tail}")
    result = json.loads((output_dir / TRAINING_RESULT_FILE).read_text())
    return FinetuneResult(**{key: value for key, value in result.items() if key != "sharding"})


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a local checkpoint directory")
    parser.add_argument("--examples", required=True, help="JSON lines of {prompt, response}")
    parser.add_argument("--output", required=True, help="where the adapter is saved")
    parser.add_argument("--config", default="{}", help="LoRA hyper-parameters as JSON, e.g. '{\"lr\": 2e-5}'")
    args = parser.parse_args(argv)
    die_with_parent()
    sharded_finetune(
        checkpoint_dir=args.checkpoint,
        examples=read_examples(args.examples),
        output_dir=args.output,
        config=LoraConfigValues.from_overrides(json.loads(args.config)),
    )


if __name__ == "__main__":
    main()
