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
  PiSSA                     LoRA's, with ``init_lora_weights`` "pissa" (peft redoes the SVD of
                            the unmodified base); ``methods.pissa.as_lora``: plain rank-2r LoRA
  LN tuning                 ``<norm>.ln_tuning_layers.weight`` / ``.bias`` (d,) (peft's LN_TUNING)
  LoKr                      ``<module>.lokr_w1`` C (u1, v1) or ``.lokr_w1_a`` / ``_b``, and
                            ``.lokr_w2`` D (u2, v2) or ``.lokr_w2_a`` (u2, r) / ``.lokr_w2_b`` (r, v2)
  OFT                       ``<module>.oft_R.weight`` (n or 1, b(b−1)/2): −S's upper entries
                            (peft's exact Cayley is (I − Q)(I + Q)⁻¹), ``use_cayley_neumann`` false
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
- ``bitfit``: every trained bias under its model name (``<module>.bias`` (d_out,), the
  norms' ``<norm>.bias`` (d,)) plus the head.
- ``delta_lora``: merged weights — ``<module>.weight`` = W + (alpha/r) B A, (d_out, d_in)
  like nn.Linear for every adapted layer (W has moved during training, so the file must
  hold it), plus the head. Loading it into a plain model gives a plain model.

Every file also carries, in its safetensors metadata, ``peft_edu_method`` and
``peft_edu_config`` (JSON), so ``load_adapter`` restores exactly our method (LoRA-FA, LoRA+
and QLoRA are all "LORA" to peft). peft ignores that metadata. No pickle anywhere.

Nothing here knows a method: each method module says how it is saved (``SAVED_AS``), its
tensors' peft names (``PEFT_NAMES``), its config keys and the few tensors peft lays out
differently (the protocol in ``peft_edu.methods``). This module copies and renames.
"""
from __future__ import annotations

import dataclasses
import io
import json
import tempfile
import zipfile
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from peft_edu.inject import applied, apply
from peft_edu.methods import Method, protocol
from peft_edu.methods.layers import base_weight
from peft_edu.registry import METHODS

CONFIG, WEIGHTS, LABELS = "adapter_config.json", "adapter_model.safetensors", "labels.json"
_TASK_TYPES = {"seq_cls": "SEQ_CLS", "causal_lm": "CAUSAL_LM", "base": "FEATURE_EXTRACTION"}
_MODEL = "base_model.model."  # peft's prefix for tensors inside the wrapped model


# ---------------------------------------------------------------- public API
def save_adapter(model: nn.Module, directory: str | Path) -> Path:
    """Write ``model``'s adapter to ``directory`` (created if missing); returns the path."""
    info = applied(model)
    if info is None:
        raise ValueError("no method applied to this model; call peft_edu.apply first")
    method = protocol(info.method)
    if method.saved_as == "model":
        raise ValueError(f"{METHODS[info.method].name.lower()} has no adapter: "
                         "save the whole model with save_pretrained")
    if method.saved_as == "peft":
        config, tensors = _peft_config(model, info), _peft_tensors(model, info)
    else:
        config, tensors = _own_config(model, info), _own_tensors(model, info)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / CONFIG).write_text(json.dumps(config, indent=2, sort_keys=True))
    metadata = {"format": "pt", "peft_edu_method": info.method, "peft_edu_config": json.dumps(_recipe(info))}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    save_file(tensors, str(directory / WEIGHTS), metadata=metadata)
    return directory


def load_adapter(model: nn.Module, directory: str | Path) -> nn.Module:
    """Load an adapter written by ``save_adapter`` (or by peft) into ``model``; returns it.

    A model with no method applied gets the file's method applied first (same config and
    targets); a model that already has one must have the file's method (or one that shares
    its peft layer and file, as LoRA, LoRA-FA, LoRA+ and QLoRA do).
    """
    config, tensors, metadata = _read_files(Path(directory))
    method, options = _method_of(config, metadata, tensors)
    saved_as, info = protocol(method).saved_as, applied(model)
    if info is None and saved_as != "merged":  # merged weights: the plain model is the result
        apply(model, method, **options)
    elif info is not None and not _compatible(info.method, method):
        raise ValueError(f"the adapter in {directory} is {method!r} but this model has {info.method!r} applied")
    if saved_as == "merged":
        return _load_merged(model, tensors)
    if saved_as == "peft":
        _load_peft(model, tensors)
    else:
        _copy_into(model, tensors, _own_tensors(model, applied(model)))
    return model


def adapter_zip(model: nn.Module, name: str = "adapter", label_names: tuple[str, ...] | list[str] = ()) -> bytes:
    """``save_adapter`` into a folder ``name/`` and that folder as zip bytes (a download).

    The folder travels on its own: ``labels.json`` holds the class names in the head's index
    order (when given) and ``README.md`` says how to load it with peft and with peft_edu."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_adapter(model, Path(tmp) / name)
        if label_names:
            (folder / LABELS).write_text(json.dumps({"id2label": dict(enumerate(label_names))}, indent=2))
        (folder / "README.md").write_text(_readme(model, name, tuple(label_names)))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(folder.iterdir()):
                zf.write(path, arcname=f"{name}/{path.name}")
    return buffer.getvalue()


# ---------------------------------------------------------------- files
def _read_files(directory: Path) -> tuple[dict, dict[str, torch.Tensor], dict]:
    for name in (CONFIG, WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory / name} not found: an adapter directory holds {CONFIG} and {WEIGHTS}")
    config = json.loads((directory / CONFIG).read_text())
    with safe_open(str(directory / WEIGHTS), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = f.metadata() or {}
    return config, tensors, metadata


def _recipe(info) -> dict:
    """What ``apply`` needs to rebuild this adapter: config fields, targets, train_head."""
    return {**dataclasses.asdict(info.config), "targets": list(info.arch.targets) or None,
            "train_head": info.train_head}


def _compatible(have: str, want: str) -> bool:
    """The same method, or two that peft saves alike: same peft_type and same layer tensors."""
    a, b = protocol(have), protocol(want)
    return have == want or (a.saved_as == b.saved_as == "peft" and a.peft_type == b.peft_type
                            and a.peft_names == b.peft_names)


def _method_of(config: dict, metadata: dict, tensors: dict) -> tuple[str, dict]:
    """(method key, apply() options) from our metadata, or from a peft config."""
    if "peft_edu_method" in metadata:
        return metadata["peft_edu_method"], json.loads(metadata["peft_edu_config"])
    kind = config.get("peft_type")
    heads = [k for k in tensors if k.endswith(("classifier.weight", "score.weight"))]
    for key in METHODS:  # the first method that reads this peft_type and this config
        method = protocol(key)
        options = method.peft_options(config) if method.peft_type == kind else None
        if options is not None:
            if method.uses_targets:  # the layers that hold any of the method's tensors
                suffixes = tuple("." + name for name in method.peft_names.values())
                options["targets"] = _modules_with(tensors, method.peft_prefix, suffixes)
            return key, {**options, "train_head": bool(heads)}
    supported = dict.fromkeys(protocol(k).peft_type for k in METHODS if protocol(k).saved_as == "peft")
    raise ValueError(f"unsupported peft_type {kind!r}; supported: {', '.join(supported)} "
                     "and peft_edu's own PEFT_EDU")


def _modules_with(tensors: dict, prefix: str, suffixes: tuple[str, ...]) -> list[str]:
    """Modules (in file order, each once) holding a tensor ``prefix + module + suffix``."""
    found = {k[len(prefix):-len(s)]: None for k in tensors for s in suffixes
             if k.startswith(prefix) and k.endswith(s)}
    return list(found)


def _copy_into(model: nn.Module, source: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
    """Copy every file tensor into the model tensor of the same key; all keys must match."""
    missing, extra = sorted(set(targets) - set(source)), sorted(set(source) - set(targets))
    if missing or extra:
        raise ValueError(f"adapter does not fit this model: missing {missing[:5]}, unexpected {extra[:5]}")
    for key, target in targets.items():
        if source[key].shape != target.shape:
            raise ValueError(f"shape mismatch for {key}: file {tuple(source[key].shape)}, model {tuple(target.shape)}")
        with torch.no_grad():
            target.copy_(source[key])


def _name_or_path(model: nn.Module) -> str | None:
    """The base model's public name; never a path on this machine (it means nothing elsewhere)."""
    from peft_edu.models import public_name

    return public_name(getattr(model, "name_or_path", None) or getattr(getattr(model, "config", None),
                                                                      "name_or_path", None))


def _readme(model: nn.Module, name: str, label_names: tuple[str, ...]) -> str:
    """How to load the folder ``name`` with peft (where peft has the method) and with peft_edu."""
    info = applied(model)
    method = protocol(info.method)
    spec, base = METHODS[info.method], _name_or_path(model) or "<the base model you trained on>"
    n = len(label_names) or getattr(getattr(model, "config", None), "num_labels", 2)
    lines = [f"# {spec.name} adapter (peft_edu)", "",
             f"Trained with PEFT Lab on `{base}`, a {n}-class sequence classifier; "
             f"method {spec.name} ({spec.arxiv and 'arXiv ' + spec.arxiv}), settings in `{CONFIG}`."]
    if label_names:
        lines += ["", f"Classes, in the head's output order (`{LABELS}`): " + ", ".join(label_names) + "."]
    load_base = (f'base = AutoModelForSequenceClassification.from_pretrained("{base}", num_labels={n})')
    if method.saved_as == "peft":
        lines += ["", f"Hugging Face peft format ({spec.hf_peft_type}):", "", "```python",
                  "from transformers import AutoModelForSequenceClassification", "from peft import PeftModel",
                  load_base, f'model = PeftModel.from_pretrained(base, "{name}")', "```"]
    else:
        lines += ["", f"peft has no {spec.name}: this is peft_edu's own documented format "
                      f"({'W + ΔW of every adapted layer' if method.saved_as == 'merged' else 'every trainable tensor by name'})."]
    lines += ["", "With peft_edu:", "", "```python", "from transformers import AutoModelForSequenceClassification",
              "import peft_edu", load_base, f'model = peft_edu.load_adapter(base, "{name}")', "```", ""]
    return "\n".join(lines)


def _head_tensors(model: nn.Module, info, prefix: str) -> dict[str, torch.Tensor]:
    """The trained task head (peft's modules_to_save), or nothing when it stayed frozen."""
    if not info.train_head:
        return {}
    return {f"{prefix}{head}.{n}": p for head in info.arch.head
            for n, p in model.get_submodule(head).named_parameters()}


# ---------------------------------------------------------------- our own format
def _own_config(model: nn.Module, info) -> dict:
    return {"peft_type": "PEFT_EDU", "format_version": 1, "method": info.method,
            "config": dataclasses.asdict(info.config), "targets": list(info.arch.targets),
            "train_head": info.train_head, "base_model_name_or_path": _name_or_path(model)}


def _own_tensors(model: nn.Module, info) -> dict[str, torch.Tensor]:
    """"peft_edu": every trainable tensor by name. "merged": W + ΔW of each adapted layer, and the head."""
    if protocol(info.method).saved_as == "peft_edu":
        return {name: p for name, p in model.named_parameters() if p.requires_grad}
    tensors = {}
    for name in info.arch.targets:
        layer = model.get_submodule(name)
        tensors[f"{name}.weight"] = base_weight(layer.base) + layer.delta_weight()
    return {**tensors, **_head_tensors(model, info, "")}


def _load_merged(model: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    """A merged file: each adapted layer's W <- merged W (and its own ΔW <- 0 where wrapped)."""
    info = applied(model)  # None: a plain model, which the merged weights make the tuned one
    for key, value in tensors.items():
        name, leaf = key.rsplit(".", 1)
        module = model.get_submodule(name)
        if info is not None and name in info.arch.targets:  # a wrapper: merged W into its frozen base
            target = base_weight(module.base)
            protocol(info.method).zero_delta(module)
        else:  # a plain layer, or the head: (d_out, d_in) view of W, or the bias
            target = base_weight(module) if leaf == "weight" else getattr(module, leaf)
        _copy_into(model, {key: value}, {key: target})
    return model


# ---------------------------------------------------------------- peft's format
def _peft_config(model: nn.Module, info) -> dict:
    """adapter_config.json as peft 0.21 reads it (unset keys take peft's defaults)."""
    method = protocol(info.method)
    return {"peft_type": method.peft_type, "task_type": _TASK_TYPES.get(info.arch.task),
            "base_model_name_or_path": _name_or_path(model), "revision": None, "inference_mode": True,
            "modules_to_save": list(info.arch.head) if info.train_head else None,
            **method.peft_config(info.config, info.arch, model)}


def _layers(model: nn.Module, method: Method) -> list[str]:
    """Names of the method's layers: the modules that hold all of its PEFT_NAMES tensors."""
    names = method.peft_names
    return [name for name, m in model.named_modules() if names and all(hasattr(m, n) for n in names)]


def _peft_tensors(model: nn.Module, info) -> dict[str, torch.Tensor]:
    """Every tensor under peft's key (see the table in the module docstring)."""
    method = protocol(info.method)
    prefix = method.peft_prefix
    tensors = {f"{prefix}{module}.{theirs}": method.to_peft(model, module, ours)
               for module in _layers(model, method) for ours, theirs in method.peft_names.items()}
    tensors = {k: v for k, v in tensors.items() if v is not None}  # a layer without that tensor (LoKr)
    return {**tensors, **method.peft_model_tensors(model), **_head_tensors(model, info, prefix)}


def _to_ours(model: nn.Module, method: Method, key: str, value: torch.Tensor) -> dict[str, torch.Tensor]:
    """A peft tensor as peft_edu's tensor(s): {parameter or buffer name: value}."""
    ours = method.from_peft_model_tensor(model, key, value)
    if ours is not None:
        return ours
    name = key.removeprefix(_MODEL).removeprefix("base_model.")
    for mine, theirs in method.peft_names.items():
        if name.endswith("." + theirs):
            module = name[: -len(theirs) - 1]
            return {f"{module}.{mine}": method.from_peft(model, module, mine, value)}
    return {name: value}  # the head: <head>.weight / <head>.bias


def _load_peft(model: nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    """Copy a peft-format state dict into the model's adapter, checking keys and shapes."""
    info = applied(model)
    method = protocol(info.method)
    source, expected = {}, {}
    for key, value in tensors.items():
        source.update(_to_ours(model, method, key, value))
    for key, value in _peft_tensors(model, info).items():  # our names of what the file must hold
        expected.update(_to_ours(model, method, key, value))
    own = {**dict(model.named_buffers()), **dict(model.named_parameters())}  # VeRA's pair is a buffer
    _copy_into(model, source, {name: own[name] for name in expected})
