"""Moderation on two small local models, loaded once per process, computed with one thread.

- `toxic-comment-classifier` (MIT): a Jigsaw 6-label BiLSTM trained with Keras. Its package ships
  the weights (`model/model.weights.h5`) and the fitted Keras Tokenizer (`model/tokenizer.pickle`)
  and imports TensorFlow, which raybase does not install: the weights are read with h5py into the
  equivalent PyTorch module below, and the tokenizer is unpickled by a restricted Unpickler into a
  small class of ours (no Keras, no other class), with Keras' `texts_to_sequences` and
  `pad_sequences` reimplemented. The package itself is never imported.
- `alt-profanity-check` (MIT): a linear SVM over TF-IDF (scikit-learn), the `profanity` category.

The network reads 100 tokens; a longer text is read in windows of 100 tokens, and a category's
score is its highest over the windows (an insult at the start of a long text still counts).
"""

from __future__ import annotations

import asyncio
import collections
import pickle
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from ai.models import PROFANITY, TOXIC

LABELS = ("toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate")
MAXLEN = 100  # tokens the network was trained on (Keras pad_sequences, 'pre')
VOCAB = 20_000
EMBED_DIM, UNITS, HIDDEN = 50, 50, 50
THRESHOLD = 0.5  # a category is flagged at this score or above
PROFANITY_WINDOW = 60  # words per piece the profanity model scores (TF-IDF dilutes)
KERAS_TOKENIZER = ("keras.src.legacy.preprocessing.text", "Tokenizer")
_ALLOWED = {("collections", "OrderedDict"): collections.OrderedDict,
            ("collections", "defaultdict"): collections.defaultdict, ("builtins", "int"): int}


class KerasTokenizer:
    """A fitted Keras Tokenizer's state (what the pickle holds) and its texts_to_sequences."""

    filters: str = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    split: str = " "
    lower: bool = True
    num_words: int | None = None
    oov_token: str | None = None
    char_level: bool = False
    word_index: dict[str, int]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def words(self, text: str) -> list[str]:
        """Keras' text_to_word_sequence: lower, filters to the separator, split, no blanks."""
        if self.lower:
            text = text.lower()
        text = text.translate(str.maketrans({c: self.split for c in self.filters}))
        return [w for w in text.split(self.split) if w]

    def sequence(self, text: str) -> list[int]:
        """Keras' texts_to_sequences for one text (num_words and the oov token as fitted)."""
        oov = self.word_index.get(self.oov_token) if self.oov_token is not None else None
        out = []
        for w in self.words(text):
            i = self.word_index.get(w)
            if i is not None and (not self.num_words or i < self.num_words):
                out.append(i)
            elif oov is not None:
                out.append(oov)
        return out


class _Unpickler(pickle.Unpickler):
    """Maps the Keras Tokenizer to ours and refuses every class but plain containers."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == KERAS_TOKENIZER:
            return KerasTokenizer
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        raise pickle.UnpicklingError(f"the tokenizer pickle names {module}.{name}: refused")


def load_tokenizer(path: str) -> KerasTokenizer:
    with open(path, "rb") as f:
        tok = _Unpickler(f).load()
    if not isinstance(tok, KerasTokenizer):
        raise ValueError(f"{path} does not hold a Keras Tokenizer")
    limit = tok.num_words or VOCAB
    tok.word_index = {w: i for w, i in tok.word_index.items() if i < limit}  # the rest is unused
    for name in ("word_counts", "word_docs", "index_docs", "index_word"):
        tok.__dict__.pop(name, None)
    return tok


def pad(sequences: list[list[int]], maxlen: int = MAXLEN) -> np.ndarray:
    """Keras' pad_sequences with padding and truncating 'pre', value 0."""
    out = np.zeros((len(sequences), maxlen), dtype=np.int64)
    for row, seq in enumerate(sequences):
        seq = seq[-maxlen:]
        if seq:
            out[row, -len(seq):] = seq
    return out


def windows(seq: list[int], size: int = MAXLEN) -> list[list[int]]:
    """A token sequence in consecutive windows of `size` (one, possibly empty, at least)."""
    return [seq[i:i + size] for i in range(0, len(seq), size)] or [[]]


