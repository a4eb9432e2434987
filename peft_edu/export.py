"""Save and load adapters in Hugging Face PEFT's on-disk format.

``save_adapter(model, dir)`` writes two files, as ``PeftModel.save_pretrained`` does:

- ``adapter_config.json``: peft's config (``peft_type``, ``task_type``,
  ``base_model_name_or_path``, the method's knobs, ``target_modules`` as full module names,
  ``modules_to_save`` for a trained classifier head).
- ``adapter_model.safetensors``: the tensors, named as peft names them (no adapter name):

  ========================  ===============================================================
  LoRA, LoRA-FA, LoRA+,     ``base_model.model.<module>.lora_A.weight`` (r, d_in),
  QLoRA (as plain LoRA)     ``base_model.model.<module>.lora_B.weight`` (d_out, r)
  DoRA                      LoRA's + ``<module>.lora_magnitude_vector`` (d_out,), ``use_dora``
  VeRA                      ``<module>.vera_lambda_b`` (d_out,), ``<module>.vera_lambda_d`` (r,),
                            once: ``base_model.vera_A`` (r, d_in max), ``base_model.vera_B``
  (IA)³                     ``<module>.ia3_l``: (d_out, 1) for k, v; (1, d_in) for the FFN
  prompt / prefix tuning    ``prompt_embeddings``: P (n, d); prefix: (n, L·2·d), per token
                            [layer 0 keys, layer 0 values, layer 1 keys, ...]
  classifier head           ``base_model.model.<head>.weight`` / ``.bias`` (prompt and prefix
                            tuning: ``base_model.<head>.*``, as peft writes them)
  ========================  ===============================================================

Our own format, for the methods peft does not have — same two files:

- ``adapter_config.json``: ``{"peft_type": "PEFT_EDU", "format_version": 1, "method": key,
  "config": {the method's Config fields}, "targets": [...], "train_head": bool,
  "base_model_name_or_path": ...}``
- Houlsby ``adapter``: every trainable tensor under its peft_edu name
  (``<module>.adapter.W_down`` (m, d), ``.b_down`` (m,), ``.W_up`` (d, m), ``.b_up`` (d,),
  the trained layer norms and the head).
- ``delta_lora``: merged weights — ``<module>.weight`` = W + (alpha/r) B A, (d_out, d_in)
  like nn.Linear for every adapted layer (W has moved during training, so the file must
  hold it), plus the head. Loading it into a plain model gives a plain model.

Every file also carries, in its safetensors metadata, ``peft_edu_method`` and
``peft_edu_config`` (JSON), so ``load_adapter`` restores exactly our method (LoRA-FA, LoRA+
and QLoRA are all "LORA" to peft). peft ignores that metadata. No pickle anywhere.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from peft_edu.inject import applied, apply
from peft_edu.methods.dora import DoRALinear
from peft_edu.methods.ia3 import IA3
from peft_edu.methods.layers import base_weight
from peft_edu.methods.lora import LoRALinear
from peft_edu.methods.vera import VeRALinear
from peft_edu.registry import get_method

CONFIG, WEIGHTS = "adapter_config.json", "adapter_model.safetensors"
TASK_TYPES = {"seq_cls": "SEQ_CLS", "causal_lm": "CAUSAL_LM", "base": "FEATURE_EXTRACTION"}
OWN_FORMAT = ("adapter", "delta_lora")  # no peft form: our documented format
MODEL = "base_model.model."  # peft's prefix for tensors inside the wrapped model


# ---------------------------------------------------------------- public API
def save_adapter(model: nn.Module, directory: str | Path) -> Path:
    """Write ``model``'s adapter to ``directory`` (created if missing); returns the path."""
    info = applied(model)
    if info is None:
        raise ValueError("no method applied to this model; call peft_edu.apply first")
    if info.method == "full":
        raise ValueError("full fine-tuning has no adapter: save the whole model with save_pretrained")
    if info.method in OWN_FORMAT:
        config, tensors = own_config(model, info), own_tensors(model, info)
    else:
        config, tensors = peft_config(model, info), peft_tensors(model, info)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    metadata = {"format": "pt", "peft_edu_method": info.method, "peft_edu_config": json.dumps(recipe(info))}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(tensors, str(directory / WEIGHTS), metadata=metadata)
    return directory


