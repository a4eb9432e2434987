"""Fine-tuning an embedding model for semantic search (the Semantic search lab's engine).

- ``data``: the shipped help-desk retrieval set and learners' ``query,passage`` uploads.
- ``model``: all-MiniLM-L6-v2 as a sentence encoder (mean pooling + L2 normalisation).
- ``loss``: the multiple-negatives ranking loss (in-batch negatives).
- ``metrics``: recall@k, MRR@10 and nDCG@10 over the whole corpus.
- ``train``: the training loop, any peft_edu method, with progress callbacks for the lab's jobs.
- ``probe``: what the page draws as training goes (cosine histograms, a 2-D projection).
"""
