"""Retrieval metrics over the whole corpus, one relevant passage per query.

With ``rank`` the 1-based position of the relevant passage when the corpus is sorted by
cosine similarity to the query (as in BEIR and sentence-transformers'
InformationRetrievalEvaluator):

- recall@k: share of queries whose relevant passage is in the top k;
- MRR@10: mean of 1/rank, counting 0 when rank > 10 (rewards putting it first);
- nDCG@10: mean of 1/log2(1 + rank), 0 beyond 10 (with one relevant passage the ideal DCG is 1).
"""
from __future__ import annotations

import math

import torch

KS = (1, 5, 10)  # the recall cut-offs the page reports
CUTOFF = 10  # MRR and nDCG look at the first 10 results


def ranks(queries: torch.Tensor, corpus: torch.Tensor, relevant: torch.Tensor) -> torch.Tensor:
    """1-based rank of each query's relevant passage: 1 + passages scoring strictly higher.

    ``queries`` (Q, d) and ``corpus`` (N, d) are unit embeddings, ``relevant`` (Q,) indexes the
    corpus. Ties go in the query's favour (exact ties do not occur with real embeddings)."""
    scores = queries @ corpus.T  # (Q, N) cosine similarities
    own = scores.gather(1, relevant.view(-1, 1))  # (Q, 1)
    return 1 + (scores > own).sum(dim=1)


def from_ranks(rank: torch.Tensor) -> dict[str, float]:
    """recall@1/5/10, MRR@10 and nDCG@10 (fractions in [0, 1]) from the relevant ranks."""
    values = [int(r) for r in rank]
    n = max(1, len(values))
    out = {f"recall@{k}": sum(r <= k for r in values) / n for k in KS}
    out["MRR@10"] = sum(1 / r for r in values if r <= CUTOFF) / n
    out["nDCG@10"] = sum(1 / math.log2(1 + r) for r in values if r <= CUTOFF) / n
    return out


def retrieval_metrics(queries: torch.Tensor, corpus: torch.Tensor, relevant) -> dict[str, float]:
    """The page's five numbers for query embeddings against the whole corpus."""
    return from_ranks(ranks(queries, corpus, torch.as_tensor(relevant, dtype=torch.long)))


def truncated(embeddings: torch.Tensor, dims: int) -> torch.Tensor:
    """The first ``dims`` coordinates, renormalised to unit length (a cut embedding, as vector
    stores do to save space; MiniLM was not trained for it, Matryoshka models are)."""
    return torch.nn.functional.normalize(embeddings[:, :dims], p=2, dim=-1)


def top_k(query: torch.Tensor, corpus: torch.Tensor, k: int = 5) -> list[tuple[int, float]]:
    """(corpus index, cosine) of the ``k`` passages nearest to one query embedding (d,)."""
    scores = corpus @ query
    values, index = scores.topk(min(k, scores.shape[0]))
    return [(int(i), float(v)) for i, v in zip(index, values)]
