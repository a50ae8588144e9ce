"""Modality-constrained decoding: the state machine under a tiny random model (HF `generate` with
the per-row processor), per-request seeds inside a batch, the regular expression for vLLM's
structured outputs against the state machine, and the length rules read from prompts (DNA and RNA
answers: only the molecule's nucleotides, the reverse complement's and back-translation's lengths)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from evals.constraints import AnswerRule, ConstraintState, ConstraintVocabulary, count_in_prompt, to_regex
from evals.models.processors import RowControl, RowControlProcessor, Sampling
from megatron_bio.tokenizer.errors import TokenizationError
from megatron_bio.tokenizer.segments import NUCLEIC_ALPHABETS, Modality

MAX_NEW_TOKENS = 16
PROTEIN_SEQUENCE = "MKTAYIAKQRQI"
STRUCTURE_CODES = (5, 812, 4095, 17, 300, 2048, 9, 1, 77, 3000)
# A token of another modality, spelled, for each modality's mutated answers.
FOREIGN = {Modality.SMILES: "<A_M>", Modality.SELFIES: "[C 42]", Modality.MOLECULE_3D: "[C]",
           Modality.PROTEIN: "<S_5>", Modality.PROTEIN_3D: "<A_M>",
           Modality.DNA: "<N_U>", Modality.RNA: "<N_T>"}  # a nucleotide of the other molecule


def residues(sequence: str) -> str:
    return "<|prot_aa_start|>" + "".join(f"<A_{r}>" for r in sequence) + "<|prot_aa_end|>"


def structure(codes) -> str:
    return "<|prot_3d_start|>" + "".join(f"<S_{c}>" for c in codes) + "<|prot_3d_end|>"


def folding(sequence: str) -> str:
    return f"Here is a protein sequence: {residues(sequence)}. Write down its folded structure."


# (user turn, the answer's rule given the prompt ids), as the evaluation tasks pose them.
CASES = [
    (folding(PROTEIN_SEQUENCE),
     lambda ids, vocab: AnswerRule(Modality.PROTEIN_3D, length=count_in_prompt(ids, Modality.PROTEIN, vocab))),
    (f"Here is a protein structure in structure tokens: {structure(STRUCTURE_CODES)}. What is its sequence?",
     lambda ids, vocab: AnswerRule(Modality.PROTEIN, length=count_in_prompt(ids, Modality.PROTEIN_3D, vocab))),
    ("Translate the SMILES string <|mol_smi_start|>CCO<|mol_smi_end|> to SELFIES.",
     lambda ids, vocab: AnswerRule(Modality.SELFIES, max_length=8)),
    ("Convert <|mol_smi_start|>CC(=O)N<|mol_smi_end|> into its 3D representation.",
     lambda ids, vocab: AnswerRule(Modality.MOLECULE_3D, max_length=8)),
]


@pytest.fixture(scope="module")
def hf_tokenizer(tiny_hf_model):
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(tiny_hf_model)
    hf.padding_side = "left"
    return hf


@pytest.fixture(scope="module")
def model(tiny_hf_model):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_hf_model).eval()


@pytest.fixture(scope="module")
def vocab(hf_tokenizer):
    return ConstraintVocabulary.from_tokenizer(hf_tokenizer)


def prompt_batch(hf_tokenizer, turns: list[str]):
    texts = [hf_tokenizer.apply_chat_template([{"role": "user", "content": turn}], add_generation_prompt=True,
                                              tokenize=False) for turn in turns]
    return hf_tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)


def generate(model, vocab, batch, controls) -> list[list[int]]:
    """Each row's answer: its generated ids up to and including the first stop token."""
    from transformers import LogitsProcessorList

    length = batch["input_ids"].shape[1]
    processors = LogitsProcessorList([RowControlProcessor(controls, length, vocab.stop_ids)] if controls else [])
    with torch.no_grad():
        out = model.generate(**batch, logits_processor=processors, max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                             eos_token_id=sorted(vocab.stop_ids), pad_token_id=model.config.pad_token_id)
    answers = []
    for row in out[:, length:].tolist():
        stop = next((i for i, token_id in enumerate(row) if token_id in vocab.stop_ids), len(row) - 1)
        answers.append(row[:stop + 1])
    return answers


