"""Command line: ``python -m peft_edu count --model roberta-base --method lora --r 8 --targets query,value``.

Prints the counts as JSON (trainable, total, percent, ...). Bad input prints one clear
line to stderr and exits with status 2.
"""
from __future__ import annotations

import argparse
import json
import sys


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m peft_edu", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    c = commands.add_parser("count", help="trainable and total parameters of a whole model")
    c.add_argument("--model", required=True, help="preset name, e.g. roberta-base, Llama-2-7B")
    c.add_argument("--method", required=True, help="method key, e.g. lora, dora, vera, full")
    c.add_argument("--r", type=int, help="rank (LoRA family, VeRA)")
    c.add_argument("--alpha", type=float, help="LoRA alpha")
    c.add_argument("--targets", help="comma-separated module names, or all-linear")
    c.add_argument("--task", choices=("seq_cls", "causal_lm", "base"), help="model head")
    c.add_argument("--no-head", action="store_true", help="keep the task head frozen")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any other Config field of the method, e.g. --set n_tokens=20")
    return parser


def _value(text: str):
    """'20' -> 20, '0.1' -> 0.1, 'true' -> True, anything else stays a string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _config(args: argparse.Namespace) -> dict:
    config = {k: v for k, v in (("r", args.r), ("alpha", args.alpha)) if v is not None}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        config[key.strip()] = _value(value.strip())
    if args.targets is not None:
        config["targets"] = args.targets
    if args.no_head:
        config["train_head"] = False
    return config


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)  # argparse itself exits with 2 on bad syntax
    from peft_edu.counting import count

    try:
        result = count(args.model, args.method, task=args.task, **_config(args))
    except (ValueError, TypeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
