"""Text metrics (BLEU, METEOR, ROUGE), each reproducing its named reference script:

- LlaSMol / SMolInstruct captioning (OSU-NLP-Group/LLM4Chem `utils/metrics.py`
  calculate_text_metrics, itself MolT5's `text_translation_metrics.py` plus empty-answer
  skipping): the first gold only; predictions stripped; an empty prediction is left out of every
  mean and counted; SciBERT (`allenai/scibert_scivocab_uncased`) wordpiece tokens truncated at
  512 for BLEU (nltk corpus_bleu, no smoothing) and METEOR (nltk, per sample, averaged); ROUGE
  (rouge-score, no stemmer) on the raw strings.
- MolT5 text -> molecule (blender-nlp/MolT5 `evaluation/mol_translation_metrics.py`): BLEU-4 over
  the SMILES' characters, every sample included (an empty one adds its reference length and one
  to each n-gram denominator).
- Mol-Instructions protein tasks (HF `evaluate` rouge defaults): rouge-score without stemmer,
  best over the references, every sample included. `evaluate` reports the median of 1,000
  unseeded bootstrap resamples (not reproducible); here the plain mean.
- OPI function text (baaihealth/opi `compute_scores/metrics4all.py` calculate_rouge_l):
  rouge-score WITH the Porter stemmer, score(target, output), every sample included.

SciBERT's vocabulary is on no package registry or Debian package this project can use, and
nothing may be downloaded from a model hub at run time. Without it the LlaSMol BLEU and METEOR
use a stand-in: SciBERT's own normalization and pre-tokenization (BERT normalizer: lower case,
accents stripped; split on whitespace and punctuation), with whole words instead of wordpieces.
That changes n-gram counts, so those variants are `comparable=False`; given SciBERT's
`vocab.txt` as the `vocab_file` option they tokenize exactly as the reference and say
`comparable: true` in the result.

METEOR's synonym stage reads WordNet 3.0 from Debian's `wordnet-base` (`/usr/share/wordnet`, or
`$WNSEARCHDIR`, WordNet's own variable) through nltk's reader: nothing is downloaded.

rouge-score's tokenizer keeps only [a-z0-9] runs: ROUGE is meaningless on SMILES or sequences
(use the molecule metrics and the MolT5 character BLEU for those).

nltk and rouge-score are imported when a metric runs, so listing the metrics stays fast.
"""

from __future__ import annotations

import functools
import io
import math
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from biomatrix_io.config import ConfigError

from .registry import PAIRS, Metric

LLASMOL = "LlaSMol (OSU-NLP-Group/LLM4Chem utils/metrics.py calculate_text_metrics)"
MOLT5_TEXT2MOL = "MolT5 (blender-nlp/MolT5 evaluation/mol_translation_metrics.py)"
MOL_INSTRUCTIONS = "Mol-Instructions protein tasks (HF evaluate rouge defaults, plain mean instead of bootstrap)"
OPI = "OPI (baaihealth/opi compute_scores/metrics4all.py calculate_rouge_l)"

MAX_TOKENS = 512  # the references tokenize with truncation=True, max_length=512
BERT_SPECIAL = ("[CLS]", "[SEP]", "[PAD]")  # filtered out of the tokens by the references
BLEU_WEIGHTS = {2: (0.5, 0.5), 4: (0.25, 0.25, 0.25, 0.25)}
WORDNET_DIR = "/usr/share/wordnet"  # Debian's wordnet-base

# WordNet 3.0's lexicographer files in number order (lexnames(5WN)). nltk's reader requires the
# `lexnames` file, which Debian's wordnet-base does not ship; it only names a synset's file.
LEXNAMES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


# --- tokenization --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _wordpiece(vocab_file: str):
    from tokenizers import BertWordPieceTokenizer

    path = Path(vocab_file)
    if not path.is_file():
        raise ConfigError(f"vocab_file {vocab_file}: no such file (SciBERT's vocab.txt)", ["vocab_file"])
    # scibert_scivocab_uncased: do_lower_case, accents stripped with it, CJK split, '##' pieces.
    return BertWordPieceTokenizer(str(path), lowercase=True)


@functools.lru_cache(maxsize=1)
def _bert_basic():
    from tokenizers.normalizers import BertNormalizer
    from tokenizers.pre_tokenizers import BertPreTokenizer

    normalizer = BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    return normalizer, BertPreTokenizer()


def scibert_tokens(text: str, vocab_file: Optional[str] = None) -> list[str]:
    """The tokens LlaSMol scores: SciBERT wordpieces with `vocab_file`, else the whole-word stand-in;
    truncated at 512, special tokens dropped."""
    if vocab_file:
        tokens = _wordpiece(vocab_file).encode(text, add_special_tokens=False).tokens
    else:
        # The wordpiece tokenizer matches special tokens in the raw text, splitting words there.
        for special in BERT_SPECIAL:
            text = text.replace(special, " ")
        normalizer, pre_tokenizer = _bert_basic()
        tokens = [word for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))]
    return [token for token in tokens[:MAX_TOKENS] if token not in BERT_SPECIAL]


