"""knn_classify: the k-NN vote that scores a headless teacher."""
import math

import torch

from vitkd_mm.engine.runner import knn_classify


def test_knn_classify_matches_a_hand_computed_vote():
    torch.manual_seed(0)
    bank, labels = torch.randn(9, 4), torch.tensor([0, 1, 2] * 3)
    queries = torch.randn(5, 4)
    k, temperature = 4, 0.5
    scores = knn_classify(bank, labels, queries, 3, k, temperature)
    for q, query in enumerate(queries):
        cosines = [float(query @ b / (query.norm() * b.norm())) for b in bank]
        nearest = sorted(range(9), key=lambda i: -cosines[i])[:k]
        votes = [0.] * 3
        for i in nearest:
            votes[int(labels[i])] += math.exp(cosines[i] / temperature)
        expected = torch.tensor(votes) / sum(votes)
        torch.testing.assert_close(scores[q], expected)