def load_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """Load an adapter written by ``save_adapter`` (or by peft) into ``model``; returns it.

    A model with no method applied gets the file's method applied first (same config and
    targets); a model that already has one must have the file's method.
    """
    config, tensors, metadata = read_files(Path(directory))
    method, options = method_of(config, metadata, tensors)
    info = applied(model)
    if info is None:
        if method == "delta_lora":  # merged weights: the plain model is the result
            return load_merged(model, tensors)
        apply(model, method, **options)
    elif not compatible(info.method, method):
        raise ValueError(f"the adapter in {directory} is {method!r} but this model has {info.method!r} applied")
    if method == "delta_lora":
        return load_merged(model, tensors)
    if method in OWN_FORMAT:
        copy_into(model, tensors, own_tensors(model, applied(model)))
    else:
        load_peft(model, tensors)
    return model


# ---------------------------------------------------------------- files
def read_files(directory: Path) -> tuple[dict, dict[str, torch.Tensor], dict]:
    for name in (CONFIG, WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} not found: an adapter directory holds {CONFIG} and {WEIGHTS}")
    config = json.loads((directory / CONFIG).read_text())
    with safe_open(str(directory / WEIGHTS), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata() or {}
    return config, tensors, metadata


def recipe(info) -> dict:
    """What ``apply`` needs to rebuild this adapter: config fields, targets, train_head."""
    return {**dataclasses.asdict(info.config), "targets": list(info.arch.targets) or None,
            "train_head": info.train_head}


def compatible(have: str, want: str) -> bool:
    """LoRA-FA, LoRA+ and plain LoRA share one layer and one file format."""
    lora_like = {"lora", "lora_fa", "lora_plus"}
    return have == want or (have in lora_like and want in lora_like)


def method_of(config: dict, metadata: dict, tensors: dict) -> tuple[str, dict]:
    """(method key, apply() options) from our metadata, or from a peft config."""
    if "peft_edu_method" in metadata:
        return metadata["peft_edu_method"], json.loads(metadata["peft_edu_config"])
    kind = config.get("peft_type")
    heads = sorted({k.split(".")[-2] for k in tensors if k.endswith(("classifier.weight", "score.weight"))})
    common = {"train_head": bool(heads)}
    if kind == "LORA":
        options = {"r": config["r"], "alpha": float(config["lora_alpha"]), "dropout": config.get("lora_dropout", 0.0),
                   "use_rslora": config.get("use_rslora", False), "targets": modules_with(tensors, ".lora_A.weight")}
        return ("dora" if config.get("use_dora") else "lora"), {**options, **common}
    if kind == "VERA":
        return "vera", {"r": config["r"], "d_initial": config.get("d_initial", 0.1),
                        "projection_seed": config.get("projection_prng_key", 0),
                        "dropout": config.get("vera_dropout", 0.0),
                        "targets": modules_with(tensors, ".vera_lambda_b"), **common}
    if kind in ("PROMPT_TUNING", "PREFIX_TUNING"):
        if config.get("prefix_projection"):
            raise ValueError("prefix tuning with prefix_projection=True (an MLP) is not supported; use False")
        return kind.lower(), {"n_tokens": config["num_virtual_tokens"], **common}
    if kind == "IA3":
        return "ia3", common
    raise ValueError(f"unsupported peft_type {kind!r}; supported: LORA, VERA, IA3, PROMPT_TUNING, "
                     "PREFIX_TUNING and peft_edu's own PEFT_EDU")


def modules_with(tensors: dict, suffix: str) -> list[str]:
    return [k[len(MODEL):-len(suffix)] for k in tensors if k.startswith(MODEL) and k.endswith(suffix)]


def copy_into(model: nn.Module, source: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
    """Copy every file tensor into the model tensor of the same key; all keys must match."""
    missing, extra = sorted(set(targets) - set(source)), sorted(set(source) - set(targets))
    if missing or extra:
        raise ValueError(f"adapter does not fit this model: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, target in targets.items():
        if source[key].shape != target.shape:
            raise ValueError(f"shape mismatch for {key}: file {tuple(source[key].shape)}, model {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(source[key])


# ---------------------------------------------------------------- our own format
def own_config(model: nn.Module, info) -> dict:
    return {"peft_type": "PEFT_EDU", "format_version": 1, "method": info.method,
            "config": dataclasses.asdict(info.config), "targets": list(info.arch.targets),
            "train_head": info.train_head, "base_model_name_or_path": name_or_path(model)}


def own_tensors(model: nn.Module, info) -> dict[str, torch.Tensor]:
    """Houlsby: every trainable tensor by name. Delta-LoRA: merged W of each adapted layer + head."""
    if info.method == "adapter":
        return {name: p for name, p in model.named_parameters() if p.requires_grad}
    tensors = {f"{name}.weight": base_weight(m.base) + m.delta_weight()
               for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    return {**tensors, **head_tensors(model, info, "")}


def load_merged(model: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """Delta-LoRA file: each adapted layer's W <- merged W (and B <- 0 where LoRA is attached)."""
    for key, value in tensors.items():
        name, leaf = key.rsplit(".", 1)
        module = model.get_submodule(name)
        if isinstance(module, LoRALinear):  # delta_lora applied: merged W in base, B A = 0
            target = base_weight(module.base)
            with torch.no_grad():
                module.B.zero_()
                getattr(module, "B_prev", module.B).zero_()
        else:  # a plain layer, or the head: (d_out, d_in) view of W, or the bias
            target = base_weight(module) if leaf == "weight" else getattr(module, leaf)
        copy_into(model, {key: value}, {key: target})
    return model


def name_or_path(model: nn.Module) -> str | None:
    return getattr(model, "name_or_path", None) or None


# ---------------------------------------------------------------- peft's format
def peft_config(model: nn.Module, info) -> dict:
    """adapter_config.json as peft 0.21 reads it (unset keys take peft's defaults)."""
    cfg, arch = info.config, info.arch
    config = {"peft_type": get_method(info.method).hf_peft_type, "task_type": TASK_TYPES.get(arch.task),
              "base_model_name_or_path": name_or_path(model), "revision": None, "inference_mode": True,
              "modules_to_save": list(arch.head) if info.train_head else None}
    if config["peft_type"] in ("LORA", "VERA", "IA3"):
        config.update(target_modules=list(arch.targets), fan_in_fan_out=arch.fan_in_fan_out)
    if config["peft_type"] in ("LORA", "VERA"):  # IA3Config has no bias field
        config.update(bias="none")
    if config["peft_type"] == "LORA":
        config.update(r=cfg.r, lora_alpha=cfg.alpha, lora_dropout=cfg.dropout, use_rslora=cfg.use_rslora,
                      use_dora=info.method == "dora", init_lora_weights=True)
    elif config["peft_type"] == "VERA":
        config.update(r=cfg.r, d_initial=cfg.d_initial, projection_prng_key=cfg.projection_seed,
                      save_projection=True, vera_dropout=cfg.dropout)
    elif config["peft_type"] == "IA3":
        layers = {name: m for name, m in model.named_modules() if isinstance(m, IA3)}
        config.update(target_modules=list(layers), init_ia3_weights=True,
                      feedforward_modules=[name for name, m in layers.items() if m.side == "in"])
    else:  # prompt learning: peft needs the model's shape to rebuild its prompt encoder
        config.update(num_virtual_tokens=cfg.n_tokens, num_layers=arch.n_layers, token_dim=arch.d_model,
                      num_attention_heads=arch.n_heads, num_transformer_submodules=1)
    if config["peft_type"] == "PROMPT_TUNING":
        config.update(prompt_tuning_init="RANDOM")
    elif config["peft_type"] == "PREFIX_TUNING":  # keys/values: n_kv_heads under grouped-query attention
        config.update(prefix_projection=False, encoder_hidden_size=arch.d_model,
                      num_attention_heads=model.prefix.n_heads, token_dim=model.prefix.n_heads * model.prefix.head_dim)
    return config


def peft_tensors(model: nn.Module, info) -> dict[str, torch.Tensor]:
    """Every tensor under peft's key (see the table in the module docstring)."""
    tensors = {}
    for name, m in model.named_modules():
        key = MODEL + name
        if isinstance(m, LoRALinear):  # LoRA, LoRA-FA, LoRA+, QLoRA, DoRA
            tensors.update({f"{key}.lora_A.weight": m.A, f"{key}.lora_B.weight": m.B})
            if isinstance(m, DoRALinear):
                tensors[f"{key}.lora_magnitude_vector"] = m.m
        elif isinstance(m, VeRALinear):
            tensors.update({f"{key}.vera_lambda_b": m.b, f"{key}.vera_lambda_d": m.d})
        elif isinstance(m, IA3):  # a column (d_out, 1) scales outputs, a row (1, d_in) inputs
            tensors[f"{key}.ia3_l"] = m.scale().view((-1, 1) if m.side == "out" else (1, -1))
    if hasattr(model, "vera_shared"):
        tensors.update({"base_model.vera_A": model.vera_shared.vera_A, "base_model.vera_B": model.vera_shared.vera_B})
    if hasattr(model, "soft_prompt"):
        tensors["prompt_embeddings"] = model.soft_prompt.P  # (n, d)
    if hasattr(model, "prefix"):  # (L, n, d) twice -> (n, L·2·d): per token, layer by layer, keys then values
        P = torch.stack([model.prefix.P_k, model.prefix.P_v], dim=1)  # (L, 2, n, d)
        tensors["prompt_embeddings"] = P.permute(2, 0, 1, 3).reshape(P.shape[2], -1)
    prompt_learning = hasattr(model, "soft_prompt") or hasattr(model, "prefix")
    return {**tensors, **head_tensors(model, info, "base_model." if prompt_learning else MODEL)}


def head_tensors(model: nn.Module, info, prefix: str) -> dict[str, torch.Tensor]:
    """The trained task head (peft's modules_to_save), or nothing when it stayed frozen."""
    if not info.train_head:
        return {}
    return {f"{prefix}{head}.{n}": p for head in info.arch.head
            for n, p in model.get_submodule(head).named_parameters()}


SUFFIXES = {".lora_A.weight": ".A", ".lora_B.weight": ".B", ".lora_magnitude_vector": ".m",
            ".vera_lambda_b": ".b", ".vera_lambda_d": ".d", ".ia3_l": ".l"}


def to_ours(model: nn.Module, key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """A peft tensor as peft_edu's tensor(s): {parameter or buffer name: value}."""
    if key == "prompt_embeddings" and hasattr(model, "prefix"):
        n = value.shape[0]
        P = value.reshape(n, -1, 2, model.prefix.P_k.shape[-1]).permute(1, 2, 0, 3)  # (L, 2, n, d)
        return {"prefix.P_k": P[:, 0], "prefix.P_v": P[:, 1]}
    if key == "prompt_embeddings":
        return {"soft_prompt.P": value}
    if key.startswith("base_model.vera_"):
        return {"vera_shared." + key.rsplit(".", 1)[1]: value}
    name = key.removeprefix(MODEL).removeprefix("base_model.")
    for theirs, mine in SUFFIXES.items():
        if name.endswith(theirs):
            module = name[: -len(theirs)]
            if theirs == ".ia3_l":
                value = ia3_vector(model, module, value)
            return {module + mine: value}
    return {name: value}  # the head: <head>.weight / <head>.bias


def ia3_vector(model: nn.Module, name: str, value: torch.Tensor) -> torch.Tensor:
    """peft's ia3_l as our l: GPT-2's c_attn vector also covers the queries, which must be 1."""
    layer = dict(model.named_modules()).get(name)
    if not isinstance(layer, IA3):
        raise ValueError(f"this (IA)³ adapter scales {name}, which peft_edu's (IA)³ (the paper's "
                         "keys, values and FFN inputs) does not")
    value = value.flatten()
    if layer.skip and not torch.all(value[: layer.skip] == 1):
        raise ValueError(f"this (IA)³ adapter scales the queries of {name}; peft_edu's scales keys and values only")
    return value[layer.skip:]


def tensor_named(model: nn.Module, name: str) -> torch.Tensor:
    try:
        return model.get_parameter(name)
    except AttributeError:
        return model.get_buffer(name)


def load_peft(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy a peft-format state dict into the model's adapter, checking keys and shapes."""
    source, expected = {}, {}
    for key, value in tensors.items():
        source.update(to_ours(model, key, value))
    for key, value in peft_tensors(model, applied(model)).items():
        expected.update(to_ours(model, key, value))
    copy_into(model, source, {name: tensor_named(model, name) for name in expected})
