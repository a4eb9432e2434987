"""One module per PEFT method; the module name is the registry key.

Protocol every method module follows (``peft_edu.inject`` relies on it):

``Config``
    A frozen dataclass of the method's knobs, a comment per field, defaults as in
    Hugging Face ``peft`` (see REFERENCE.md). ``__post_init__`` validates and raises
    ``ValueError`` naming the valid range (e.g. "r must be >= 1, got 0").

``layer_params(d_out, d_in, cfg) -> int``
    Closed-form count of trainable parameters the method adds to ONE adapted linear
    layer of shape (d_out, d_in). Methods that work per model rather than per layer
    (prompt and prefix tuning) raise ``ValueError`` saying so.

``inject(model, cfg, arch) -> None``
    Modifies the (already frozen) model in place: wraps target linear layers (the frozen
    layer is kept as ``.base``) or attaches the method's modules. ``arch`` is the
    architecture description from ``peft_edu.models.arch_of(model)``.

Each module's docstring names the paper (arXiv id) and gives the formula; the layer code
is shown to learners on the method's page, so it is written to be read.
"""