def decodes(modality: Modality, value, text: str) -> bool:
    """The answer's structure decodes with the project's own decoders."""
    import selfies
    from rdkit import Chem

    from evals.metrics.structures import decoded_backbone, residue_letters
    from megatron_bio.tokenizer.unified import parse_molecule_3d

    checks = {
        Modality.PROTEIN_3D: lambda: np.isfinite(decoded_backbone(text, "torsion")).all(),
        Modality.PROTEIN: lambda: residue_letters(text) == value,
        Modality.SELFIES: lambda: Chem.MolFromSmiles(selfies.decoder(value), sanitize=False) is not None,
        Modality.MOLECULE_3D: lambda: len(parse_molecule_3d(value, "answer")) > 0,
        Modality.DNA: lambda: set(value) <= set(NUCLEIC_ALPHABETS[Modality.DNA]),
        Modality.RNA: lambda: set(value) <= set(NUCLEIC_ALPHABETS[Modality.RNA]),
    }
    return bool(checks[modality]())


def well_formed(answer: list[int], rule: AnswerRule, tokenizer, hf_tokenizer, vocab) -> bool:
    """Exactly one wrapped span of the rule's modality and length, then a stop token, decodable."""
    if len(answer) < 4 or answer[-1] not in vocab.stop_ids:
        return False
    try:
        segments = tokenizer.decode(answer[:-1])
    except TokenizationError:
        return False
    body = len(answer) - 3
    if len(segments) != 1 or segments[0].modality is not rule.modality:
        return False
    if body != (rule.length or body) or body > (rule.max_length or body):
        return False
    return decodes(rule.modality, segments[0].value, hf_tokenizer.decode(answer[:-1], skip_special_tokens=False))


def controls_for(batch, vocab, vocab_size: int, seeds=None) -> list[RowControl]:
    controls = []
    for row, (_, rule_of) in enumerate(CASES):
        ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        sampling = None if seeds is None else Sampling(1.0, 0.95, torch.Generator().manual_seed(seeds[row]))
        controls.append(RowControl(ConstraintState(vocab, rule_of(ids, vocab), vocab_size), sampling))
    return controls


@pytest.mark.parametrize("seeds", [None, (1, 2, 3, 4)], ids=["greedy", "sampled"])
def test_constrained_generation_is_always_well_formed(model, hf_tokenizer, tokenizer, vocab, seeds):
    batch = prompt_batch(hf_tokenizer, [turn for turn, _ in CASES])
    controls = controls_for(batch, vocab, model.config.vocab_size, seeds)
    answers = generate(model, vocab, batch, controls)
    rules = [control.state.rule for control in controls]
    assert [(rule.modality, rule.length) for rule in rules[:2]] == [(Modality.PROTEIN_3D, 12), (Modality.PROTEIN, 10)]
    assert all(well_formed(a, rule, tokenizer, hf_tokenizer, vocab) for a, rule in zip(answers, rules)), answers

    unconstrained = generate(model, vocab, batch, None)
    assert not any(well_formed(a, rule, tokenizer, hf_tokenizer, vocab) for a, rule in zip(unconstrained, rules))


def test_a_sampled_row_gives_the_same_tokens_alone_and_in_a_batch(model, hf_tokenizer, vocab):
    turns = [folding(sequence) for sequence in (PROTEIN_SEQUENCE, "ACDEFGHIKLMN", "PQRSTVWYACDE")]
    batch = prompt_batch(hf_tokenizer, turns)
    assert batch["attention_mask"].all()  # equal lengths: no padding changes the logits
    size = model.config.vocab_size
    rule = AnswerRule(Modality.PROTEIN_3D, length=12)

    def row_controls(seed: int) -> list[RowControl]:
        return [RowControl(ConstraintState(vocab, rule, size), Sampling(1.0, 0.9, torch.Generator().manual_seed(seed))),
                RowControl(ConstraintState(vocab, rule, size)),
                RowControl(None, Sampling(0.8, 1.0, torch.Generator().manual_seed(seed + 1)))]

    together = generate(model, vocab, batch, row_controls(11))
    for row in (0, 2):
        alone = generate(model, vocab, {key: value[row:row + 1] for key, value in batch.items()}, [row_controls(11)[row]])
        assert alone[0] == together[row]
    other_seed = generate(model, vocab, batch, row_controls(12))
    assert other_seed[0] != together[0] and other_seed[2] != together[2]
    assert other_seed[1] == together[1]  # greedy rows do not depend on the seeds


def walk(vocab, rule: AnswerRule, size: int, rng: random.Random) -> list[int]:
    """A random answer the state machine allows, ending with the stop token."""
    state, ids = ConstraintState(vocab, rule, size), []
    end = vocab.modalities[rule.modality].end
    while (allowed := state.allowed()) is not None:
        choices = allowed.nonzero().flatten().tolist()
        assert not allowed[vocab.size:].any()
        body = [c for c in choices if c != end]
        token_id = end if end in choices and (not body or rng.random() < 0.3) else rng.choice(body)
        state.advance(token_id)
        ids.append(token_id)
    return ids


