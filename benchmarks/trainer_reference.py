"""The script a user would write instead of the lab: Hugging Face peft + transformers.Trainer.

    python benchmarks/trainer_reference.py [--seed 0] [--threads 2]

LoRA from ``peft.get_peft_model(LoraConfig(r, alpha, target query,value, task SEQ_CLS))`` on
all-MiniLM-L6-v2, trained by ``transformers.Trainer`` on the shipped "Did City win?" data with
the lab's LoRA defaults (batch, learning rate, steps, max_length, the model's dropout —
what a user gets from ``from_pretrained(..., hidden_dropout_prob=p,
attention_probs_dropout_prob=p, classifier_dropout=p)``; constant rate, no weight decay, as the
lab's AdamW), evaluating the whole test split every ``eval_every`` steps (what a user who
wants a curve writes). A callback records the wall time at which the eval accuracy first
reached 90 %; training stops there (the rest of the run cannot change it).
The clock starts where the lab's ``train()`` starts: before the model copy and
``get_peft_model``; the texts are tokenised before it (the lab's are cached too).
``benchmarks/bench_lab.py`` calls ``time_to_target`` and prints the ratio to the lab's.
"""
from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

TARGET = 0.90


class TextDataset(torch.utils.data.Dataset):
    """Tokenised once; the Trainer's default collator pads each batch to its longest text."""

    def __init__(self, tokenizer, split, max_length: int) -> None:
        self.enc = tokenizer(list(split.texts), truncation=True, max_length=max_length)
        self.labels = list(split.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.enc.items()}, "labels": self.labels[i]}


def with_dropout(model: torch.nn.Module, p: float) -> torch.nn.Module:
    """``model`` with every dropout layer at ``p``: the same model ``from_pretrained`` builds when the
    config's hidden, attention and classifier dropout are all ``p`` (BERT reads each from its layer)."""
    for layer in model.modules():
        if isinstance(layer, torch.nn.Dropout):
            layer.p = p
    return model


def time_to_target(base, tokenizer, train_set, test_set, *, r: int, alpha: float, lr: float, batch: int,
                   steps: int, eval_every: int, max_length: int, model_dropout: float, seed: int = 0,
                   target: float = TARGET) -> dict:
    """{"seconds": wall s to the first eval >= target (None if never), "step", "accuracy", "threads"}."""
    from peft import LoraConfig, get_peft_model
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    train_data = TextDataset(tokenizer, train_set, max_length)
    test_data = TextDataset(tokenizer, test_set, max_length)
    found = {"seconds": None, "step": None, "accuracy": None, "threads": torch.get_num_threads()}

    class FirstToTarget(TrainerCallback):
        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            found["accuracy"] = metrics["eval_accuracy"]
            if found["seconds"] is None and metrics["eval_accuracy"] >= target:
                found["seconds"], found["step"] = time.perf_counter() - t0, state.global_step
                control.should_training_stop = True

    def compute_metrics(pred):
        return {"accuracy": float((np.argmax(pred.predictions, -1) == pred.label_ids).mean())}

    t0 = time.perf_counter()
    lora = LoraConfig(task_type="SEQ_CLS", r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=["query", "value"])
    model = get_peft_model(with_dropout(copy.deepcopy(base), model_dropout), lora)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=batch, per_device_eval_batch_size=64,
                                 learning_rate=lr, weight_decay=0.0, lr_scheduler_type="constant",
                                 max_steps=steps, eval_strategy="steps", eval_steps=eval_every,
                                 save_strategy="no", logging_strategy="no", report_to=[], use_cpu=True,
                                 dataloader_num_workers=0, seed=seed, disable_tqdm=True)
        trainer = Trainer(model=model, args=args, train_dataset=train_data, eval_dataset=test_data,
                          data_collator=DataCollatorWithPadding(tokenizer), compute_metrics=compute_metrics,
                          callbacks=[FirstToTarget()])
        trainer.train()
    found["threads"] = torch.get_num_threads()  # what the Trainer left set
    return found


def main() -> None:
    from peft_edu.lab.data import load_builtin
    from peft_edu.lab.run_config import defaults
    from peft_edu.models import load_pretrained

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train_set, test_set = load_builtin()
    base, tok = load_pretrained(len(train_set.label_names), seed=0)
    cfg = defaults("lora")
    found = time_to_target(base, tok, train_set, test_set, r=cfg.config.r, alpha=cfg.config.alpha, lr=cfg.lr,
                           batch=cfg.batch_size, steps=cfg.steps, eval_every=cfg.eval_every,
                           max_length=cfg.max_length, model_dropout=cfg.model_dropout, seed=args.seed)
    print(found)


if __name__ == "__main__":
    main()
