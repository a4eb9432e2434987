"""The multiple-negatives ranking loss (in-batch negatives; Henderson et al. 2017, arXiv
1705.00652; InfoNCE, arXiv 1807.03748), as sentence-transformers' MultipleNegativesRankingLoss.

For a batch of n pairs (q_i, p_i): ``s_ij = scale · cos(q_i, p_j)`` and the loss is the mean
over i of the cross-entropy of row i with target i. Every other passage in the batch is a
negative for q_i, so a bigger batch gives more negatives per step, and a duplicate of p_i
elsewhere in the batch is a false negative that the loss pushes away.
"""
from __future__ import annotations

import torch
from torch import nn

SCALE = 20.0  # sentence-transformers' default: the inverse temperature of the softmax


def similarity_matrix(queries: torch.Tensor, passages: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """(n, n) scaled cosine similarities; row i holds q_i against every passage of the batch."""
    q = nn.functional.normalize(queries, p=2, dim=-1)  # a no-op for our unit embeddings; kept for any input
    p = nn.functional.normalize(passages, p=2, dim=-1)
    return scale * q @ p.T


def mnrl(queries: torch.Tensor, passages: torch.Tensor, scale: float = SCALE) -> torch.Tensor:
    """Multiple-negatives ranking loss of (n, d) query and passage embeddings (pair i matches)."""
    scores = similarity_matrix(queries, passages, scale)
    target = torch.arange(scores.shape[0], device=scores.device)  # the positive sits on the diagonal
    return nn.functional.cross_entropy(scores, target)
