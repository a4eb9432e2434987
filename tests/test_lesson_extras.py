"""The lesson additions of issue 17 against independent references: the QLoRA page's W0 in
NF4 (the paper's 16 levels, block absmax recomputed with numpy), the paged-optimizer count
(closed form over Llama-2-7B's layers), and prefix tuning's reparametrization count
(Hugging Face peft's ``prefix_projection=True``)."""
import copy
import warnings

import numpy as np
import pytest
from peft import PrefixTuningConfig, get_peft_model

from peft_edu.lessons.quantization import animated_base, paged_optimizer
from peft_edu.lessons.virtual_tokens import reparametrization_rows
from peft_edu.methods import prefix_tuning
from peft_edu.models import arch_of
from tests.reference import REFERENCE_LEVELS
from tests.tiny import tiny_bert, tiny_gpt2


def test_animated_w0_in_nf4_is_level_times_block_absmax():
    base = animated_base()
    w = base.original.reshape(-1)
    levels = np.array(REFERENCE_LEVELS)
    for i in range(0, w.size, 64):
        block = w[i:i + 64]
        absmax = np.abs(block).max()
        nearest = np.abs(block[:, None] / absmax - levels[None, :]).argmin(axis=1)
        np.testing.assert_array_equal(base.codes.reshape(-1)[i:i + 64], nearest)
        np.testing.assert_allclose(base.dequantized.reshape(-1)[i:i + 64], levels[nearest] * absmax, rtol=1e-6)
    assert all(n <= 16 for n in base.distinct_per_block) and len(base.distinct_per_block) == -(-w.size // 64)


def test_paged_optimizer_counts_qlora_r64_on_every_linear_layer():
    # Llama-2-7B: 32 blocks; q, k, v, o 4096 → 4096; gate, up 4096 → 11008; down 11008 → 4096
    per_block = 4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096)
    p = paged_optimizer("Llama-2-7B", r=64, spike_tokens=4096)
    assert p.trainable == 32 * 64 * per_block == 159_907_840  # peft prints this for QLoRA's 7B setup
    assert p.adam_bytes == 8 * p.trainable and p.spike_bytes == 2 * 4 * 4096 * 32_000


@pytest.mark.parametrize("make", [tiny_bert, tiny_gpt2])
@pytest.mark.parametrize("n, hidden", [(5, 24), (3, 7)])
def test_reparametrized_prefix_count_equals_peft(make, n, hidden):
    model = make()
    config = PrefixTuningConfig(task_type="SEQ_CLS", num_virtual_tokens=n, prefix_projection=True,
                                encoder_hidden_size=hidden)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = get_peft_model(copy.deepcopy(model), config)
    trainable = sum(p.numel() for name, p in theirs.named_parameters()
                    if p.requires_grad and "prompt_encoder" in name)
    assert prefix_tuning.reparametrized_params(arch_of(model), prefix_tuning.Config(n_tokens=n), hidden) == trainable


def test_reparametrization_rows_keep_only_the_prefixes():
    (roberta, llama) = reparametrization_rows(20, 512)
    # roberta-base: d = 768, L = 12: kept 20·12·2·768; while training + 20·768 + (768·512 + 512) + (512·18,432 + 18,432)
    assert roberta.kept == 20 * 12 * 2 * 768
    assert roberta.during == 20 * 768 + 768 * 512 + 512 + 512 * 12 * 2 * 768 + 12 * 2 * 768
    assert llama.kept == 20 * 32 * 2 * 4096
