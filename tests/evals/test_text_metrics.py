"""Text metrics (evals/metrics/text.py) on fixed inputs, against values worked out by hand from
each reference's definition (nltk BLEU and METEOR formulas, rouge-score's tokenizer)."""

from __future__ import annotations

import gzip
import math
import re
import sys
from collections import Counter

import pytest

from biomatrix_io.config import ConfigError
from evals.metrics import text
from evals.metrics.registry import PAIRS
from evals.metrics.registry import result as result_of

BY_KEY = {m.key: m for m in text.METRICS}


def score(key: str, predictions, references, **options) -> dict:
    return BY_KEY[key].score(predictions, references, **options)


def test_each_metric_has_one_default_and_rouge_is_never_for_sequences():
    defaults = Counter(m.name for m in text.METRICS if m.default)
    assert defaults == {name: 1 for name in {m.name for m in text.METRICS}}
    assert all(m.kind == PAIRS for m in text.METRICS)
    assert all("never use it on SMILES" in m.description for m in text.METRICS if m.name.startswith("rouge"))
    # The SciBERT-token metrics are stand-ins unless given SciBERT's vocabulary.
    assert {m.key for m in text.METRICS if not m.comparable} == {"bleu2:llasmol", "bleu4:llasmol", "meteor:llasmol"}


def test_standin_tokens_follow_scibert_normalization_and_drop_special_tokens():
    # BERT normalizer: lower case, accents stripped; pre-tokenizer: whitespace and punctuation split.
    # "[SEP]" is a special token to the wordpiece tokenizer (split there, then filtered out).
    assert text.scibert_tokens("The Café's pH-7 [SEP]buffer") == ["the", "cafe", "'", "s", "ph", "-", "7", "buffer"]
    assert len(text.scibert_tokens("word " * 600)) == text.MAX_TOKENS  # truncation=True, max_length=512


def test_bleu2_counts_clipped_ngrams_with_brevity_penalty_and_skips_empty_answers():
    # hyp "the acid binds the metal" (5) vs ref "the acid binds a metal ion" (6):
    # unigrams: the(2, clipped to 1) acid binds metal -> 4/5; bigrams: "the acid", "acid binds" -> 2/4;
    # BP = exp(1 - 6/5). BLEU-2 = exp(-0.2) * sqrt(4/5 * 2/4).
    result = score("bleu2:llasmol", ["the acid binds the metal", "  "], [["the acid binds a metal ion"], ["x y"]])
    assert result["value"] == pytest.approx(math.exp(-0.2) * math.sqrt(0.4), abs=1e-12)
    assert result["counts"] == {"samples": 2, "scored": 1, "empty": 1}
    assert result["comparable"] is False and result["tokenizer"] == "bert_basic_words_standin"


def test_bleu4_is_zero_without_a_4gram_match_and_uses_the_first_gold_only():
    # 3-token hypothesis: no 4-gram at all -> p4 = 0/1. Without smoothing nltk (method0) puts
    # sys.float_info.min in place of a zero precision: BLEU-4 = (1 * 1 * 1 * min)^(1/4), about 1e-77.
    assert score("bleu4:llasmol", ["the acid binds"], [["the acid binds"]])["value"] == \
        pytest.approx(sys.float_info.min ** 0.25, rel=1e-9)
    # No unigram match at all: nltk returns exactly 0.
    # Identical 4 tokens to the FIRST gold: every p_n = 1, BP = 1; a second gold is ignored.
    assert score("bleu4:llasmol", ["a b c d"], [["a b c d", "z z z z"]])["value"] == pytest.approx(1.0)
    assert score("bleu4:llasmol", ["a b c d"], [["z z z z", "a b c d"]])["value"] == 0.0


def test_molt5_text2mol_bleu_is_character_level_and_keeps_empty_answers():
    # Sample 1: "CC(=O)O" (7 chars) is a prefix of "CC(=O)OC" (8): all its 1..4-grams match (7, 6, 5, 4).
    # Sample 2: empty answer vs "CO": adds 2 to the reference length and 1 to each n-gram denominator
    # (nltk's max(1, count)). p = 7/8, 6/7, 5/6, 4/5 -> geometric mean (4/8)^(1/4); BP = exp(1 - 10/7).
    result = score("bleu4:molt5_text2mol", ["CC(=O)O", ""], [["CC(=O)OC"], ["CO"]])
    assert result["value"] == pytest.approx(math.exp(1 - 10 / 7) * 0.5 ** 0.25, abs=1e-12)
    assert result["counts"] == {"samples": 2, "empty": 1}
    # Alone, sample 1: every precision 1, BP = exp(1 - 8/7).
    assert score("bleu4:molt5_text2mol", ["CC(=O)O"], [["CC(=O)OC"]])["value"] == pytest.approx(math.exp(-1 / 7))


def test_meteor_uses_debian_wordnet_synonyms_after_nltk_stemming():
    # "the auto stopped" vs "the car stopped": exact the/stopped, WordNet auto ~ car (car.n.01) -> 3 matches,
    # P = R = 1, one chunk: penalty 0.5 * (1/3)^3 -> 1 - 1/54.
    # "automobile" is Porter-stemmed to "automobil" before nltk's synonym stage, so it does NOT match car:
    # 2 matches, P = R = 2/3, Fmean = 2/3, 2 chunks -> penalty 0.5 * (2/2)^3 -> 1/3.
    result = score("meteor:llasmol", ["the auto stopped", "the automobile stopped", ""],
                   [["the car stopped"], ["the car stopped"], ["anything"]])
    assert result["value"] == pytest.approx(((1 - 1 / 54) + 1 / 3) / 2, abs=1e-12)
    assert result["counts"] == {"samples": 3, "scored": 2, "empty": 1}


