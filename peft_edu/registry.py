"""The one registry of methods: every page, count, training run, quiz and test reads it.

Adding a method = one module in ``peft_edu/methods/<key>.py`` (see that package's
docstring for the protocol) plus one ``MethodSpec`` below.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodSpec:
    key: str  # registry key, also the module name in peft_edu/methods and the page URL
    name: str  # display name
    year: int  # year of the paper
    paper: str  # paper title
    arxiv: str  # arXiv id, e.g. "2106.09685"
    idea: str  # one paragraph in plain English
    formula: str  # LaTeX of the forward pass (or update rule)
    symbols: tuple[tuple[str, str], ...]  # (LaTeX symbol, meaning) for every symbol in formula
    trainable: str  # what trains
    frozen: str  # what stays frozen
    count_formula: str  # LaTeX of the trainable count
    family: str  # "baseline" | "low-rank" | "quantized" | "soft prompt" | "additive" | "scaling"
    mergeable: bool  # can the update be folded into W0 (no extra inference cost)?
    inference_cost: str  # extra cost at inference when not merged
    memory_note: str  # where the memory goes / is saved
    pros: tuple[str, ...]
    cons: tuple[str, ...]
    when: str  # when to use it
    related: tuple[str, ...]  # keys of related methods
    size_knob: str  # the main size knob of the page slider: "r", "n_tokens", "bottleneck" or ""
    hf_peft_type: str | None  # Hugging Face PEFT's peft_type, or None where PEFT has no such method
    calculator_note: str = ""  # caveat under the calculator's table when this method is shown ("" if none)

    @property
    def arxiv_url(self) -> str:
        return f"https://arxiv.org/abs/{self.arxiv}"

    @property
    def module(self) -> str:
        """Import path of the method's implementation."""
        return f"peft_edu.methods.{self.key}"


