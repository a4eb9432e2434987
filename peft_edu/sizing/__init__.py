"""The calculator's engine: its configuration and URL (``config``), whole-model counts and
memory (``estimate``), the memory terms (``memory``), activation bytes (``activations``), what
each method makes autograd keep (``profile``: the data the method modules state) and the
papers' own numbers (``paper_counts``)."""
