"""``python -m peft_edu count``: JSON on stdout, one clear error line and status 2 on bad input."""
import json
import subprocess
import sys

import pytest

from peft_edu.__main__ import main
from tests.conftest import ROOT


def run(capsys, *argv) -> tuple[int, dict | None, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, (json.loads(out) if status == 0 else None), err


def test_the_issue_example_as_a_real_process():
    command = [sys.executable, "-m", "peft_edu", "count", "--model", "roberta-base", "--method", "lora",
               "--r", "8", "--targets", "query,value"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["trainable_without_head"] == 294_912  # LoRA paper: 0.3M
    assert result["trainable"] == 887_042  # + the trained head 592,130 = 768·768 + 768 + 768·2 + 2
    # RoBERTa-base's published 124,645,632 less its pooler (768·768 + 768 = 590,592, not in the
    # classification model), plus the head 592,130, plus LoRA's 294,912
    assert result["total"] == 124_942_082
    assert result["percent"] == pytest.approx(0.70996, abs=1e-5)  # 100 · 887,042 / 124,942,082
    assert {"trainable", "total", "percent"} <= set(result)


def test_options(capsys):
    status, result, _ = run(capsys, "count", "--model", "GPT-3-175B", "--method", "lora", "--r", "8", "--targets", "c_attn")
    assert status == 0 and result["trainable"] == 37_748_736
    status, result, _ = run(capsys, "count", "--model", "roberta-base", "--method", "lora", "--r", "8", "--no-head")
    assert result["trainable"] == 294_912 and result["head_trainable"] == 0
    status, result, _ = run(capsys, "count", "--model", "gpt2", "--method", "prompt_tuning", "--set", "n_tokens=20")
    assert result["trainable"] == 20 * 768


@pytest.mark.parametrize("argv, message", [
    (["--model", "gpt-5", "--method", "lora"], "unknown model preset 'gpt-5'; choose one of:"),
    (["--model", "gpt2", "--method", "loraa"], "unknown method 'loraa'; choose one of: full, lora"),
    (["--model", "gpt2", "--method", "lora", "--r", "0"], "r must be an integer >= 1, got 0"),
    (["--model", "gpt2", "--method", "lora", "--targets", "query"], "the linear layers are: attn.c_attn"),
    (["--model", "gpt2", "--method", "lora", "--set", "n_tokens"], "--set expects KEY=VALUE"),
])
def test_bad_input_is_one_clear_line(capsys, argv, message):
    status, _, err = run(capsys, "count", *argv)
    assert status == 2 and err.startswith("error: ") and message in err and "Traceback" not in err