_LORA_SYMBOLS = (
    (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
    (r"A", r"down-projection, $r\times d_{in}$"),
    (r"B", r"up-projection, $d_{out}\times r$ (starts at zero)"),
    (r"r", "rank of the update"),
    (r"\alpha", r"scaling constant; the update is scaled by $\alpha/r$"),
)

_SPECS = (
    MethodSpec(
        key="full",
        name="Full fine-tuning",
        year=2018,
        paper="BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding",
        arxiv="1810.04805",
        idea=(
            "The baseline every PEFT method is measured against: start from the pretrained "
            "weights and let gradient descent change every single one of them. It is the most "
            "flexible option, but each weight needs a gradient and (with Adam) two optimizer "
            "states during training, and every fine-tuned task produces a full copy of the model."
        ),
        formula=r"W \leftarrow W - \eta \, \nabla_W \mathcal{L} \quad \text{for every } W",
        symbols=(
            (r"W", "any weight matrix of the model"),
            (r"\eta", "learning rate"),
            (r"\mathcal{L}", "training loss"),
        ),
        trainable="every weight of the model",
        frozen="nothing",
        count_formula=r"d_{out}\, d_{in}",
        family="baseline",
        mergeable=True,
        inference_cost="none (the result is a normal model)",
        memory_note="weights + gradients + two Adam states for every parameter (about 16 bytes per parameter in mixed precision)",
        pros=("Highest capacity: can change anything", "No extra modules at inference"),
        cons=(
            "Memory for gradients and optimizer states of every weight",
            "A full model copy per task",
            "Easy to overfit small datasets",
        ),
        when="When you have lots of data and compute, or the task is far from pre-training.",
        related=("lora", "adapter"),
        size_knob="",
        hf_peft_type=None,
    ),
    MethodSpec(
        key="lora",
        name="LoRA",
        year=2021,
        paper="LoRA: Low-Rank Adaptation of Large Language Models",
        arxiv="2106.09685",
        idea=(
            "The change that fine-tuning makes to a weight matrix tends to have low intrinsic "
            "rank. LoRA freezes the pretrained matrix and learns the change as the product of two "
            "thin matrices, B times A, whose inner size r is tiny (4, 8, 16). Because B starts "
            "at zero, training starts exactly from the pretrained model, and after training "
            "B·A can be added into the weight so inference costs nothing extra."
        ),
        formula=r"h = W_0 x + \frac{\alpha}{r} B A x",
        symbols=_LORA_SYMBOLS + ((r"x", "layer input"), (r"h", "layer output")),
        trainable="A and B of each adapted layer",
        frozen=r"W0 and everything not adapted",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; one extra thin matmul pair if kept separate",
        memory_note="no gradients or optimizer states for W0; activations still stored for backprop",
        pros=(
            "Orders of magnitude fewer trainable parameters",
            "Mergeable: zero inference latency",
            "Tiny adapter files, one base model for many tasks",
        ),
        cons=("Rank caps how much the weight can change", "Still stores activations of the whole model"),
        when="The default choice for adapting a large model on a single GPU.",
        related=("lora_fa", "lora_plus", "dora", "qlora", "vera", "delta_lora"),
        size_knob="r",
        hf_peft_type="LORA",
    ),
    MethodSpec(
        key="rslora",
        name="rsLoRA",
        year=2023,
        paper="A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA",
        arxiv="2312.03732",
        idea=(
            "LoRA scales its update by alpha / r, so at a higher rank each step changes the model "
            "less: large ranks learn slowly and end up no better than small ones. rsLoRA changes "
            "only that factor, to alpha / sqrt(r), the scaling under which the update keeps the "
            "same size whatever the rank. The layer, the count and the merge are LoRA's; a larger "
            "rank now buys a better fit instead of a slower one."
        ),
        formula=r"h = W_0 x + \frac{\alpha}{\sqrt{r}} B A x",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
            (r"A", r"down-projection, $r\times d_{in}$"),
            (r"B", r"up-projection, $d_{out}\times r$ (starts at zero)"),
            (r"r", "rank of the update"),
            (r"\alpha", r"scaling constant; the update is scaled by $\alpha/\sqrt{r}$"),
            (r"x", "layer input"),
            (r"h", "layer output"),
        ),
        trainable="A and B of each adapted layer",
        frozen=r"W0 and everything not adapted",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; one extra thin matmul pair if kept separate",
        memory_note="exactly LoRA's: only the scaling constant differs",
        pros=(
            "High ranks finally pay off: the update does not shrink as r grows",
            "A one-line change: same layer, count, memory and file format as LoRA",
        ),
        cons=(
            "At small ranks (r of 4 to 8) it behaves almost like LoRA with a larger alpha",
            "A larger effective step: the learning rate may need lowering at high rank",
        ),
        when="Whenever you want a rank above about 16, or sweep ranks and want them comparable.",
        related=("lora", "lora_plus", "dora"),
        size_knob="r",
        hf_peft_type="LORA",
    ),
    MethodSpec(
        key="pissa",
        name="PiSSA",
        year=2024,
        paper="PiSSA: Principal Singular Values and Singular Vectors Adaptation of Large Language Models",
        arxiv="2404.02948",
        idea=(
            "LoRA's layer with a smarter start. The singular value decomposition of the "
            "pretrained W splits it into its r most important directions and the rest. PiSSA "
            "puts the important part into the trainable B·A and freezes only the residual, so "
            "the model is unchanged at step 0 but training moves the principal directions first "
            "— LoRA instead starts from B = 0 and a random A. The loss falls faster early, with "
            "exactly LoRA's count, memory and merge."
        ),
        formula=r"h = W_{res}\, x + \frac{\alpha}{r} B A x,\quad W_{res} = W_0 - \frac{\alpha}{r} B_0 A_0",
        symbols=(
            (r"W_0", r"pretrained weight, $d_{out}\times d_{in}$, with SVD $U S V^\top$"),
            (r"A", r"trainable, $r\times d_{in}$; starts as $A_0 = \sqrt{S_r/s}\,V_r^\top$"),
            (r"B", r"trainable, $d_{out}\times r$; starts as $B_0 = U_r\sqrt{S_r/s}$"),
            (r"W_{res}", r"frozen residual: the directions after the top $r$"),
            (r"r", "rank: how many principal singular directions train"),
            (r"\alpha", r"scaling constant, $s = \alpha/r$ (the paper: $\alpha = r$)"),
            (r"x", "layer input"),
            (r"h", "layer output"),
        ),
        trainable="A and B of each adapted layer (started from W0's top-r singular directions)",
        frozen="the residual W_res of each adapted layer and everything not adapted",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; one extra thin matmul pair if kept separate",
        memory_note="exactly LoRA's, plus one SVD per adapted layer at the start",
        pros=(
            "Faster early progress than LoRA: the principal directions train from step 0",
            "LoRA's count, memory, merge and file format (peft: init_lora_weights = pissa)",
        ),
        cons=(
            "The base weights change (to W_res): sharing one base across adapters needs the rank-2r export",
            "One SVD per adapted layer at the start (slow for huge layers without the fast SVD)",
        ),
        when="Instead of LoRA when the budget of steps is small, or with a quantized residual (QPiSSA).",
        related=("lora", "rslora", "dora"),
        size_knob="r",
        hf_peft_type="LORA",
    ),
    MethodSpec(
        key="lora_fa",
        name="LoRA-FA",
        year=2023,
        paper="LoRA-FA: Memory-efficient Low-rank Adaptation for Large Language Models Fine-tuning",
        arxiv="2308.03303",
        idea=(
            "LoRA-FA (frozen-A) keeps LoRA's layer but never trains the down-projection A: it "
            "stays at its random initialisation and only B learns. The gradient of B needs only "
            "the r-dimensional projection A·x, not the full input x, so far less activation "
            "memory is kept for the backward pass, and half of LoRA's parameters stop training."
        ),
        formula=r"h = W_0 x + \frac{\alpha}{r} B A x,\quad A \text{ frozen}",
        symbols=_LORA_SYMBOLS,
        trainable="B of each adapted layer",
        frozen="W0 and A",
        count_formula=r"r\, d_{out}",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging",
        memory_note="stores the r-dim A·x instead of the d_in-dim input for B's gradient",
        pros=("Half the trainable parameters of LoRA", "Less activation memory"),
        cons=("A random, fixed A limits which subspace of inputs is used",),
        when="When activation memory, not parameter count, is your bottleneck.",
        related=("lora", "vera"),
        size_knob="r",
        hf_peft_type="LORA",
    ),
    MethodSpec(
        key="vera",
        name="VeRA",
        year=2023,
        paper="VeRA: Vector-based Random Matrix Adaptation",
        arxiv="2310.11454",
        idea=(
            "VeRA takes LoRA's idea further: one pair of random matrices A and B is drawn once "
            "and shared, frozen, by every layer of the model. Each layer learns only two "
            "scaling vectors: d scales the r directions of A, b scales the output rows. That is "
            "d_out + r numbers per layer, often ten times fewer than LoRA even at a large rank."
        ),
        formula=r"h = W_0 x + \Lambda_b B \Lambda_d A x",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
            (r"A", r"shared frozen random matrix, $r\times d_{in}$"),
            (r"B", r"shared frozen random matrix, $d_{out}\times r$"),
            (r"\Lambda_d", r"diagonal matrix of the trainable vector $d$ (length $r$, init 0.1)"),
            (r"\Lambda_b", r"diagonal matrix of the trainable vector $b$ (length $d_{out}$, init 0)"),
        ),
        trainable="vectors b and d of each adapted layer",
        frozen="W0 and the shared random A, B (buffers, not parameters)",
        count_formula=r"d_{out} + r",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging",
        memory_note="A and B are stored once for the whole model and regenerated from a seed",
        pros=("Extremely few parameters", "Adapter files of a few kilobytes"),
        cons=("Needs a large r to match LoRA", "Random projections can be less expressive"),
        when="Many tasks or users per base model where adapter size dominates.",
        related=("lora", "lora_fa"),
        size_knob="r",
        hf_peft_type="VERA",
    ),
    MethodSpec(
        key="delta_lora",
        name="Delta-LoRA",
        year=2023,
        paper="Delta-LoRA: Fine-Tuning High-Rank Parameters with the Delta of Low-Rank Matrices",
        arxiv="2309.02411",
        idea=(
            "Delta-LoRA trains A and B like LoRA, but after every optimizer step it also moves "
            "the pretrained weight W by the change of the product B·A in that step, scaled by "
            "λ. W never gets a gradient or optimizer state, so memory stays LoRA-like, yet W "
            "itself moves: the per-step changes add up (telescope) to λ·(α/r)·(B_T A_T − B_K A_K), "
            "a change of rank up to 2r on top of the adapter's own B·A."
        ),
        formula=(
            r"W \leftarrow W + \lambda\,\frac{\alpha}{r}\,\big(B_{t+1}A_{t+1} - B_t A_t\big)"
            r"\quad (t \ge K)"
        ),
        symbols=_LORA_SYMBOLS
        + (
            (r"\lambda", "update ratio (paper: 2)"),
            (r"K", "step from which W starts to move (paper: 500)"),
            (r"t", "optimizer step"),
        ),
        trainable="A and B; W moves without gradients",
        frozen="nothing receives gradients except A and B",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging",
        memory_note="like LoRA: W gets no gradient or optimizer state",
        pros=("Higher-rank total update for LoRA's memory", "Mergeable"),
        cons=("The adapter is not separable: W itself changes", "Two more hyperparameters (λ, K)"),
        when="When LoRA underfits but full fine-tuning does not fit in memory.",
        related=("lora",),
        size_knob="r",
        hf_peft_type=None,
        calculator_note=("Delta-LoRA also updates W without gradients or optimizer states: "
                         "counts and memory as LoRA."),
    ),
    MethodSpec(
        key="lora_plus",
        name="LoRA+",
        year=2024,
        paper="LoRA+: Efficient Low Rank Adaptation of Large Models",
        arxiv="2402.12354",
        idea=(
            "LoRA+ keeps the LoRA layer exactly as it is and changes only the optimizer: B gets "
            "a larger learning rate than A (the paper's rule of thumb: 16 times). In wide "
            "models, A and B play different roles, and one shared learning rate makes feature "
            "learning inefficient; a ratio fixes that and often trains faster."
        ),
        formula=r"h = W_0 x + \frac{\alpha}{r} B A x,\qquad \eta_B = \lambda\,\eta_A",
        symbols=_LORA_SYMBOLS
        + ((r"\eta_A, \eta_B", "learning rates of A and B"), (r"\lambda", "learning-rate ratio (about 16)")),
        trainable="A and B (two optimizer parameter groups)",
        frozen="W0",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging",
        memory_note="identical to LoRA",
        pros=("Free speed-up: same parameters, same memory", "One extra knob"),
        cons=("The ratio is another hyperparameter",),
        when="Whenever you use LoRA and want faster convergence.",
        related=("lora",),
        size_knob="r",
        hf_peft_type="LORA",
        calculator_note=("LoRA+ only changes the learning rates (lr of B = ratio × lr of A): "
                         "counts and memory as LoRA."),
    ),
    MethodSpec(
        key="dora",
        name="DoRA",
        year=2024,
        paper="DoRA: Weight-Decomposed Low-Rank Adaptation",
        arxiv="2402.09353",
        idea=(
            "DoRA splits each weight into a magnitude (the length of each output row) and a "
            "direction (the unit row). The direction is adapted with LoRA, the magnitude is a "
            "trainable vector m. Full fine-tuning changes magnitude and direction somewhat "
            "independently; DoRA lets a low-rank method do the same, which often closes part of "
            "the gap to full fine-tuning."
        ),
        formula=r"W' = m \odot \frac{W_0 + \frac{\alpha}{r} B A}{\lVert W_0 + \frac{\alpha}{r} B A \rVert_{row}}",
        symbols=_LORA_SYMBOLS
        + (
            (r"m", r"trainable magnitude, one per output row (init $\lVert W_0\rVert_{row}$)"),
            (r"\lVert\cdot\rVert_{row}", r"norm of each output row over $d_{in}$ (detached in backward)"),
        ),
        trainable="A, B and the magnitude vector m",
        frozen="W0",
        count_formula=r"r\,(d_{in} + d_{out}) + d_{out}",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; the row norm costs extra while training",
        memory_note="slightly more than LoRA: the adapted weight is formed to take its norm",
        pros=("Often closer to full fine-tuning than LoRA", "Mergeable"),
        cons=("Slower training steps than LoRA",),
        when="When LoRA's quality falls short at the same rank.",
        related=("lora",),
        size_knob="r",
        hf_peft_type="LORA",
    ),
    MethodSpec(
        key="qlora",
        name="QLoRA",
        year=2023,
        paper="QLoRA: Efficient Finetuning of Quantized LLMs",
        arxiv="2305.14314",
        idea=(
            "QLoRA stores the frozen base model in 4 bits with the NormalFloat (NF4) data type, "
            "whose 16 levels are placed where normally distributed weights are dense. Each "
            "block of 64 weights shares one scale, and those scales are quantized again (double "
            "quantization). The weights are dequantized on the fly in each forward pass, and "
            "LoRA adapters in full precision learn on top — a 65B model fits on one 48 GB GPU."
        ),
        formula=r"h = \mathrm{dequant}_{NF4}(W_0)\, x + \frac{\alpha}{r} B A x",
        symbols=_LORA_SYMBOLS
        + ((r"\mathrm{dequant}_{NF4}", "4-bit codes × per-block absmax scale, back to floats"),),
        trainable="LoRA's A and B",
        frozen="W0, stored as 4-bit NF4 codes plus block scales",
        count_formula=r"r\,(d_{in} + d_{out})",
        family="quantized",
        mergeable=False,
        inference_cost="dequantization on every forward; merging would need re-quantization",
        memory_note="about 4.127 bits per frozen weight with double quantization",
        pros=("Base weights take a quarter of 16-bit memory", "Quality close to 16-bit LoRA"),
        cons=("Slower steps (dequantization)", "Small quantization error in the base"),
        when="When the model does not fit in GPU memory in 16 bits.",
        related=("lora",),
        size_knob="r",
        hf_peft_type="LORA",
        calculator_note="QLoRA: LoRA on a base whose block linear layers are stored in NF4.",
    ),
    MethodSpec(
        key="prompt_tuning",
        name="Prompt tuning",
        year=2021,
        paper="The Power of Scale for Parameter-Efficient Prompt Tuning",
        arxiv="2104.08691",
        idea=(
            "Instead of changing any weight, prompt tuning learns a handful of 'virtual token' "
            "embeddings that are prepended to every input. The whole model stays frozen; "
            "gradients flow back through it only to update these vectors. It is the soft, "
            "learned version of writing a good prompt, and gets close to full fine-tuning on "
            "very large models."
        ),
        formula=r"\tilde{X} = [P; X],\quad P \in \mathbb{R}^{n \times d}",
        symbols=(
            (r"P", "trainable virtual-token embeddings"),
            (r"X", "embeddings of the real input tokens"),
            (r"n", "number of virtual tokens"),
            (r"d", "model (embedding) width"),
        ),
        trainable="n virtual-token embeddings",
        frozen="the entire model",
        count_formula=r"n\, d",
        family="soft prompt",
        mergeable=False,
        inference_cost="n more tokens in every sequence",
        memory_note="tiny parameter count, but backprop still runs through the whole model",
        pros=("Fewest parameters of all", "One frozen model serves mixed-task batches"),
        cons=("Weak on small models", "Uses part of the context window", "Sensitive to initialisation"),
        when="Very large models and many tasks served from one deployment.",
        related=("prefix_tuning",),
        size_knob="n_tokens",
        hf_peft_type="PROMPT_TUNING",
    ),
    MethodSpec(
        key="prefix_tuning",
        name="Prefix tuning",
        year=2021,
        paper="Prefix-Tuning: Optimizing Continuous Prompts for Generation",
        arxiv="2101.00190",
        idea=(
            "Prefix tuning prepends trainable vectors not to the input but to the keys and "
            "values of attention in every layer. Each layer's tokens can attend to these virtual "
            "positions, which steer the model more strongly than input-only prompts at the "
            "same length, while the model's own weights stay frozen."
        ),
        formula=r"\mathrm{head} = \mathrm{Attn}\big(x W_q,\ [P_k; x W_k],\ [P_v; x W_v]\big)",
        symbols=(
            (r"P_k, P_v", r"trainable prefix keys and values, $n\times d$ per layer"),
            (r"W_q, W_k, W_v", "frozen attention projections"),
            (r"n", "number of virtual tokens"),
        ),
        trainable="n key and n value vectors in every layer",
        frozen="the entire model",
        count_formula=r"n \cdot L \cdot 2\, d",
        family="soft prompt",
        mergeable=False,
        inference_cost="n more keys/values in every attention layer",
        memory_note="small parameter count; attention over n extra positions",
        pros=("Stronger than prompt tuning at small sizes", "No weight changes"),
        cons=("Can be unstable to train", "Extra attention cost"),
        when="Generation tasks with a frozen shared model.",
        related=("prompt_tuning",),
        size_knob="n_tokens",
        hf_peft_type="PREFIX_TUNING",
    ),
    MethodSpec(
        key="adapter",
        name="Adapter layers",
        year=2019,
        paper="Parameter-Efficient Transfer Learning for NLP",
        arxiv="1902.00751",
        idea=(
            "Houlsby adapters insert small bottleneck layers inside every transformer block, "
            "after the attention and after the feed-forward sub-layer. Each squeezes the hidden "
            "state down to m dimensions, applies a non-linearity and projects back up, added as "
            "a residual. Initialised near zero, the model starts as the pretrained one."
        ),
        formula=r"h \leftarrow h + W_{up}\, f(W_{down} h + b_{down}) + b_{up}",
        symbols=(
            (r"W_{down}", r"down-projection, $m\times d$"),
            (r"W_{up}", r"up-projection, $d\times m$ (near zero at start)"),
            (r"f", "non-linearity (GELU)"),
            (r"m", "bottleneck size"),
            (r"d", "model width"),
        ),
        trainable="two bottleneck adapters per block",
        frozen="all pretrained weights",
        count_formula=r"2\,d\,m + d + m \ \text{per adapter}",
        family="additive",
        mergeable=False,
        inference_cost="two extra small layers per block, run in sequence",
        memory_note="few parameters; the extra layers add activations",
        pros=("Modular: swap adapters per task", "Strong results with few parameters"),
        cons=("Adds inference latency (not mergeable)",),
        when="Multi-task setups where adapters are swapped; when latency is not critical.",
        related=("ia3", "lora"),
        size_knob="bottleneck",
        hf_peft_type=None,
    ),
    MethodSpec(
        key="ia3",
        name="(IA)³",
        year=2022,
        paper="Few-Shot Parameter-Efficient Fine-Tuning is Better and Cheaper than In-Context Learning",
        arxiv="2205.05638",
        idea=(
            "(IA)³ — Infused Adapter by Inhibiting and Amplifying Inner Activations — learns "
            "three vectors per block that rescale the attention keys, the attention values and "
            "the feed-forward activations element by element. Starting from ones, they only "
            "turn existing features up or down, which is enough for few-shot adaptation with "
            "about a hundredth of LoRA's parameters."
        ),
        formula=r"k = l_k \odot (W_k x),\quad v = l_v \odot (W_v x),\quad h = W_{down}\,(l_{ff} \odot a)",
        symbols=(
            (r"l_k, l_v", "trainable scales of keys and values (init 1)"),
            (r"l_{ff}", "trainable scale of the feed-forward activation (init 1)"),
            (r"a", "input of the feed-forward down-projection"),
            (r"\odot", "element-wise product"),
        ),
        trainable="scaling vectors l_k, l_v, l_ff per block",
        frozen="all weights",
        count_formula=r"d_{out}\ (\text{k, v}),\ d_{in}\ (\text{FFN})",
        family="scaling",
        mergeable=True,
        inference_cost="none after merging into the scaled weights",
        memory_note="almost no parameters; activations as usual",
        pros=("Tiny: a few vectors per block", "Mergeable"),
        cons=("Only rescales existing features: less capacity",),
        when="Few-shot adaptation and very many task variants.",
        related=("adapter", "vera"),
        size_knob="",
        hf_peft_type="IA3",
    ),
    MethodSpec(
        key="bitfit",
        name="BitFit",
        year=2021,
        paper="BitFit: Simple Parameter-efficient Fine-tuning for Transformer-based Masked Language-models",
        arxiv="2106.10199",
        idea=(
            "Freeze every weight matrix and let only the bias vectors train: the b of every "
            "projection, feed-forward layer and layer norm. Biases are about a thousandth of a "
            "BERT model, yet shifting each neuron's output turns out to be enough for many "
            "classification tasks. Nothing is added, so the result is a plain model. The paper "
            "trains all biases (0.08 % of BERT-large) and also a smaller subset, only the query "
            "bias and the second feed-forward bias (0.04 %), nearly as good; peft_edu trains all."
        ),
        formula=r"y = W_0 x + b,\quad \text{only } b \text{ trains}",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
            (r"b", r"the layer's bias vector, $d_{out}$ (trainable)"),
            (r"x", "layer input"),
            (r"y", "layer output"),
        ),
        trainable="every bias vector (projections, feed-forward layers, layer norms) and the head",
        frozen="every weight matrix, the norms' gains and the embeddings",
        count_formula=r"d_{out}",
        family="additive",
        mergeable=True,
        inference_cost="none: the trained biases are the model's own",
        memory_note="gradients and Adam states for the biases only; activations about as for a frozen model",
        pros=(
            "The cheapest real baseline: about 0.1 % of the parameters, nothing to merge",
            "Tiny per-task files: one vector per layer",
        ),
        cons=(
            "Cannot change what a layer reads, only shift its output: less capacity than LoRA",
            "Llama-family models have no bias terms, so there is nothing to train",
        ),
        when="A first, very cheap baseline on encoder models (BERT, RoBERTa), small or medium data.",
        related=("ln_tuning", "ia3", "full"),
        size_knob="",
        hf_peft_type=None,
        calculator_note="BitFit: Llama and Mistral have no bias terms, so BitFit trains nothing there.",
    ),
    MethodSpec(
        key="ln_tuning",
        name="LN tuning",
        year=2023,
        paper="Tuning LayerNorm in Attention: Towards Efficient Multi-Modal LLM Finetuning",
        arxiv="2312.11420",
        idea=(
            "Train only the normalisation layers: the gain and the bias of every LayerNorm (the "
            "gain of every RMSNorm). A norm decides the scale and offset of each feature that the "
            "next block sees, so tuning it re-targets the whole model to a new domain while every "
            "weight matrix stays frozen. It is even smaller than BitFit — two vectors per norm — "
            "and the paper finds it a strong baseline for adapting large models."
        ),
        formula=r"\mathrm{LN}(x) = \gamma \odot \frac{x - \mu}{\sigma} + \beta,\quad \text{only } \gamma, \beta \text{ train}",
        symbols=(
            (r"x", r"the norm's input, $d$ features"),
            (r"\mu, \sigma", "mean and standard deviation of x over its features"),
            (r"\gamma", r"gain, $d$ (trainable)"),
            (r"\beta", r"bias, $d$ (trainable; RMSNorm has none and divides by the root mean square)"),
            (r"\odot", "element-wise product"),
        ),
        trainable="gain and bias of every normalisation layer, and the head",
        frozen="every weight matrix, every linear bias and the embeddings",
        count_formula=r"2d \text{ per LayerNorm},\ d \text{ per RMSNorm}",
        family="scaling",
        mergeable=True,
        inference_cost="none: the tuned norms are the model's own",
        memory_note="gradients and Adam states for the norms only; activations as for a frozen model",
        pros=("The fewest trainable numbers of any method here", "Nothing to merge; peft has it (LN_TUNING)"),
        cons=("Only rescales and shifts features: the least capacity", "Usually below LoRA on harder tasks"),
        when="The cheapest baseline, or when many task variants must be stored for one large model.",
        related=("bitfit", "ia3", "adapter"),
        size_knob="",
        hf_peft_type="LN_TUNING",
    ),
    MethodSpec(
        key="galore",
        name="GaLore",
        year=2024,
        paper="GaLore: Memory-Efficient LLM Training by Gradient Low-Rank Projection",
        arxiv="2403.03507",
        idea=(
            "Not an adapter but an optimizer: every weight of the chosen layers trains in full, "
            "but Adam sees only a rank-r projection of its gradient. Every T steps the top-r "
            "singular vectors of the current gradient become the projector P; Adam's two moments "
            "live in that r-dimensional subspace, so the optimizer keeps 2·r·n numbers per weight "
            "instead of 2·m·n. Because P changes every T steps, the total change of W is not "
            "limited to rank r, which is why GaLore can pre-train where LoRA cannot."
        ),
        formula=r"R_t = P_t^\top G_t,\quad W \leftarrow W - \eta\,\alpha\, P_t\, \mathrm{Adam}(R_t)",
        symbols=(
            (r"W", r"a trained weight, $m\times n$ (it trains in full)"),
            (r"G_t", r"its gradient at step $t$, $m\times n$"),
            (r"P_t", r"top-$r$ left singular vectors of $G$, $m\times r$, recomputed every $T$ steps "
                     r"(right ones, $r\times n$, when $m \ge n$)"),
            (r"R_t", r"the projected gradient, $r\times n$: Adam's moments have this shape"),
            (r"\eta", "learning rate"),
            (r"\alpha", "GaLore's scale (0.25)"),
        ),
        trainable="every weight of the chosen linear layers (their biases stay frozen here), and the head",
        frozen="the other layers, every bias, the embeddings and the norms",
        count_formula=r"m \cdot n \text{ per layer};\ \text{optimizer state } 2rn + mr \text{ instead of } 2mn",
        family="low-rank",
        mergeable=True,
        inference_cost="none: the trained W is an ordinary weight",
        memory_note="full weights and gradients, but Adam's states only 2·r·n per weight (plus the m·r projector)",
        pros=("Full-rank learning: the total update is not limited to rank r",
              "Optimizer memory cut by about n/r-fold; usable for pre-training"),
        cons=("Gradients and weights stay full size: saves optimizer state only",
              "An SVD of each gradient every T steps; the saved result is whole weights"),
        when="Pre-training or full fine-tuning when Adam's states are what does not fit in memory.",
        related=("full", "relora", "lora"),
        size_knob="r",
        hf_peft_type=None,
        calculator_note="GaLore: every targeted weight trains, so the count is the full layers'; the "
                        "optimizer-state bar shows the projected states (2·r·n + m·r per weight).",
    ),
    MethodSpec(
        key="relora",
        name="ReLoRA",
        year=2023,
        paper="ReLoRA: High-Rank Training Through Low-Rank Updates",
        arxiv="2307.05695",
        idea=(
            "LoRA, restarted: every K steps the low-rank update B·A is merged into W, a fresh "
            "A and B = 0 start again, most of the optimizer state is pruned and the learning rate "
            "warms up again (a jagged cosine). Each round adds at most rank r, but the rounds add "
            "up: after k restarts the total change W − W₀ can reach rank k·r, so a sequence of "
            "cheap low-rank updates trains a high-rank change, as pre-training needs."
        ),
        formula=r"W \leftarrow W + \frac{\alpha}{r} B A \text{ every } K \text{ steps};\quad "
                r"W - W_0 = \sum_{i=1}^{k} \frac{\alpha}{r} B_i A_i",
        symbols=(
            (r"W", r"the layer's weight, $d_{out}\times d_{in}$: frozen between restarts"),
            *_LORA_SYMBOLS[1:],
            (r"K", "optimizer steps between restarts (paper: 5000)"),
            (r"k", "restarts so far; the total change has rank at most k·r"),
            (r"B_i A_i", r"the update of round $i$, merged into $W$ at its end"),
        ),
        trainable="one pair A (r × d_in), B (d_out × r) per adapted layer at a time, and the head",
        frozen="the base weights between restarts (each restart adds the merged B·A to them)",
        count_formula=r"r \cdot (d_{in} + d_{out}) \text{ per layer}",
        family="low-rank",
        mergeable=True,
        inference_cost="none: every round is merged into W",
        memory_note="LoRA's memory; the restarts cost a merge every K steps, nothing more",
        pros=("LoRA's memory, but the total update can exceed rank r",
              "Nothing extra at inference: everything ends in W"),
        cons=("Needs restarts, state pruning and a jagged schedule tuned together",
              "The result is whole merged weights, not a small adapter"),
        when="Pre-training or long training runs where LoRA's single rank-r update is too little.",
        related=("lora", "delta_lora", "galore"),
        size_knob="r",
        hf_peft_type=None,
    ),
    MethodSpec(
        key="adalora",
        name="AdaLoRA",
        year=2023,
        paper="AdaLoRA: Adaptive Budget Allocation for Parameter-Efficient Fine-Tuning",
        arxiv="2303.10512",
        idea=(
            "LoRA gives every layer the same rank, although some layers matter far more to a task "
            "than others. AdaLoRA writes each update like a singular value decomposition, P·diag(λ)·Q, "
            "keeps P and Q nearly orthogonal with a penalty, and scores every triplet (a column of P, "
            "its λ, a row of Q) by how much the loss depends on it. During training the total rank "
            "budget shrinks on a cubic schedule and the λ of the least important triplets are set to "
            "zero, so the rank moves to the layers that need it."
        ),
        formula=r"h = W_0 x + s\, P \Lambda Q x,\quad \mathcal{L} = \mathcal{C} + \gamma \sum_k "
                r"\left(\lVert P_k^\top P_k - I\rVert_F^2 + \lVert Q_k Q_k^\top - I\rVert_F^2\right)",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
            (r"P", r"left vectors, $d_{out}\times r_0$ (trainable, Gaussian start)"),
            (r"\Lambda", r"$\mathrm{diag}(\lambda)$, $r_0$ singular values (trainable, start at zero; pruned ones set to 0)"),
            (r"Q", r"right vectors, $r_0\times d_{in}$ (trainable, Gaussian start)"),
            (r"s", r"scale $\alpha / r_0$ (the paper: 1)"),
            (r"r_0", r"starting rank of every layer (peft's init_r); the budget falls to $n \cdot r$, r the target average rank"),
            (r"\mathcal{C}", "the task loss"),
            (r"\gamma", "weight of the orthogonality penalty (0.1 in the authors' runs; peft 0.5 on a different form)"),
            (r"k", "the adapted layers"),
            (r"x", "layer input"),
            (r"h", "layer output"),
        ),
        trainable="P, λ and Q of every adapted layer (all r0 triplets; pruned ones have λ = 0), and the head",
        frozen="every pretrained weight",
        count_formula=r"r_0\,(d_{in} + d_{out} + 1) \text{ while training; kept: } r_k\,(d_{in} + d_{out} + 1)",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; LoRA's thin matmul pair (at rank r0) if kept separate",
        memory_note="LoRA's at rank r0 plus λ, and two importance averages per trainable number (buffers)",
        pros=(
            "The rank goes where the task needs it: a fixed budget used better than LoRA's even split",
            "peft has it (ADALORA); merges into W like LoRA",
        ),
        cons=(
            "More knobs: target and starting rank, schedule t_i, t_f, ΔT and the run's total steps",
            "Trains r0 > r triplets at first: more memory and compute than LoRA at the target rank",
        ),
        when="When the parameter budget is tight and you do not know which layers deserve the rank.",
        related=("lora", "pissa", "dora"),
        size_knob="r",
        hf_peft_type="ADALORA",
        calculator_note="AdaLoRA: the count is what trains (r0 = init_r triplets per layer, r0 = ⌈1.5 r⌉ "
                        "unless set); the final kept triplets total n·r, split by importance.",
    ),
    MethodSpec(
        key="lokr",
        name="LoKr",
        year=2023,
        paper="Navigating Text-To-Image Customization: From LyCORIS Fine-Tuning to Model Evaluation",
        arxiv="2309.14859",
        idea=(
            "Write the weight update as the Kronecker product of two small matrices, C ⊗ D: every "
            "entry of C scales a whole copy of D, so a 16 × 16 C and a 24 × 24 D fill a 384 × 384 "
            "matrix. Ranks multiply, rank(C ⊗ D) = rank C · rank D, so the update is not capped at a "
            "small r as LoRA's is, and when D is itself low-rank (D = D_a·D_b) the count falls far "
            "below LoRA's at the same ΔW shape. The factor sizes come from splitting d_out and d_in "
            "into two factors each, near their square roots (peft's factorization)."
        ),
        formula=r"h = W_0 x + \frac{\alpha}{r}\,(C \otimes D)\,x,\quad D = D_a D_b \text{ when } r < \tfrac{1}{2}\max(u_2, v_2)",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$"),
            (r"C", r"left factor, $u_1\times v_1$ (peft's lokr_w1; starts at zero)"),
            (r"D", r"right factor, $u_2\times v_2$ (lokr_w2), or $D_a D_b$ of rank $r$ (lokr_w2_a, lokr_w2_b)"),
            (r"\otimes", r"Kronecker product: block $(i, j)$ of $C \otimes D$ is $C_{ij} D$"),
            (r"u_1 u_2,\ v_1 v_2", r"$u_1 u_2 = d_{out}$, $v_1 v_2 = d_{in}$: each split near its square root ($u_1 \le u_2$, $v_1 \le v_2$)"),
            (r"r", "rank of a low-rank factor, and the r of the scaling"),
            (r"\alpha", r"scaling constant; the update is scaled by $\alpha/r$ (as peft, even when no factor is low-rank)"),
            (r"x", "layer input"),
            (r"h", "layer output"),
        ),
        trainable="C and D (or D's factors D_a, D_b) of each adapted layer, and the head",
        frozen=r"W0 and everything not adapted",
        count_formula=r"u_1 v_1 + \begin{cases} r\,(u_2 + v_2) & r < \max(u_2, v_2)/2 \\ u_2 v_2 & \text{else} \end{cases}"
                      r"\quad(\text{decompose\_both: } C \text{ likewise})",
        family="low-rank",
        mergeable=True,
        inference_cost="none after merging; one d_out × d_in matrix built from C ⊗ D per pass if kept separate",
        memory_note="LoRA's activations (each adapted layer's input) plus ΔW built once per layer and pass",
        pros=(
            "Far fewer parameters than LoRA at the same ΔW shape (4096 × 4096, r = 8: 5,120 vs 65,536)",
            "High rank for its size: rank C · rank D (up to 512 at 4096 × 4096, r = 8)",
            "Mergeable, and peft has it (LOKR)",
        ),
        cons=(
            "A structured update: block (i, j) of ΔW is always C_ij times the same D",
            "Factor sizes follow the divisors of d: a prime width gives a 1 × 1 C",
            "Builds the full d_out × d_in ΔW in every forward pass (as peft)",
        ),
        when="When LoRA's adapter is too large for the budget, or a high-rank update is wanted from few numbers.",
        related=("lora", "vera", "dora"),
        size_knob="r",
        hf_peft_type="LOKR",
        calculator_note="LoKr: counts follow peft's factor sizes; a factor is low-rank only where r is below "
                        "half of its larger side, so the count is not linear in r.",
    ),
    MethodSpec(
        key="oft",
        name="OFT",
        year=2023,
        paper="Controlling Text-to-Image Diffusion by Orthogonal Finetuning",
        arxiv="2306.07280",
        idea=(
            "Multiply instead of add: OFT turns every neuron of a layer (a row of W0) by the same "
            "orthogonal matrix R. A rotation keeps lengths and angles, so each neuron keeps its norm "
            "and every pair keeps the angle between them — the relations the pretrained model learnt "
            "(the paper's hyperspherical energy) — while LoRA's additive update changes them. R is "
            "block-diagonal and built from a skew-symmetric S by the Cayley transform, so it is "
            "orthogonal at every step without any penalty; S = 0 gives R = I, the base model."
        ),
        formula=r"h = W_0 R^\top x,\quad R = \mathrm{diag}(R_1, \dots, R_n),\quad "
                r"R_i = (I + S_i)(I - S_i)^{-1},\ S_i^\top = -S_i",
        symbols=(
            (r"W_0", r"frozen pretrained weight, $d_{out}\times d_{in}$, one neuron per row "
                     r"(the paper writes $W = R W_0$ with $W_0$ as $d_{in}\times d_{out}$)"),
            (r"R", r"orthogonal, $d_{in}\times d_{in}$, acting on the input side (as peft): "
                   r"each neuron $w_j$ becomes $R w_j$"),
            (r"R_i", r"block $i$ of $R$, $b\times b$; $n = d_{in}/b$ blocks"),
            (r"S_i", r"skew-symmetric $b\times b$: its $b(b-1)/2$ upper entries train (start at 0)"),
            (r"b", "block size (peft's oft_block_size, default 32; the paper instead sets the block count r)"),
            (r"I", "identity matrix"),
            (r"x", "layer input"),
            (r"h", "layer output"),
        ),
        trainable="the upper-triangular entries of every block's skew-symmetric S, in each adapted layer, "
                  "and the head",
        frozen="W0 and everything not adapted",
        count_formula=r"n \cdot b(b-1)/2 = d_{in}(b-1)/2\ \ (\text{block\_share: } b(b-1)/2)",
        family="scaling",
        mergeable=True,
        inference_cost="none after merging (W0 ← W0 Rᵀ); a block rotation of the input per pass if kept separate",
        memory_note="keeps each adapted layer's input for R's gradient, like LoRA; one b × b solve per block per pass",
        pros=(
            "Keeps every neuron's norm and the angles between neurons: less forgetting of what was learnt",
            "Orthogonal by construction (Cayley): no penalty, no drift; mergeable, and peft has it (OFT)",
        ),
        cons=(
            "Can only rotate: the neurons' lengths never change, so some updates are out of reach",
            "A b × b solve per block per step; peft's faster default is an approximation (Cayley-Neumann)",
        ),
        when="When keeping the pretrained model's knowledge matters (diffusion models, small data, no forgetting).",
        related=("lora", "ia3", "dora"),
        size_knob="block_size",
        hf_peft_type="OFT",
        calculator_note="OFT: the count depends on d_in and the block size b only (d_in (b − 1) / 2 per layer); "
                        "peft's default oft_block_size 32 is used, moved to the nearest divisor of d_in where needed.",
    ),
)

#: key -> MethodSpec, in teaching order (baseline first).
METHODS: dict[str, MethodSpec] = {spec.key: spec for spec in _SPECS}


def get_method(key: str) -> MethodSpec:
    """Look a method up by key, with an error that lists the valid keys."""
    try:
        return METHODS[key]
    except KeyError:
        raise ValueError(f"unknown method {key!r}; choose one of: {', '.join(METHODS)}") from None
