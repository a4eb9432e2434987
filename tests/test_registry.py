"""The registry is complete: every method the app teaches, unique keys, every field filled."""
import dataclasses
import re

import pytest

from peft_edu import METHODS, MethodSpec, get_method

EXPECTED = {
    "full", "lora", "lora_fa", "vera", "delta_lora", "lora_plus", "dora", "qlora",
    "prompt_tuning", "prefix_tuning", "adapter", "ia3",
    "rslora", "pissa", "bitfit", "ln_tuning",  # wave 2 (issue 12)
    "adalora", "galore", "relora", "lokr", "oft",
}


def test_all_methods_present():
    assert set(METHODS) == EXPECTED


def test_keys_match_specs_and_names_unique():
    assert all(key == spec.key for key, spec in METHODS.items())
    names = [spec.name for spec in METHODS.values()]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_method_has_a_module_following_the_protocol(key):
    from peft_edu.methods import protocol

    spec = protocol(key)
    for name in ("Config", "layer_params", "inject", "USES_TARGETS", "LAB", "watch"):  # required
        assert hasattr(spec.module, name), f"{key} lacks {name}"
    spec.config()  # the paper's defaults construct
    assert isinstance(spec.lab.config, spec.Config) and isinstance(spec.lesson.config, spec.Config)
    assert spec.lab.lr > 0 and spec.lab.steps >= 1
    assert spec.module.__doc__ and get_method(key).arxiv in spec.module.__doc__  # names its paper


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_field_filled(key):
    spec = METHODS[key]
    for field in dataclasses.fields(MethodSpec):
        value = getattr(spec, field.name)
        if field.name in {"hf_peft_type", "size_knob", "calculator_note"}:
            continue  # legitimately empty for some methods
        assert value not in ("", (), None), f"{key}.{field.name} is empty"
    assert 2017 <= spec.year <= 2025
    assert re.fullmatch(r"\d{4}\.\d{5}", spec.arxiv), spec.arxiv
    assert len(spec.idea) > 150, "the idea should be a real paragraph"


def test_related_keys_exist():
    for spec in METHODS.values():
        for other in spec.related:
            assert other in METHODS and other != spec.key


def test_peft_types_match_hugging_face_peft():
    """Methods we export in PEFT's format name a peft_type that peft really has."""
    from peft import PeftType

    for spec in METHODS.values():
        if spec.hf_peft_type is not None:
            assert spec.hf_peft_type in PeftType.__members__


def test_unknown_method_lists_choices():
    with pytest.raises(ValueError, match="lora_fa"):
        get_method("loraa")