def _tokenizer_figures(vocab_file: Optional[str]) -> dict:
    """What the tokens were; the result is comparable to the reference only with SciBERT's vocab."""
    return {"tokenizer": "scibert_wordpiece" if vocab_file else "bert_basic_words_standin",
            "comparable": bool(vocab_file)}


# --- WordNet from Debian -------------------------------------------------------------------------

def wordnet_dir() -> Path:
    return Path(os.environ.get("WNSEARCHDIR") or WORDNET_DIR)


def lexnames_text() -> str:
    return "".join(f"{i:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for i, name in enumerate(LEXNAMES))


@functools.lru_cache(maxsize=1)
def wordnet():
    """nltk's WordNet reader over Debian's wordnet-base files (the same WordNet 3.0 that
    `nltk.download('wordnet')` would fetch). The directory is added to `nltk.data.path`, which is
    how nltk authorizes a data directory; no multilingual (OMW) data is needed for METEOR."""
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    root = wordnet_dir()
    if not (root / "data.noun").is_file():
        raise ConfigError(f"WordNet not found in {root}: install Debian's wordnet-base (make does), "
                          "or set WNSEARCHDIR to a WordNet 3.0 dict directory", ["WNSEARCHDIR"])

    class DebianWordNet(WordNetCorpusReader):
        def open(self, file):
            return io.StringIO(lexnames_text()) if file == "lexnames" else super().open(file)

        def map_wn(self, version="wordnet"):
            return None  # this is WordNet 3.0 itself: the 3.0 -> loaded-version map (for OMW) is the identity

    if str(root) not in map(str, nltk.data.path):
        nltk.data.path.append(str(root))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "The multilingual functions are not available")
        return DebianWordNet(str(root), None)


# --- BLEU and METEOR -----------------------------------------------------------------------------

def _corpus_bleu(references: list[list[list[str]]], hypotheses: list[list[str]], n: int) -> Optional[float]:
    from nltk.translate.bleu_score import corpus_bleu

    if not hypotheses:
        return None
    with warnings.catch_warnings():
        # An order with no n-gram match: nltk warns, and its unsmoothed BLEU is 0 (no unigram match) or
        # about 1e-77 (sys.float_info.min standing in for the zero precision): the reference's value.
        warnings.filterwarnings("ignore", "\\s*The hypothesis contains 0 counts")
        return float(corpus_bleu(references, hypotheses, weights=BLEU_WEIGHTS[n]))


def _llasmol_pairs(predictions: Sequence[str], references: Sequence[Sequence[str]],
                   vocab_file: Optional[str]) -> tuple[list[tuple[list[str], list[str]]], dict]:
    """(reference tokens, prediction tokens) of the non-empty predictions, and the counts."""
    pairs = [(scibert_tokens(refs[0].strip(), vocab_file), scibert_tokens(pred.strip(), vocab_file))
             for pred, refs in zip(predictions, references, strict=True) if pred.strip()]
    return pairs, {"samples": len(predictions), "scored": len(pairs), "empty": len(predictions) - len(pairs)}


def _llasmol_bleu(n: int) -> Callable[..., dict]:
    def score(predictions: list[str], references: list[list[str]], *, vocab_file: Optional[str] = None) -> dict:
        pairs, counts = _llasmol_pairs(predictions, references, vocab_file)
        value = _corpus_bleu([[ref] for ref, _ in pairs], [hyp for _, hyp in pairs], n)
        return {"value": value, **_tokenizer_figures(vocab_file), "counts": counts}

    score.__doc__ = f"LlaSMol captioning BLEU-{n}: corpus BLEU over SciBERT tokens of the non-empty predictions."
    return score


def molt5_text2mol_bleu(predictions: list[str], references: list[list[str]]) -> dict:
    """MolT5 text -> molecule BLEU: corpus BLEU-4 over characters of the first reference, all samples."""
    pairs = [([list(refs[0])], list(pred)) for pred, refs in zip(predictions, references, strict=True)]
    value = _corpus_bleu([refs for refs, _ in pairs], [hyp for _, hyp in pairs], 4)
    return {"value": value,
            "counts": {"samples": len(predictions), "empty": sum(1 for p in predictions if not p)}}


def llasmol_meteor(predictions: list[str], references: list[list[str]], *, vocab_file: Optional[str] = None) -> dict:
    """LlaSMol captioning METEOR: nltk meteor_score per non-empty prediction (SciBERT tokens,
    WordNet synonyms), averaged."""
    from nltk.translate.meteor_score import meteor_score

    pairs, counts = _llasmol_pairs(predictions, references, vocab_file)
    reader = wordnet()
    scores = [meteor_score([ref], hyp, wordnet=reader) for ref, hyp in pairs]
    return {"value": math.fsum(scores) / len(scores) if scores else None, **_tokenizer_figures(vocab_file),
            "counts": counts}


