"""The frozen teacher scored as distillation runs it.

The teacher's predictions come from :meth:`SingleTeacherDistill.
teacher_forward`, the path training uses (the student's data preprocessor,
then ``teacher_input`` and ``teacher_precision``). A classifier teacher is
scored by the validation evaluator; a headless one (DINOv2) by a k-NN
classifier on its pooled features (the DINO protocol), whose predictions go
through the same evaluator.
"""
import copy
import random
from typing import Callable, Iterable, Optional

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.model import is_model_wrapper
from mmengine.registry import DATASETS
from torch import nn
from torch.utils.data import DataLoader, Subset


def distillation_model(model: nn.Module, owner: str) -> nn.Module:
    """The :class:`SingleTeacherDistill` inside a (DDP-wrapped) model.

    Raises:
        TypeError: Naming ``owner`` if the model distils nothing.
    """
    from vitkd_mm.models.algorithms import SingleTeacherDistill
    model = model.module if is_model_wrapper(model) else model
    if not isinstance(model, SingleTeacherDistill):
        raise TypeError(f'{owner} needs a SingleTeacherDistill model, got '
                        f'{type(model).__name__}.')
    return model


def pooled_features(features) -> torch.Tensor:
    """One (B, C) feature per image from a backbone/neck output.

    The last output of a tuple; a (B, C) tensor as is (a ViT's cls token),
    tokens (B, N, C) and maps (B, C, H, W) averaged.
    """
    if isinstance(features, (tuple, list)):
        features = features[-1]
    if isinstance(features, (tuple, list)):  # (patch tokens, cls token)
        features = features[-1]
    if features.dim() == 3:
        return features.mean(1)  # B, N, C -> B, C
    if features.dim() == 4:
        return features.mean((2, 3))  # B, C, H, W -> B, C
    return features


def knn_classify(bank: torch.Tensor,
                 bank_labels: torch.Tensor,
                 queries: torch.Tensor,
                 num_classes: int,
                 k: int = 20,
                 temperature: float = 0.07) -> torch.Tensor:
    """Class scores of a weighted k-NN vote (DINO's protocol).

    Each query's ``k`` most cosine-similar bank features vote for their
    labels with weight ``exp(similarity / temperature)``.

    Args:
        bank (Tensor): Features of labelled images, (M, C).
        bank_labels (Tensor): Their labels, (M,).
        queries (Tensor): Features to classify, (Q, C).
        num_classes (int): Number of classes.
        k (int): Neighbours. Defaults to 20.
        temperature (float): Vote temperature. Defaults to 0.07.

    Returns:
        Tensor: Normalised votes, (Q, num_classes).

    Examples:
        >>> bank = torch.tensor([[1., 0.], [0., 1.], [1., .1]])
        >>> knn_classify(bank, torch.tensor([0, 1, 0]),
        ...              torch.tensor([[1., .05]]), 2, k=2).argmax(1)
        tensor([0])
    """
    similarity = F.normalize(
        queries.float(), dim=1) @ F.normalize(
            bank.float(), dim=1).t()  # Q, M
    top, index = similarity.topk(min(k, bank.size(0)), dim=1)  # Q, k
    weights = (top / temperature).exp()
    votes = torch.zeros(queries.size(0), num_classes)
    votes.scatter_add_(1, bank_labels[index], weights)
    return votes / votes.sum(1, keepdim=True)


def knn_bank_loader(cfg: Config, num_train: int, batch_size: int,
                    collate_fn: Callable) -> DataLoader:
    """``num_train`` training images of ``cfg`` (a seeded draw), with the
    validation pipeline, as the labelled bank of a k-NN."""
    dataset_cfg = copy.deepcopy(cfg.train_dataloader['dataset'])
    dataset_cfg['pipeline'] = copy.deepcopy(
        cfg.val_dataloader['dataset']['pipeline'])
    dataset = DATASETS.build(dataset_cfg)
    size = min(num_train, len(dataset))
    indices = sorted(random.Random(0).sample(range(len(dataset)), size))
    return DataLoader(
        Subset(dataset, indices), batch_size=batch_size, collate_fn=collate_fn)


def _labels(data_samples) -> torch.Tensor:
    return torch.cat([sample.gt_label.view(-1)[:1] for sample in data_samples])


def feature_bank(model: nn.Module, loader: Iterable):
    """Pooled teacher features and labels of every image of ``loader``."""
    features, labels = [], []
    for data_batch in loader:
        data = model.data_preprocessor(data_batch, False)
        feats = model.teacher_forward(data['inputs'], mode='tensor')
        features.append(pooled_features(feats).float().cpu())
        labels.append(_labels(data['data_samples']))
    return torch.cat(features), torch.cat(labels)


def evaluate_teacher(model: nn.Module,
                     loader: Iterable,
                     evaluator: Evaluator,
                     num_samples: int,
                     bank_loader: Optional[Iterable] = None,
                     knn: Optional[dict] = None,
                     max_batches: Optional[int] = None) -> dict:
    """Metrics of the teacher of ``model`` on ``loader``.

    Args:
        model (SingleTeacherDistill): The distillation model.
        loader (Iterable): Validation batches (before preprocessing).
        evaluator (Evaluator): Scores predictions (a copy of the student's
            validation evaluator, its own state).
        num_samples (int): Size of the validation set (``evaluate``'s arg).
        bank_loader (Iterable, optional): Labelled images for the k-NN of a
            headless teacher. Needed only then.
        knn (dict, optional): ``k`` and ``temperature`` of
            :func:`knn_classify`.
        max_batches (int, optional): Stop after this many batches.

    Returns:
        dict: The evaluator's metrics, keys prefixed ``teacher/`` (a
        classifier) or ``teacher/knn/`` (a headless teacher).
    """
    headless = getattr(model.teacher, 'head', None) is None
    if headless:
        bank, bank_labels = feature_bank(model, bank_loader)
        num_classes = int(bank_labels.max()) + 1
        meta = evaluator.dataset_meta or {}
        num_classes = max(num_classes, len(meta.get('classes') or ()))
    for index, data_batch in enumerate(loader):
        if max_batches is not None and index >= max_batches:
            break
        data = model.data_preprocessor(data_batch, False)
        if not headless:
            outputs = model.teacher_forward(data['inputs'],
                                            data['data_samples'])
        else:
            feats = model.teacher_forward(data['inputs'], mode='tensor')
            scores = knn_classify(bank, bank_labels,
                                  pooled_features(feats).float().cpu(),
                                  num_classes, **(knn or {}))
            outputs = data['data_samples']
            for sample, score in zip(outputs, scores):
                sample.set_pred_score(score).set_pred_label(score.argmax())
        evaluator.process(outputs, data_batch)
    prefix = 'teacher/knn/' if headless else 'teacher/'
    metrics = evaluator.evaluate(num_samples)
    return {prefix + key: value for key, value in metrics.items()}
