"""Texts of the calculator's "how is this computed?" expanders: one per memory term.

Each entry: (title, LaTeX formula, explanation in Markdown). The formulas are the ones
``peft_edu.sizing.memory`` and ``peft_edu.sizing.activations`` implement (their docstrings cite sources).
Below them, the other texts the page writes from numbers: a paper's count beside ours, and
the base model's weights at each storage precision.
"""
from peft_edu.viz.style import fmt_bytes, fmt_int

TERMS = (
    (
        "Weights",
        r"M_W = N_{train}\,b_{train} + N_{lin}\,\tfrac{\text{bits}}{8} + N_{other}\,b_{other}",
        "Every weight of the model sits in GPU memory, frozen or not. $N_{lin}$ are the frozen "
        "weights of the blocks' linear layers — the ones QLoRA stores in **NF4**; embeddings, norms "
        "and the head ($N_{other}$) stay in 16 bits, as bitsandbytes leaves them. "
        "In 32-bit training every byte count $b$ is 4; in 16-bit mixed precision it is 2. "
        "NF4 costs 4 bits per weight plus one fp32 absmax per block of 64 weights: "
        "$4 + 32/64 = 4.5$ bits; **double quantization** stores those constants in 8 bits with one "
        "fp32 constant per 256 of them: $4 + 8/64 + 32/(64\\cdot 256) \\approx 4.127$ bits "
        "(QLoRA, arXiv 2305.14314, §3).",
    ),
    (
        "Gradients",
        r"M_G = N_{train}\,b_{grad}",
        "Only trainable parameters get a gradient: this is where PEFT saves most. Frozen weights "
        "still pass gradients *through* them to earlier layers, but none is stored *for* them. "
        "$b_{grad}$ = 4 bytes in fp32, 2 in 16-bit mixed precision.",
    ),
    (
        "Optimizer states",
        r"M_O = N_{train}\,(8 + b_{master})",
        "AdamW keeps two fp32 moments ($m$ and $v$, 4 + 4 bytes) per trainable parameter; mixed "
        "precision adds an fp32 master copy ($b_{master}$ = 4, else 0). Full fine-tuning in mixed "
        "precision therefore costs $2 + 2 + 4 + 8 = 16$ bytes per parameter before activations "
        "(ZeRO, arXiv 1910.02054, §3.1).",
    ),
    (
        "Activations",
        r"M_A = L\cdot\underbrace{p\,b\,s\,\big(2h + h + 2h_{kv} + f\,(\times 3) + h\big) + \dots}_{\text{one layer}}"
        r"\;+\; b\,s\,V\,(p + 4) \;+\; \text{backward working set}",
        "What the forward pass keeps for the backward pass, for one batch of $b$ sequences of $s$ "
        "tokens ($p$ bytes per value, $h$ hidden size, $f$ FFN width, $V$ vocabulary): norm inputs, "
        "Q, K, V, the FFN non-linearity, the attention output (a fused FlashAttention-style kernel, "
        "no $s\\times s$ scores), dropout masks where the model has dropout, the inputs of linear "
        "layers whose weights train, and each method's own small tensors (LoRA's $A x$, ...). "
        "A frozen layer keeps nothing for its own weight. The per-layer accounting follows "
        "Korthikanti et al. 2022 (arXiv 2205.05198, §4.1); a language-model head adds the logits "
        "and their fp32 log-softmax. On top comes backward's **working set**: while a layer's "
        "backward runs, the gradients of its largest tensors (attention scores, FFN activation, or "
        "at the start the logits) exist beside everything kept. **Gradient checkpointing** keeps "
        "only each layer's input ($L\\,p\\,b\\,s\\,h$) and recomputes one layer at a time in "
        "backward: far less memory, about a third more compute.",
    ),
    (
        "Adapter file size",
        r"\text{file} = N_{saved}\cdot b,\qquad N_{saved} = N_{train}\ (\text{full: } N_{total})",
        "What you store per task: the trainable tensors (and the trained head, as Hugging Face "
        "peft's `modules_to_save`), in 2 bytes each (bf16) or 4 (fp32 training). Full fine-tuning "
        "saves a whole copy of the model.",
    ),
    (
        "Fits / does not fit",
        r"M_W + M_G + M_O + M_A \le \text{GPU size} \cdot 10^9\ \text{bytes}",
        "A card sold as 80 GB holds 80 GiB, about 7 % more than $80\\cdot10^9$ bytes; we keep that "
        "margin for what the estimate leaves out: the CUDA context, library workspaces and "
        "allocator fragmentation. The estimate is for one GPU, batch as given, no offloading.",
    ),
)


def paper_note(row, model: str, paper) -> str:
    """A paper's count (``peft_edu.sizing.paper_counts.PaperCount``) beside ours, for one table row."""
    ours = row.counts["trainable_without_head"]
    with_head = (f"; {fmt_int(row.counts['trainable'])} with the trained head, as peft counts it"
                 if row.counts["head_trainable"] else "")
    text = (f"**{row.name} on {model}: the paper reports {paper.shown}; we count {fmt_int(ours)}** "
            f"({ours / 1e6:.3g}M, without the task head{with_head}). Source: {paper.source}.")
    return text + (f" {paper.note}" if paper.note else "")


def weights_table(weights: dict[str, float]) -> str:
    """Markdown table: storage of the frozen base -> its weights' bytes."""
    lines = ["| Storage of the frozen base | Weights |", "|---|---:|"]
    return "\n".join(lines + [f"| {k} | {fmt_bytes(v)} |" for k, v in weights.items()])
