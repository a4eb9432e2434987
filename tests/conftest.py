"""Shared test set-up: repo root on sys.path, offline Hugging Face, the real MiniLM once.

Tiny models and data live in tests/tiny.py, reference values in tests/reference.py and the
live-server helpers in tests/server.py; test modules import from those, never from each other.
"""
import os
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("PEFT_LAB_WARM_UP", "0")  # pages are measured cold; ui/warm.py has its own test
# the app's store (peft_edu/store): a throwaway data folder, never the repo's data/
os.environ.setdefault("PEFT_LAB_DATA", tempfile.mkdtemp(prefix="peft-lab-test-data-"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.chdir(ROOT)  # AppTest and asset paths are relative to the repo root


@pytest.fixture(scope="session")
def minilm():
    """The real all-MiniLM-L6-v2 with a 2-label head (seed 0), loaded once; tests deepcopy it
    before applying a method. (test_peft_equivalence and test_lora_peft keep their own
    ``minilm`` fixture, which also tokenizes inputs.)"""
    from peft_edu.models import load_pretrained

    return load_pretrained(num_labels=2, seed=0)[0]