def test_meteor_fragmentation_penalty_on_an_identical_sentence():
    # 7 tokens (the full stop is one), all exact matches in one chunk: Fmean 1, penalty 0.5 * (1/7)^3.
    result = score("meteor:llasmol", ["The cat sat on the mat."], [["the cat sat on the mat ."]])
    assert result["value"] == pytest.approx(1 - 0.5 / 7 ** 3)


def test_wordnet_is_debians_wordnet_3_0_and_lexnames_match_its_man_page():
    reader = text.wordnet()
    assert reader.get_version() == "3.0"
    assert reader.synset("dog.n.01").offset() == 2084071  # Princeton WordNet 3.0 data.noun offset
    assert "car" in reader.synset("auto.n.01").lemma_names()
    # nltk reads a synset's lexicographer file through the lexnames table Debian does not ship.
    assert [reader.synset(s).lexname() for s in ("dog.n.01", "run.v.01", "good.a.01", "quickly.r.01")] == \
        ["noun.animal", "verb.motion", "adj.all", "adv.all"]
    with gzip.open("/usr/share/man/man5/lexnames.5WN.gz", "rt") as man:  # wordnet-base's lexnames(5WN)
        rows = re.findall(r"^(\d\d)\t(\S+)", man.read(), re.MULTILINE)
    assert [name for _, name in rows] == list(text.LEXNAMES)
    assert text.lexnames_text().splitlines()[3] == "03\tnoun.Tops\t1"


def test_missing_wordnet_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WNSEARCHDIR", str(tmp_path))
    text.wordnet.cache_clear()
    try:
        with pytest.raises(ConfigError, match="wordnet-base"):
            text.wordnet()
    finally:
        monkeypatch.delenv("WNSEARCHDIR")
        text.wordnet.cache_clear()


def test_scibert_vocab_file_gives_wordpieces_and_a_comparable_result(tmp_path):
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "bind", "##ing", "acid"]) + "\n")
    assert text.scibert_tokens("The binding acid [SEP]", str(vocab)) == ["the", "bind", "##ing", "acid"]
    # Wordpieces: "the binding" vs "the bind": 2 of 3 pieces match, bigram "the bind" 1/2; BP = 1.
    result = score("bleu2:llasmol", ["the binding"], [["the bind"]], vocab_file=str(vocab))
    assert result["value"] == pytest.approx(math.sqrt(2 / 3 * 1 / 2))
    assert result["comparable"] is True and result["tokenizer"] == "scibert_wordpiece"
    # The entry is a stand-in (comparable=False); a result made with SciBERT's vocabulary says otherwise.
    assert BY_KEY["bleu2:llasmol"].comparable is False and result_of(BY_KEY["bleu2:llasmol"], result)["comparable"]
    with pytest.raises(ConfigError, match="vocab_file"):
        score("bleu2:llasmol", ["x"], [["x"]], vocab_file=str(tmp_path / "absent.txt"))


def test_rouge_stemming_changes_the_score():
    # rouge-score tokens: "the protein binds zinc" vs "the protein binding zinc".
    # Unstemmed: 3 of 4 unigrams -> F1 0.75; bigrams: only "the protein" of 3 -> 1/3; LCS 3 -> 0.75.
    # Stemmed (Porter, words over 3 letters): binds, binding -> bind: everything matches -> 1.
    pred, refs = ["the protein binds zinc"], [["the protein binding zinc"]]
    expected = {"rouge1": (0.75, 1.0), "rouge2": (1 / 3, 1.0), "rougeL": (0.75, 1.0)}
    for rouge_type, (unstemmed, stemmed) in expected.items():
        assert score(f"{rouge_type}:unstemmed", pred, refs)["value"] == pytest.approx(unstemmed)
        assert score(f"{rouge_type}:llasmol", pred, refs)["value"] == pytest.approx(unstemmed)
        assert score(f"{rouge_type}:stemmed", pred, refs)["value"] == pytest.approx(stemmed)


def test_rouge_empty_answers_skipped_by_llasmol_scored_zero_by_the_others():
    preds, refs = ["the protein binds zinc", ""], [["the protein binds zinc"], ["zinc"]]
    llasmol = score("rouge1:llasmol", preds, refs)
    assert llasmol["value"] == pytest.approx(1.0) and llasmol["counts"] == {"samples": 2, "scored": 1, "empty": 1}
    unstemmed = score("rouge1:unstemmed", preds, refs)
    assert unstemmed["value"] == pytest.approx(0.5) and unstemmed["counts"] == {"samples": 2, "scored": 2, "empty": 1}


def test_rouge_takes_the_best_reference_except_llasmol_which_takes_the_first():
    preds, refs = ["zinc finger"], [["iron", "zinc finger"]]
    assert score("rougeL:unstemmed", preds, refs)["value"] == pytest.approx(1.0)
    assert score("rougeL:stemmed", preds, refs)["value"] == pytest.approx(1.0)
    assert score("rougeL:llasmol", preds, refs)["value"] == 0.0


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="zip"):
        score("rouge1:unstemmed", ["a", "b"], [["a"]])
