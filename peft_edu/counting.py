"""Trainable and total parameters of whole models, from their configs, without weights.

``count("Llama-2-70B", "lora", r=8)`` builds the model on the ``meta`` device (tensors
with shapes but no storage), applies the real method with ``peft_edu.apply`` and counts
``requires_grad`` parameters: the numbers come from the same modules that train.

Speed: all blocks of these transformers are identical, so every count is an affine
function of the depth L: c(L) = c(1) + (L - 1) · (c(2) - c(1)). ``count`` builds the
model at depths 1 and 2 (milliseconds even for a 70B config) and extrapolates exactly;
``full_depth=True`` builds all L blocks instead (the tests check both agree). Results are
cached, so a page that reruns with the same settings pays nothing.
"""
from __future__ import annotations

import copy
import json
from functools import lru_cache

from torch import nn

from peft_edu.inject import apply, make_config, total_parameters, trainable_parameters
from peft_edu.models import build_model, hf_config, preset

KEYS = ("trainable", "total", "base_total", "head_params", "head_trainable", "adapted_layers")


def count(model_name_or_config, method: str, *, task: str | None = None, targets=None,
          train_head: bool | None = None, full_depth: bool = False, **config) -> dict:
    """Counts for ``method`` on a whole model.

    ``model_name_or_config``: a preset name (``peft_edu.models.preset_names()``), a dict of
    Hugging Face config fields with ``model_type``, or a transformers config. ``task``:
    "seq_cls" | "causal_lm" | "base" (default: the preset's, else "seq_cls" for encoders and
    "causal_lm" for decoders). ``targets``, ``train_head`` and ``**config`` as in ``apply``.

    Returns a dict: trainable, total, percent (100 · trainable / total, as peft prints it),
    base_total (the model before the method), head_params (parameters of the task head;
    a head tied to the embeddings adds none), head_trainable, trainable_without_head (what
    papers report), adapted_layers, n_layers, task, model, method.
    """
    make_config(method, **config)  # validate early, with the method's own error messages
    fields, task = _fields_and_task(model_name_or_config, task)
    if isinstance(targets, list):
        targets = tuple(targets)
    key = (json.dumps(fields, sort_keys=True), task, method, targets, train_head,
           tuple(sorted(config.items())))
    counts = _count_full(*key) if full_depth else _count_extrapolated(*key)
    return _report(dict(zip(KEYS, counts)), fields, task, model_name_or_config, method)


def _fields_and_task(model_name_or_config, task: str | None) -> tuple[dict, str]:
    from transformers import PretrainedConfig

    if isinstance(model_name_or_config, str):
        spec = preset(model_name_or_config)
        return spec["config"], task or spec["task"]
    if isinstance(model_name_or_config, PretrainedConfig):
        fields = model_name_or_config.to_dict()
    elif isinstance(model_name_or_config, dict):
        fields = dict(model_name_or_config.get("config", model_name_or_config))
    else:
        raise ValueError("model must be a preset name, a config dict or a transformers config, "
                         f"got {type(model_name_or_config).__name__}")
    decoder = fields.get("model_type") in ("gpt2", "llama", "mistral")
    return fields, task or ("causal_lm" if decoder else "seq_cls")


def _report(c: dict, fields: dict, task: str, model, method: str) -> dict:
    c["percent"] = 100.0 * c["trainable"] / c["total"]
    c["trainable_without_head"] = c["trainable"] - c["head_trainable"]
    c["n_layers"] = hf_config(fields).num_hidden_layers
    c.update(task=task, model=model if isinstance(model, str) else fields.get("model_type"),
             method=method)
    return c


@lru_cache(maxsize=4096)
def _count_extrapolated(fields_json, task, method, targets, train_head, config_items) -> tuple:
    n_layers = hf_config(json.loads(fields_json)).num_hidden_layers
    c1 = _count_full(fields_json, task, method, targets, train_head, config_items, depth=1)
    if n_layers == 1:
        return c1
    c2 = _count_full(fields_json, task, method, targets, train_head, config_items, depth=2)
    return tuple(a + (n_layers - 1) * (b - a) for a, b in zip(c1, c2))


@lru_cache(maxsize=4096)
def _count_full(fields_json, task, method, targets, train_head, config_items, depth=None) -> tuple:
    """(trainable, total, base_total, head_params, head_trainable, adapted_layers) at ``depth``."""
    model = copy.deepcopy(_meta_model(fields_json, task, depth))  # the cached skeleton stays clean
    base_total = total_parameters(model)
    apply(model, method, targets=targets, train_head=train_head, **dict(config_items))
    head, head_trainable = _head_counts(model)
    adapted = len(model.peft_edu_applied.arch.targets)
    return (trainable_parameters(model), total_parameters(model), base_total, head,
            head_trainable, adapted)


@lru_cache(maxsize=64)
def _meta_model(fields_json: str, task: str, depth: int | None) -> nn.Module:
    """The base model on the meta device (no storage), at ``depth`` blocks if given."""
    config = hf_config(json.loads(fields_json))
    if depth is not None:
        config.num_hidden_layers = depth
    return build_model(config, task, meta=True)


def _head_counts(model: nn.Module) -> tuple[int, int]:
    """(parameters of the head, those of them trainable); tied parameters belong to the body."""
    heads = model.peft_edu_applied.arch.head
    in_head = {name for h in heads for name, _ in model.get_submodule(h).named_parameters(prefix=h)}
    body_ids = {id(p) for name, p in model.named_parameters(remove_duplicate=False) if name not in in_head}
    params = {id(p): p for h in heads for p in model.get_submodule(h).parameters() if id(p) not in body_ids}
    return (sum(p.numel() for p in params.values()),
            sum(p.numel() for p in params.values() if p.requires_grad))