# --- ROUGE ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RougeWay:
    """How a reference calls rouge-score."""

    stemmer: bool
    skip_empty: bool  # LlaSMol leaves empty predictions out of the mean
    first_reference_only: bool  # LlaSMol scores the first gold; the others take the best reference


ROUGE_WAYS = {
    "llasmol": RougeWay(stemmer=False, skip_empty=True, first_reference_only=True),
    "unstemmed": RougeWay(stemmer=False, skip_empty=False, first_reference_only=False),
    "stemmed": RougeWay(stemmer=True, skip_empty=False, first_reference_only=False),
}


@functools.lru_cache(maxsize=None)
def _rouge_scorer(rouge_type: str, stemmer: bool):
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer([rouge_type], use_stemmer=stemmer)


def rouge(rouge_type: str, way: RougeWay) -> Callable[..., dict]:
    def score(predictions: list[str], references: list[list[str]]) -> dict:
        scorer = _rouge_scorer(rouge_type, way.stemmer)
        empty = sum(1 for p in predictions if not p.strip())
        fmeasures = []
        for pred, refs in zip(predictions, references, strict=True):
            if way.skip_empty and not pred.strip():
                continue
            # LlaSMol calls score(output, gold): the F-measure is symmetric, so target first for all.
            targets = list(refs[:1] if way.first_reference_only else refs)
            fmeasures.append(scorer.score_multi(targets, pred)[rouge_type].fmeasure)
        return {"value": math.fsum(fmeasures) / len(fmeasures) if fmeasures else None,
                "counts": {"samples": len(predictions), "scored": len(fmeasures), "empty": empty}}

    score.__doc__ = f"{rouge_type} F-measure, mean over samples (rouge-score, stemmer={way.stemmer})."
    return score


_STANDIN = (" Without the vocab_file option (SciBERT's vocab.txt; none can be downloaded here) the tokens are "
            "a stand-in: SciBERT's normalization and punctuation split, whole words instead of wordpieces; "
            "the result says comparable: true only with vocab_file.")
_LLASMOL_COMMON = "First gold only; predictions stripped; empty predictions left out and counted as empty."
_ROUGE_DESCRIPTIONS = {
    "llasmol": "LlaSMol captioning: rouge-score without stemmer on the raw strings, first gold only, empty "
               "predictions left out of the mean and counted.",
    "unstemmed": "Mol-Instructions (HF evaluate defaults): rouge-score without stemmer, best over the references, "
                 "every sample in the mean (empty scores 0). evaluate's bootstrap median of unseeded resamples is "
                 "not reproducible: this is the plain mean.",
    "stemmed": "OPI function text: rouge-score with the Porter stemmer (words over 3 letters), score(target, "
               "output), best over the references, every sample in the mean (empty scores 0).",
}
_ROUGE_REFERENCES = {"llasmol": LLASMOL, "unstemmed": MOL_INSTRUCTIONS, "stemmed": OPI}
_NOT_SEQUENCES = " Text only: rouge-score keeps [a-z0-9] runs, so never use it on SMILES or sequences."

METRICS = [
    Metric("bleu2", "llasmol", LLASMOL, PAIRS, _llasmol_bleu(2), default=True, comparable=False,
           description="Captioning corpus BLEU-2 (nltk, weights 0.5/0.5, no smoothing) over SciBERT wordpieces. "
                       + _LLASMOL_COMMON + _STANDIN),
    Metric("bleu4", "llasmol", LLASMOL, PAIRS, _llasmol_bleu(4), default=True, comparable=False,
           description="Captioning corpus BLEU-4 (nltk, weights 0.25 x 4, no smoothing) over SciBERT wordpieces. "
                       + _LLASMOL_COMMON + _STANDIN),
    Metric("bleu4", "molt5_text2mol", MOLT5_TEXT2MOL, PAIRS, molt5_text2mol_bleu,
           description="Text -> molecule corpus BLEU-4 (nltk defaults) over the SMILES' characters, first reference, "
                       "every sample included (an empty prediction adds its reference length and one to each "
                       "n-gram denominator); empty ones counted."),
    Metric("meteor", "llasmol", LLASMOL, PAIRS, llasmol_meteor, default=True, comparable=False,
           description="Captioning METEOR: nltk meteor_score per sample on SciBERT tokens (exact, Porter stem and "
                       "WordNet synonym matches; WordNet 3.0 from Debian's wordnet-base), averaged. "
                       + _LLASMOL_COMMON + _STANDIN),
    *[Metric(rouge_type, name, _ROUGE_REFERENCES[name], PAIRS, rouge(rouge_type, way), default=name == "unstemmed",
             description=f"{rouge_type} F-measure. " + _ROUGE_DESCRIPTIONS[name] + _NOT_SEQUENCES)
      for rouge_type in ("rouge1", "rouge2", "rougeL") for name, way in ROUGE_WAYS.items()],
]
