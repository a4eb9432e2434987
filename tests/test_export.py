"""save_adapter / load_adapter: Hugging Face PEFT's format, checked by peft itself.

An adapter written by peft_edu must load with ``PeftModel.from_pretrained(base, dir)`` and
give the same logits; peft's own saved adapters must load into peft_edu; every method
round-trips through ``load_adapter``; bad input gets clear errors.
"""
import copy
import io
import json
import warnings
import zipfile

import pytest
import torch
from peft import LoraConfig, PeftConfig, PeftModel, PromptTuningConfig, get_peft_model
from safetensors import safe_open

import peft_edu
from peft_edu.export import adapter_zip
from peft_edu.methods import protocol
from peft_edu.models import load_pretrained
from tests.tiny import batch, tiny_bert, tiny_gpt2

PEFT_METHODS = {"lora": {"r": 4}, "rslora": {"r": 4}, "lora_fa": {"r": 4}, "lora_plus": {"r": 4}, "dora": {"r": 4},
                "vera": {"r": 4}, "qlora": {"r": 4}, "prompt_tuning": {"n_tokens": 3},
                "prefix_tuning": {"n_tokens": 3}, "ia3": {},
                "pissa": {"r": 4}, "ln_tuning": {}, "adalora": {"r": 2, "init_r": 4},
                "lokr": {"r": 2}, "oft": {"block_size": 8}}
OWN_METHODS = {"adapter": {"bottleneck": 4}, "delta_lora": {"r": 4}, "bitfit": {}, "galore": {"r": 2}, "relora": {"r": 4}}
FAMILIES = {"bert": tiny_bert, "gpt2": tiny_gpt2}
NOT_IN_PEFT = {("lokr", "gpt2"), ("oft", "gpt2")}  # peft 0.21's LoKr and OFT have no layer for GPT-2's Conv1D: saving raises (tests/test_lokr.py, test_oft.py)


def trained(base, method, **config):
    """``method`` applied to a copy of ``base``, its tensors moved away from their init."""
    model = peft_edu.apply(copy.deepcopy(base), method, **config)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad or name.endswith(".A"):  # LoRA-FA's frozen A is saved too
                p.add_(0.1 * torch.randn(p.shape, generator=gen))
    return model


def logits(model, family):
    ids, mask = batch(vocab=model.config.vocab_size, pad=family != "gpt2")
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits


