"""lmqg's embedding-based question-generation scores, BERTScore and MoverScore, with a local encoder model dir.

Traced to lmqg's code (github.com/asahi417/lm-question-generation, package ``lmqg`` 0.1.1); both take, per segment
(``jaqg.evaluation.lmqg_metrics.segments``), the hypothesis and the FIRST reference only, as spaCy-tokenized text
(words joined by spaces) without lmqg's hypothesis normalization:

- ``lmqg/automatic_evaluation_tool/bertscore.py``: ``bert_score.score(hyps, refs, lang="ja")[0]``, i.e. BERTScore
  PRECISION (Zhang et al., ICLR 2020), not F1: for "ja" bert-score picks ``bert-base-multilingual-cased`` and its
  layer 9, no idf, no baseline rescaling; the mean over segments. Here the bert-score package (0.3.13, the code lmqg
  vendored) with ``model_dir`` as the model and ``num_layers`` (default 9).
- ``lmqg/automatic_evaluation_tool/moverscore.py`` (after MoverScore v2, Zhao et al., EMNLP 2019,
  github.com/AIPHES/emnlp19-moverscore ``moverscore_v2.py``): for "ja" ``bert-base-multilingual-cased`` loaded with
  ``do_lower_case=True``; each text as ``[CLS] + tokenize(text)[:max_len - 2] + [SEP]``; the last layer's
  embeddings, each divided by its L2 norm; weights 1 (idf off) except 0 for word pieces containing ``##`` and for
  ASCII punctuation tokens (``string.punctuation``); the weights of each side divided by their sum; the score is
  1 / (1 + EMD) where EMD is the Earth Mover's Distance between the two weighted sets under Euclidean distance
  (``pyemd.emd_with_flow``, as lmqg; the optimal cost is unique even when the flow is not). Batches of 32.

Scores 0-100. The published numbers used hub models that cannot be downloaded here: pass a local copy of
``bert-base-multilingual-cased`` to compare; any other encoder gives a different number.
"""

from __future__ import annotations

import string
from typing import Sequence

import numpy as np

from ..core.errors import UserError

BERTSCORE_LAYERS = 9  # bert-score's model2layers["bert-base-multilingual-cased"]
_PUNCT = set(string.punctuation)


def _check_dir(model_dir: str, what: str):
    from transformers import AutoConfig
    try:
        return AutoConfig.from_pretrained(model_dir)
    except (OSError, ValueError) as e:
        raise UserError(f"{model_dir}: not a model dir for {what} ({str(e).strip().splitlines()[0]}); pass a local "
                        "BERT-style encoder dir (lmqg used bert-base-multilingual-cased)") from None


def bertscore_precision(hypotheses: Sequence[str], references: Sequence[str], model_dir: str,
                        num_layers: int = BERTSCORE_LAYERS, batch_size: int = 32) -> float:
    """lmqg's "BERTScore" (0-100): the mean BERTScore precision of each hypothesis against its reference."""
    import bert_score
    config = _check_dir(model_dir, "BERTScore")
    if num_layers > getattr(config, "num_hidden_layers", num_layers):
        raise UserError(f"`lmqg_bertscore_layers` {num_layers}: {model_dir} has only {config.num_hidden_layers} "
                        "layers")
    if not hypotheses:
        return 0.0
    precision, _, _ = bert_score.score(list(hypotheses), list(references), model_type=model_dir,
                                       num_layers=num_layers, batch_size=batch_size)
    return 100 * float(precision.mean())


def _embed(texts: Sequence[str], tokenizer, model):
    """Per text: (last-layer embeddings normalized to unit length, weights) as lmqg's MoverScore builds them."""
    import torch
    limit = tokenizer.model_max_length - 2
    tokens = [["[CLS]"] + tokenizer.tokenize(t)[:limit] + ["[SEP]"] for t in texts]
    ids = [tokenizer.convert_tokens_to_ids(t) for t in tokens]
    width = max(len(i) for i in ids)
    pad = tokenizer.convert_tokens_to_ids(["[PAD]"])[0]
    batch = torch.full((len(ids), width), pad, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, i in enumerate(ids):
        batch[row, :len(i)] = torch.tensor(i)
        mask[row, :len(i)] = 1
    with torch.no_grad():
        hidden = model(batch, attention_mask=mask, output_hidden_states=True).hidden_states[-1]
    out = []
    for row, toks in enumerate(tokens):
        # float32 as lmqg (its distances are computed in the model's precision, then made double)
        emb = hidden[row, :len(toks)].float()
        emb = emb / (emb.norm(dim=-1, keepdim=True) + 1e-30)
        weights = np.array([0.0 if "##" in w or w in _PUNCT else 1.0 for w in toks])
        out.append((emb.numpy(), weights))
    return out


def mover_score(ref: tuple[np.ndarray, np.ndarray], hyp: tuple[np.ndarray, np.ndarray]) -> float:
    """1 / (1 + EMD) (0-1) of two weighted embedding sets, lmqg's formula (see the module docstring)."""
    from pyemd import emd_with_flow
    (x, wx), (y, wy) = ref, hyp
    points = np.concatenate([x, y]).astype(np.float32)
    # lmqg's batched_cdist_l2: |a|^2 + |b|^2 - 2 a.b, clamped at 1e-30, square root; in float32, then double
    sq = (points ** 2).sum(-1, keepdims=True)
    distance = np.sqrt(np.maximum(sq.T + sq - 2 * points @ points.T, np.float32(1e-30))).astype(np.float64)
    c1 = np.concatenate([wx, np.zeros(len(wy))])
    c2 = np.concatenate([np.zeros(len(wx)), wy])
    c1, c2 = c1 / (c1.sum() + 1e-30), c2 / (c2.sum() + 1e-30)
    _, flow = emd_with_flow(c1, c2, distance)
    return 1.0 / (1.0 + float(np.sum(np.array(flow, dtype=np.float32) * distance)))


def moverscore(hypotheses: Sequence[str], references: Sequence[str], model_dir: str, batch_size: int = 32) -> float:
    """lmqg's "MoverScore" (0-100): the mean over pairs of ``mover_score``."""
    from transformers import AutoModel, AutoTokenizer
    _check_dir(model_dir, "MoverScore")
    tokenizer = AutoTokenizer.from_pretrained(model_dir, do_lower_case=True)
    model = AutoModel.from_pretrained(model_dir).eval()
    scores = []
    for start in range(0, len(hypotheses), batch_size):
        refs = _embed(references[start:start + batch_size], tokenizer, model)
        hyps = _embed(hypotheses[start:start + batch_size], tokenizer, model)
        scores += [mover_score(r, h) for r, h in zip(refs, hyps)]
    return 100 * float(np.mean(scores)) if scores else 0.0