RULES = [AnswerRule(Modality.PROTEIN_3D, length=7), AnswerRule(Modality.PROTEIN, length=5),
         AnswerRule(Modality.SELFIES), AnswerRule(Modality.SELFIES, max_length=4),
         AnswerRule(Modality.MOLECULE_3D, max_length=6), AnswerRule(Modality.SMILES),
         AnswerRule(Modality.SMILES, max_length=10), AnswerRule(Modality.DNA, length=6),
         AnswerRule(Modality.RNA, max_length=5)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.modality.value}-{r.length}-{r.max_length}")
def test_regex_accepts_the_state_machine_answers_and_nothing_else(vocab, hf_tokenizer, rule):
    pattern = re.compile(to_regex(rule, vocab))
    tokens = vocab.modalities[rule.modality]
    rng = random.Random(0)
    for _ in range(25):
        ids = walk(vocab, rule, vocab.size + 30, rng)
        assert ids[0] == tokens.start and ids[-2] == tokens.end and ids[-1] in vocab.stop_ids
        spelled = [hf_tokenizer.decode([token_id], skip_special_tokens=False) for token_id in ids[:-1]]
        text = hf_tokenizer.decode(ids[:-1], skip_special_tokens=False)
        assert text == "".join(spelled)
        assert pattern.fullmatch(text), text
        start, body, end = spelled[0], spelled[1:-1], spelled[-1]
        assert not pattern.fullmatch(start + "".join(body))  # no end wrapper
        assert not pattern.fullmatch(text + "x")  # nothing may follow
        middle = rng.randrange(len(body))
        assert not pattern.fullmatch(start + "".join(body[:middle] + [FOREIGN[rule.modality]] + body[middle + 1:]) + end)
        longer = body + body[:1]  # one more body token: SMILES bounds count characters
        size = len("".join(longer)) if rule.modality is Modality.SMILES else len(longer)
        fits = rule.length is None and (rule.max_length is None or size <= rule.max_length)
        assert bool(pattern.fullmatch(start + "".join(longer) + end)) is fits
        if rule.length and rule.length > 1:
            assert not pattern.fullmatch(start + "".join(body[1:]) + end)
    if rule.max_length:
        longest = tokens.start_text + hf_tokenizer.decode(sorted(tokens.body)[:1]) * (rule.max_length + 1) + tokens.end_text
        assert not pattern.fullmatch(longest)


def test_the_state_machine_refuses_what_it_does_not_allow(vocab):
    rule = AnswerRule(Modality.PROTEIN, length=2)
    tokens, other = vocab.modalities[Modality.PROTEIN], vocab.modalities[Modality.PROTEIN_3D]
    state = ConstraintState(vocab, rule, vocab.size)
    with pytest.raises(ValueError):
        state.advance(next(iter(tokens.body)))  # no start wrapper yet
    state.advance(tokens.start)
    with pytest.raises(ValueError):
        state.advance(tokens.end)  # an empty answer
    with pytest.raises(ValueError):
        state.advance(next(iter(other.body)))  # a structure code in a sequence
    state.advance(next(iter(tokens.body)))
    state.advance(next(iter(tokens.body)))
    assert state.allowed().nonzero().flatten().tolist() == [tokens.end]
    state.advance(tokens.end)
    assert set(state.allowed().nonzero().flatten().tolist()) == vocab.stop_ids
    state.advance(min(vocab.stop_ids))
    assert state.finished and state.allowed() is None
    for bad in (dict(modality=Modality.TEXT), dict(modality=Modality.SMILES, length=3),
                dict(modality=Modality.PROTEIN, length=0), dict(modality=Modality.PROTEIN, length=5, max_length=4)):
        with pytest.raises(ValueError):
            AnswerRule(**bad)


