"""The calculator's configuration: URL round trip, bad values, impossible custom models."""
import dataclasses

import pytest

from peft_edu.sizing.config import ALL_LINEAR, DEFAULT, NUMBERS, CalcConfig, parse_query, to_query, validate
from peft_edu.models import preset_names

PRESETS = preset_names()


@pytest.mark.parametrize("config", [
    DEFAULT,
    CalcConfig(model="roberta-base", methods=("lora", "vera"), r=8, vera_r=1024, targets=("q", "v")),
    CalcConfig(model="custom", arch="llama", layers=3, hidden=96, heads=12, kv_heads=4, ffn=256, vocab=1000,
               methods=("full", "qlora", "prefix_tuning"), targets=(ALL_LINEAR,), alpha=0.5, ratio=2.5,
               bits=32, double_quant=False, batch=3, seq=77, checkpointing=True, layer_out=10, layer_in=20, layer_r=3),
    CalcConfig(model="custom", arch="gpt2", layers=2, hidden=64, heads=4, kv_heads=4, ffn=100, vocab=500),
])
def test_url_round_trip(config):
    query = to_query(config)
    assert all(isinstance(v, str) for v in query.values())
    again, messages = parse_query(query, PRESETS)
    assert messages == []
    assert again == config


def test_url_holds_every_field_a_preset_uses():
    query = to_query(DEFAULT)
    fields_in_url = {NUMBERS[k][0] for k in query if k in NUMBERS}
    assert {"r", "alpha", "vera_r", "n_tokens", "bottleneck", "ratio", "batch", "seq"} <= fields_in_url
    assert {"model", "methods", "targets", "bits", "dq", "ckpt"} <= set(query)


def test_empty_url_gives_defaults():
    assert parse_query({}, PRESETS) == (DEFAULT, [])


@pytest.mark.parametrize("key,raw", [
    ("r", "-3"), ("r", "0"), ("r", "abc"), ("r", "1e9"), ("r", ""), ("r", "8.5"),
    ("L", "0"), ("d", "99999999"), ("vocab", "-1"), ("batch", "0"), ("seq", "nan"),
    ("alpha", "nan"), ("alpha", "inf"), ("alpha", "-1"), ("ratio", "zero"),
    ("bits", "8"), ("bits", "x"), ("dq", "maybe"), ("ckpt", "2"),
    ("model", "gpt-5"), ("model", ""), ("arch", "rnn"),
    ("methods", "nonsense"), ("methods", ""), ("targets", "q,zz"), ("targets", ""),
])
def test_bad_url_value_falls_back_with_a_message(key, raw):
    config, messages = parse_query({"model": "custom", key: raw} if key in ("L", "d", "vocab", "arch")
                                   else {key: raw}, PRESETS)
    assert len(messages) == 1, messages
    assert raw in messages[0] or key in messages[0]
    field = NUMBERS[key][0] if key in NUMBERS else {"dq": "double_quant", "ckpt": "checkpointing"}.get(key, key)
    assert getattr(config, field) == getattr(DEFAULT, field)


def test_partly_bad_methods_keep_the_good_ones_in_registry_order():
    config, messages = parse_query({"methods": "qlora,bogus,lora,lora"}, PRESETS)
    assert config.methods == ("lora", "qlora")
    assert "bogus" in messages[0]


def test_repeated_keys_use_the_last_value_as_streamlit_does():
    config, _ = parse_query({"r": ["4", "16"]}, PRESETS)
    assert config.r == 16


def test_all_linear_and_target_order():
    assert parse_query({"targets": "all"}, PRESETS)[0].targets == (ALL_LINEAR,)
    assert parse_query({"targets": "v,q,mlp"}, PRESETS)[0].targets == ("q", "v", "mlp")


def test_unknown_keys_are_ignored():
    assert parse_query({"utm_source": "mail", "embed": "true"}, PRESETS) == (DEFAULT, [])


def test_heads_must_divide_hidden_size():
    config, messages = validate(CalcConfig(model="custom", hidden=1000, heads=7, kv_heads=7))
    assert 1000 % config.heads == 0 and (1000 // config.heads) % 2 == 0 and config.heads == 5
    assert "not divisible" in messages[0]


def test_kv_heads_must_divide_heads():
    config, messages = validate(CalcConfig(model="custom", hidden=768, heads=12, kv_heads=5))
    assert config.kv_heads == 12 and "key/value heads" in messages[0]
    gqa, messages = validate(CalcConfig(model="custom", hidden=768, heads=12, kv_heads=4))
    assert gqa.kv_heads == 4 and messages == []


def test_only_llama_style_has_grouped_query_attention():
    config, _ = validate(CalcConfig(model="custom", arch="bert", hidden=768, heads=12, kv_heads=4))
    assert config.kv_heads == 12


def test_presets_are_not_checked_against_custom_dimensions():
    config = dataclasses.replace(DEFAULT, hidden=1000, heads=7)  # custom fields unused for a preset
    assert validate(config) == (config, [])