def _network() -> Any:
    import torch
    from torch import nn

    class Net(nn.Module):
        """Embedding -> BiLSTM (sequences) -> global max pool -> Dense relu -> Dense sigmoid."""

        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(VOCAB, EMBED_DIM)
            self.lstm = nn.LSTM(EMBED_DIM, UNITS, batch_first=True, bidirectional=True)
            self.dense = nn.Linear(2 * UNITS, HIDDEN)
            self.out = nn.Linear(HIDDEN, len(LABELS))

        def forward(self, ids: torch.Tensor) -> torch.Tensor:
            seq, _ = self.lstm(self.embedding(ids))
            pooled = seq.max(dim=1).values
            return torch.sigmoid(self.out(torch.relu(self.dense(pooled))))

    return Net()


def load_network(path: str) -> Any:
    """The Keras weights in the PyTorch module: kernels transposed; Keras' gate order (i, f, c,
    o) is torch's (i, f, g, o); Keras' one LSTM bias goes to bias_ih, bias_hh stays zero."""
    import h5py
    import torch

    net = _network()
    state: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        layers = f["layers"]
        state["embedding.weight"] = layers["embedding/vars/0"][()]
        for keras_dir, suffix in (("forward_layer", ""), ("backward_layer", "_reverse")):
            cell = layers[f"bidirectional/{keras_dir}/cell/vars"]
            state[f"lstm.weight_ih_l0{suffix}"] = cell["0"][()].T
            state[f"lstm.weight_hh_l0{suffix}"] = cell["1"][()].T
            state[f"lstm.bias_ih_l0{suffix}"] = cell["2"][()]
            state[f"lstm.bias_hh_l0{suffix}"] = np.zeros_like(cell["2"][()])
        for keras_name, ours in (("dense", "dense"), ("dense_1", "out")):
            state[f"{ours}.weight"] = layers[f"{keras_name}/vars/0"][()].T
            state[f"{ours}.bias"] = layers[f"{keras_name}/vars/1"][()]
    net.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32))
                         for k, v in state.items()})
    return net.eval()


class Moderator:
    """Both models in this process. Not thread-safe: callers use one compute thread."""

    def __init__(self) -> None:
        import joblib
        import torch

        torch.set_num_threads(1)
        folder = TOXIC.path()
        self.tokenizer = load_tokenizer(str(folder / "tokenizer.pickle"))
        self.network = load_network(str(folder / "model.weights.h5"))
        data = PROFANITY.path()
        self.vectorizer = joblib.load(data / "vectorizer.joblib")
        self.svm = joblib.load(data / "model.joblib")

    def toxicity(self, text: str) -> dict[str, float]:
        """The six labels' scores: each its highest over the text's windows."""
        import torch

        ids = pad(windows(self.tokenizer.sequence(text)))
        with torch.inference_mode():
            scores = self.network(torch.from_numpy(ids)).max(dim=0).values.tolist()
        return dict(zip(LABELS, scores, strict=True))

    def profanity(self, text: str) -> float:
        """The profanity model's probability: its highest over pieces of the text."""
        words = text.split()
        pieces = [" ".join(words[i:i + PROFANITY_WINDOW])
                  for i in range(0, len(words), PROFANITY_WINDOW)] or [text]
        return float(self.svm.predict_proba(self.vectorizer.transform(pieces))[:, 1].max())

    def moderate(self, text: str) -> dict[str, Any]:
        """Per-category scores and verdicts, and the overall verdict."""
        scores = {**self.toxicity(text), "profanity": self.profanity(text)}
        results = [{"category": c, "score": round(s, 4), "flagged": s >= THRESHOLD,
                    "model": PROFANITY.name if c == "profanity" else TOXIC.name}
                   for c, s in scores.items()]
        return {"results": results, "flagged": any(r["flagged"] for r in results),
                "tokens": len(self.tokenizer.words(text))}


_moderator: Moderator | None = None
_lock = threading.Lock()


def moderator() -> Moderator:
    """This process's Moderator, loaded on first use (about a second), once."""
    global _moderator
    with _lock:
        if _moderator is None:
            _moderator = Moderator()
        return _moderator



_compute = ThreadPoolExecutor(max_workers=1, thread_name_prefix="moderation")  # one thread


async def moderate(text: str) -> dict[str, Any]:
    """`Moderator.moderate` on this process's one moderation thread (the event loop stays free;
    calls queue for the thread, as they would for a core)."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_compute, lambda: moderator().moderate(text))