def test_vocabulary_reads_the_tokenizer(vocab, hf_tokenizer, tokenizer):
    from megatron_bio.tokenizer.families import Family

    assert ConstraintVocabulary.from_tokenizer(hf_tokenizer) is vocab
    assert vocab.modalities[Modality.PROTEIN_3D].body == frozenset(tokenizer.family_ids[Family.PROTEIN_3D])
    assert vocab.modalities[Modality.SELFIES].body == frozenset(tokenizer.family_ids[Family.SELFIES]) | {
        hf_tokenizer.convert_tokens_to_ids(".")}
    smiles = vocab.modalities[Modality.SMILES].body
    ids = hf_tokenizer.encode("CC(=O)Nc1ccc(O)cc1[C@@H]%10/C=C\\Br.[Na+]", add_special_tokens=False)
    assert set(ids) <= smiles
    assert not {hf_tokenizer.convert_tokens_to_ids(t) for t in ("Ġthe", "Ġ", "[C]", "<A_M>")} & smiles
    assert vocab.stop_ids == {hf_tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    for modality, letters in NUCLEIC_ALPHABETS.items():
        assert vocab.modalities[modality].body == {hf_tokenizer.convert_tokens_to_ids(f"<N_{x}>") for x in letters}


def nucleic(letters: str, modality: Modality = Modality.DNA) -> str:
    wrapper = "dna" if modality is Modality.DNA else "rna"
    return f"<|{wrapper}_nt_start|>" + "".join(f"<N_{x}>" for x in letters) + f"<|{wrapper}_nt_end|>"


# (user turn, the answer's rule given the prompt ids): the reverse complement has the prompt's DNA
# length; a back-translation 3 x (residues + 1), the stop codon counted (evals.suite.LENGTH_RULES).
NUCLEIC_CASES = [
    (f"Give the reverse complement of this DNA sequence: {nucleic('ACGTTGCANR')}",
     lambda ids, vocab: AnswerRule(Modality.DNA, length=count_in_prompt(ids, Modality.DNA, vocab))),
    (f"Reverse-complement {nucleic('GGCATTAC')}",
     lambda ids, vocab: AnswerRule(Modality.DNA, length=count_in_prompt(ids, Modality.DNA, vocab))),
    (f"Back-translate the following protein into DNA using genetic code 11, ending with a stop codon.\n{residues('MKV')}",
     lambda ids, vocab: AnswerRule(Modality.DNA, length=3 * (count_in_prompt(ids, Modality.PROTEIN, vocab) + 1))),
    (f"Write the mRNA of {residues('MW')} under code 1, stop codon included.",
     lambda ids, vocab: AnswerRule(Modality.RNA, length=3 * (count_in_prompt(ids, Modality.PROTEIN, vocab) + 1))),
]


def test_constrained_nucleotide_answers_are_all_valid_and_of_the_required_length(model, hf_tokenizer, tokenizer, vocab):
    """Greedy and 6 sampled draws per prompt: every answer is one DNA (RNA) span of the molecule's
    letters and of exactly the rule's length; unconstrained, none is."""
    batch = prompt_batch(hf_tokenizer, [turn for turn, _ in NUCLEIC_CASES])
    size = model.config.vocab_size
    rules = [rule_of(batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist(), vocab)
             for row, (_, rule_of) in enumerate(NUCLEIC_CASES)]
    assert [rule.length for rule in rules] == [10, 8, 12, 9]
    answers = []
    for seed in (None, *range(6)):
        controls = [RowControl(ConstraintState(vocab, rule, size),
                               None if seed is None else Sampling(1.0, 1.0, torch.Generator().manual_seed(seed * 10 + row)))
                    for row, rule in enumerate(rules)]
        answers.extend(zip(generate(model, vocab, batch, controls), rules))
    assert all(well_formed(answer, rule, tokenizer, hf_tokenizer, vocab) for answer, rule in answers), answers
    assert len({tuple(answer) for answer, _ in answers}) > len(rules)  # the draws differ
    unconstrained = generate(model, vocab, batch, None)
    assert not any(well_formed(a, rule, tokenizer, hf_tokenizer, vocab) for a, rule in zip(unconstrained, rules))


def test_count_in_prompt_reads_the_last_wrapper(hf_tokenizer, vocab):
    def ids(turn: str) -> list[int]:
        return hf_tokenizer.apply_chat_template([{"role": "user", "content": turn}], add_generation_prompt=True,
                                                tokenize=True, return_dict=True)["input_ids"]

    fold = ids(folding(PROTEIN_SEQUENCE))
    assert count_in_prompt(fold, Modality.PROTEIN, vocab) == 12
    assert count_in_prompt(fold, Modality.PROTEIN_3D, vocab) is None
    assert count_in_prompt(ids(f"Compare {residues('MKV')} with {residues('ACDEF')}."), Modality.PROTEIN, vocab) == 5
    assert count_in_prompt(ids(f"Inverse-fold {structure(STRUCTURE_CODES)}"), Modality.PROTEIN_3D, vocab) == 10
    assert count_in_prompt(ids(f"{residues('MKV')} and <|prot_aa_start|><A_M>"), Modality.PROTEIN, vocab) is None
