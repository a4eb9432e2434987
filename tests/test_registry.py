"""The registry is complete: twelve methods, unique keys, every field filled."""
import dataclasses
import re

import pytest

from peft_edu import METHODS, MethodSpec, get_method

EXPECTED = {
    "full", "lora", "lora_fa", "vera", "delta_lora", "lora_plus", "dora", "qlora",
    "prompt_tuning", "prefix_tuning", "adapter", "ia3",
}


def test_all_twelve_methods_present():
    assert set(METHODS) == EXPECTED
    assert len(METHODS) == 12


def test_keys_match_specs_and_names_unique():
    assert all(key == spec.key for key, spec in METHODS.items())
    names = [spec.name for spec in METHODS.values()]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_every_field_filled(key):
    spec = METHODS[key]
    for field in dataclasses.fields(MethodSpec):
        value = getattr(spec, field.name)
        if field.name in {"hf_peft_type", "size_knob"}:
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