def peft_load(base, directory, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # peft warns on unknown config keys / missing tensors
        warnings.filterwarnings("ignore", "Unsupported layer type")  # LN_TUNING wraps LayerNorms, as designed
        return PeftModel.from_pretrained(copy.deepcopy(base), str(directory), **kwargs).eval()


@pytest.mark.parametrize("method", PEFT_METHODS)
@pytest.mark.parametrize("family", FAMILIES)
def test_peft_loads_our_adapter_with_the_same_logits(method, family, tmp_path):
    if (method, family) in NOT_IN_PEFT:
        pytest.skip("peft's format cannot hold this method on this architecture")
    base = FAMILIES[family]()
    model = trained(base, method, **PEFT_METHODS[method])
    peft_edu.save_adapter(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter_config.json", "adapter_model.safetensors"]
    with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as f:
        assert not any(".default." in key for key in f.keys())
    assert PeftConfig.from_pretrained(str(tmp_path)).peft_type.value == peft_edu.METHODS[method].hf_peft_type
    ref = peft_load(base, tmp_path)
    expected = logits(model, family)
    if method == "qlora":  # peft's base is not quantized: compare with LoRA on the same A, B, head
        lora = peft_edu.apply(copy.deepcopy(base), "lora", r=4)
        trained_tensors = dict(model.named_parameters())
        with torch.no_grad():
            for name, p in lora.named_parameters():
                if p.requires_grad:
                    p.copy_(trained_tensors[name])
        expected = logits(lora, family)
    assert torch.allclose(logits(ref, family), expected, atol=1e-5)


@pytest.mark.parametrize("method", ["lora", "dora", "vera", "prompt_tuning", "prefix_tuning"])
def test_peft_trains_the_same_number_of_parameters(method, tmp_path):
    base = tiny_bert()
    model = trained(base, method, **PEFT_METHODS[method])
    peft_edu.save_adapter(model, tmp_path)
    if method in ("prompt_tuning", "prefix_tuning"):  # peft loads prompt learning frozen only:
        config = PeftConfig.from_pretrained(str(tmp_path))  # build a trainable model from our config
        config.inference_mode = False
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = get_peft_model(copy.deepcopy(base), config)
    else:
        ref = peft_load(base, tmp_path, is_trainable=True)
    assert ref.get_nb_trainable_parameters()[0] == peft_edu.trainable_parameters(model)


def test_minilm_adapters_load_in_peft(tmp_path):
    base = load_pretrained(num_labels=2, seed=0)[0]
    for method in ("lora", "ia3", "prefix_tuning"):
        model = trained(base, method, **PEFT_METHODS[method])
        peft_edu.save_adapter(model, tmp_path / method)
        config = json.loads((tmp_path / method / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"  # never a local path
        assert torch.allclose(logits(peft_load(base, tmp_path / method), "bert"), logits(model, "bert"), atol=1e-5)


@pytest.mark.parametrize("method", {**PEFT_METHODS, **OWN_METHODS})
@pytest.mark.parametrize("family", FAMILIES)
def test_load_adapter_round_trip(method, family, tmp_path):
    if (method, family) in NOT_IN_PEFT:
        pytest.skip("peft's format cannot hold this method on this architecture")
    base = FAMILIES[family]()
    config = {**PEFT_METHODS, **OWN_METHODS}[method]
    model = trained(base, method, **config)
    peft_edu.save_adapter(model, tmp_path)
    fresh = peft_edu.load_adapter(copy.deepcopy(base), tmp_path)  # applies the method, then loads
    assert torch.allclose(logits(fresh, family), logits(model, family), atol=1e-5)
    if protocol(method).saved_as != "merged":  # merged weights (Delta-LoRA, GaLore, ReLoRA): a plain model
        assert peft_edu.applied(fresh).method == method
        assert peft_edu.trainable_parameters(fresh) == peft_edu.trainable_parameters(model)
    into_applied = peft_edu.apply(copy.deepcopy(base), method, **config)  # same method, fresh init
    peft_edu.load_adapter(into_applied, tmp_path)
    assert torch.allclose(logits(into_applied, family), logits(model, family), atol=1e-5)


@pytest.mark.parametrize("family", FAMILIES)
def test_adapters_saved_by_peft_load_into_peft_edu(family, tmp_path):
    base = FAMILIES[family]()
    target = "query,value" if family == "bert" else "c_attn"
    for name, config in (("lora", LoraConfig(task_type="SEQ_CLS", r=4, lora_alpha=16, target_modules=target.split(","))),
                         ("prompt", PromptTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=3))):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = get_peft_model(copy.deepcopy(base), config).eval()
        with torch.no_grad():
            for p in (p for p in ref.parameters() if p.requires_grad):
                p.add_(0.1 * torch.randn_like(p))
        ref.save_pretrained(str(tmp_path / name))
        ours = peft_edu.load_adapter(copy.deepcopy(base), tmp_path / name)
        assert torch.allclose(logits(ours, family), logits(ref, family), atol=1e-5)


def test_bad_input_gets_clear_errors(tmp_path):
    base = tiny_bert()
    with pytest.raises(ValueError, match="no method applied"):
        peft_edu.save_adapter(copy.deepcopy(base), tmp_path)
    with pytest.raises(ValueError, match="full fine-tuning has no adapter"):
        peft_edu.save_adapter(peft_edu.apply(copy.deepcopy(base), "full"), tmp_path)
    with pytest.raises(FileNotFoundError, match="adapter_config.json not found"):
        peft_edu.load_adapter(copy.deepcopy(base), tmp_path / "nowhere")
    peft_edu.save_adapter(trained(base, "lora", r=4), tmp_path)
    with pytest.raises(ValueError, match="is 'lora' but this model has 'ia3' applied"):
        peft_edu.load_adapter(peft_edu.apply(copy.deepcopy(base), "ia3"), tmp_path)
    with pytest.raises(ValueError, match=r"shape mismatch for .*query.A: file \(4, 32\), model \(8, 32\)"):
        peft_edu.load_adapter(peft_edu.apply(copy.deepcopy(base), "lora", r=8), tmp_path)
    with pytest.raises(ValueError, match="adapter does not fit this model: missing"):
        peft_edu.load_adapter(peft_edu.apply(copy.deepcopy(base), "lora", r=4, targets="key"), tmp_path)
    (tmp_path / "adapter_model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="adapter_model.safetensors not found"):
        peft_edu.load_adapter(copy.deepcopy(base), tmp_path)


def test_own_format_is_documented_json(tmp_path):
    model = trained(tiny_gpt2(), "adapter", bottleneck=4)
    peft_edu.save_adapter(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config["peft_type"] == "PEFT_EDU" and config["method"] == "adapter"
    assert config["config"]["bottleneck"] == 4 and config["format_version"] == 1
    with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as f:
        assert f.get_tensor("transformer.h.0.attn.c_proj.adapter.W_down").shape == (4, 32)
        assert f.metadata()["peft_edu_method"] == "adapter"


def test_every_method_is_exported_here():
    """A new method joins PEFT_METHODS or OWN_METHODS (or has no adapter, as full fine-tuning)."""
    no_adapter = {key for key in peft_edu.METHODS if protocol(key).saved_as == "model"}
    assert set(PEFT_METHODS) | set(OWN_METHODS) | no_adapter == set(peft_edu.METHODS)
    assert all(protocol(key).saved_as == "peft" for key in PEFT_METHODS)


def test_lora_files_load_across_the_lora_recipes(tmp_path):
    """LoRA, LoRA-FA, LoRA+ and QLoRA share peft's LORA layer and file: each loads the others'."""
    base = tiny_bert()
    peft_edu.save_adapter(trained(base, "lora", r=4), tmp_path)
    for method in ("lora_fa", "lora_plus", "qlora"):
        model = peft_edu.load_adapter(peft_edu.apply(copy.deepcopy(base), method, r=4), tmp_path)
        with safe_open(str(tmp_path / "adapter_model.safetensors"), framework="pt") as f:
            key = "base_model.model.bert.encoder.layer.0.attention.self.query.lora_B.weight"
            assert torch.equal(model.get_parameter("bert.encoder.layer.0.attention.self.query.B"), f.get_tensor(key))
    with pytest.raises(ValueError, match="is 'lora' but this model has 'dora' applied"):
        peft_edu.load_adapter(peft_edu.apply(copy.deepcopy(base), "dora", r=4), tmp_path)


def test_adapter_zip_holds_the_adapter_directory(tmp_path):
    model = trained(tiny_bert(), "lora", r=4)
    data = adapter_zip(model, "adapter")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert sorted(zf.namelist()) == ["adapter/README.md", "adapter/adapter_config.json",
                                         "adapter/adapter_model.safetensors"]
        zf.extractall(tmp_path)
    fresh = peft_edu.load_adapter(copy.deepcopy(tiny_bert()), tmp_path / "adapter")
    assert torch.allclose(logits(fresh, "bert"), logits(model, "bert"), atol=1e-5)


def test_minilm_adapter_zip_is_portable(tmp_path):
    """The lab's download: the base's public name (no path of this machine in any file), the
    class names, and a README whose peft recipe works: run here with the bundled MiniLM in
    place of the hub download, it gives the trained model's logits."""
    from peft_edu.models import minilm_dir

    base = load_pretrained(num_labels=2, seed=0)[0]
    model = trained(base, "lora", r=4)
    with zipfile.ZipFile(io.BytesIO(adapter_zip(model, "adapter", ("no", "yes")))) as zf:
        files = {name: zf.read(name) for name in zf.namelist()}
        zf.extractall(tmp_path)
    assert not any(str(minilm_dir()).encode() in data or b"/root/" in data for data in files.values())
    config = json.loads(files["adapter/adapter_config.json"])
    assert config["base_model_name_or_path"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert json.loads(files["adapter/labels.json"]) == {"id2label": {"0": "no", "1": "yes"}}
    readme = files["adapter/README.md"].decode()
    code = readme.split("```python\n")[1].split("```")[0]  # the peft recipe
    assert 'PeftModel.from_pretrained(base, "adapter")' in code and "no, yes" in readme
    code = code.replace('"sentence-transformers/all-MiniLM-L6-v2"', repr(str(minilm_dir())))
    torch.manual_seed(0)
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(code.replace('"adapter"', repr(str(tmp_path / "adapter"))), namespace)  # noqa: S102 (our README)
    assert torch.allclose(logits(namespace["model"].eval(), "bert"), logits(model, "bert"), atol=1e-5)
