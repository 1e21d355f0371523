"""The content models' pieces without Ray: the Keras tokenizer and padding as reimplemented, the
restricted unpickler, sentence splitting and cutting, keyphrase candidates, image facts."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
from PIL import Image

from ai import images, moderation, summarise, tagging


def tokenizer(**state) -> moderation.KerasTokenizer:
    tok = moderation.KerasTokenizer()
    tok.__setstate__({"word_index": {"the": 1, "cat": 2, "sat": 3, "<oov>": 4}, **state})
    return tok


def test_texts_to_sequences_follows_keras():
    tok = tokenizer(num_words=3)
    assert tok.words("The CAT, sat!\tdown") == ["the", "cat", "sat", "down"]
    assert tok.sequence("The CAT, sat! down") == [1, 2]  # index >= num_words and unknown: gone
    assert tokenizer(oov_token="<oov>").sequence("the dog") == [1, 4]


def test_pad_and_windows_are_pre():
    assert moderation.pad([[1, 2], list(range(1, 8))], maxlen=4).tolist() == [
        [0, 0, 1, 2], [4, 5, 6, 7]]
    assert moderation.windows(list(range(5)), size=2) == [[0, 1], [2, 3], [4]]
    assert moderation.windows([]) == [[]]


def test_the_unpickler_refuses_any_other_class(tmp_path):
    path = tmp_path / "t.pickle"
    path.write_bytes(pickle.dumps(np.zeros(2)))
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        moderation.load_tokenizer(str(path))


def test_sentences_and_cut():
    parts = [{"text": "A title"}, {"text": 'One. "Two?" Three (four.) five'}]
    assert summarise.sentences(parts) == ["A title.", "One.", '"Two?"', "Three (four.)", "five."]
    assert summarise.cut("alpha beta gamma", 12) == "alpha beta…"
    assert summarise.cut("short", 12) == "short"


def test_choose_fits_max_length_and_keeps_order():
    texts = ["aaaa.", "bbbb.", "cccc."]
    vectors = np.eye(3, dtype=np.float32) + 0.5
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = summarise.choose(texts, vectors, 11)
    assert picked == sorted(picked) and len(picked) == 2
    assert summarise.choose(texts, vectors, 4) == []


def test_candidates_skip_stopwords_and_punctuation():
    found = tagging.candidates("The apple pie, and the hot oven")
    assert "apple pie" in found and "hot oven" in found and "pie hot" not in found
    assert not any(w in tagging.STOPWORDS for p in found for w in p.split())


def test_image_facts_and_refusals():
    buf = io.BytesIO()
    Image.new("RGBA", (10, 30), (0, 0, 200, 255)).save(buf, "PNG")
    f = images.facts(buf.getvalue())
    assert (f["orientation"], f["has_alpha"], f["transparent"]) == ("portrait", True, False)
    assert f["colors"][0]["name"] == "blue" and f["text_found"] is None
    with pytest.raises(images.NotAnImage):
        images.facts(b"not an image")
    bmp = io.BytesIO()
    Image.new("RGB", (2, 2)).save(bmp, "BMP")
    with pytest.raises(images.NotAnImage, match="BMP"):
        images.facts(bmp.getvalue())
