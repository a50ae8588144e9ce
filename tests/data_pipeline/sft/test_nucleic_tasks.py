"""DNA and RNA task families on real records (Kaptive loci, EMBOSS's GenBank test entries, NCBI's
16S rRNA database): every translation label is Biopython's translation of its gene, a label that
disagrees is dropped and counted, answers re-derive from their prompts, and the split keeps a gene,
its near-copies (either strand) and its protein together."""

from __future__ import annotations

import random
import re

import pytest
from Bio.Seq import Seq

from biomatrix_io.config import ConfigError
from data_pipeline.sft.config import SplitConfig
from data_pipeline.sft.splits import entity_groups, nucleotide_entity, nucleotide_groups, protein_entity
from data_pipeline.sft.tasks import families
from data_pipeline.sft.tasks.base import Example, Skip
from data_pipeline.sft.tasks.nucleic import genus, gc_percent, reverse_complement
from megatron_bio.tokenizer.segments import NUCLEIC_ALPHABETS, Modality


@pytest.fixture(scope="module")
def records(entities):
    """Three Kaptive loci (genetic code 11) and EMBOSS's GenBank entries (code 1 and 11, mRNA)."""
    return (entities("genbank", ["packaged:kaptive_genbank"], limit=3)
            + entities("genbank", ["packaged:emboss_genbank"], limit=40))


def made(name: str, entity: dict) -> tuple[list[Example], list[str]]:
    """(examples, reasons of the candidates dropped) of one family over one entity."""
    examples, dropped = [], []
    for item in families()[name].make(entity, random.Random(f"{name}:{entity['key']}")):
        (dropped.append(str(item)) if isinstance(item, Skip) else examples.append(item))
    return examples, dropped


def run(name: str, records: list[dict]) -> list[tuple[dict, Example]]:
    found = []
    for entity in records:
        try:
            found.extend((entity, example) for example in made(name, entity)[0])
        except Skip:
            continue
    return found


def body(example: Example, field: str):
    return example.fields[field].value


def test_every_translation_label_is_biopython_s_translation_of_its_gene_and_the_record_s(records):
    examples = run("dna_translation", records)
    annotated = {(id(e), i): f["translation"] for e in records for i, f in enumerate(e["features"])}
    tables = set()
    for entity, example in examples:
        gene, [answer] = body(example, "sequence"), example.answer
        table = int(body(example, "table"))
        tables.add(table)
        assert answer.modality is Modality.PROTEIN
        assert str(Seq(gene).translate(table=table, cds=True)) == answer.value
        assert answer.value == annotated[(id(entity), int(example.suffix[len(":cds"):]))]
        assert example.fields["sequence"].modality is (Modality.RNA if entity["molecule"] == "RNA" else Modality.DNA)
        assert example.encodes == ((gene, answer.value),)
    assert len(examples) > 50 and tables == {1, 11}
    assert any(e["molecule"] == "RNA" for e, _ in examples)  # mRNA entries: the gene is RNA


def test_a_translation_that_disagrees_with_its_gene_is_dropped_with_its_reason_the_others_kept(records):
    entity = next(e for e in records if sum(f["kind"] == "CDS" and bool(f["translation"]) for f in e["features"]) > 3)
    good, _ = made("dna_translation", entity)
    index = next(i for i, f in enumerate(entity["features"]) if f["kind"] == "CDS" and f["translation"])
    features = list(entity["features"])
    wrong = features[index]["translation"]
    features[index] = {**features[index], "translation": wrong[:5] + ("A" if wrong[5] != "A" else "G") + wrong[6:]}
    examples, dropped = made("dna_translation", {**entity, "features": features})
    assert len(examples) == len(good) - 1 and f":cds{index}" not in {e.suffix for e in examples}
    assert "Biopython's translation under table 11 differs from /translation" in dropped


def test_back_translation_answers_encode_the_prompt_protein_stop_codon_included(records):
    examples = run("dna_back_translation", records)
    assert len(examples) > 50
    for _, example in examples:
        protein, table = body(example, "protein"), int(body(example, "table"))
        [gene] = example.answer
        assert str(Seq(gene.value).translate(table=table, cds=True)) == protein
        assert len(gene.value) == example.meta["length"] == 3 * (len(protein) + 1)
        assert example.meta["protein"] == protein and example.meta["transl_table"] == table


def test_a_window_s_location_and_reading_frame_give_back_its_protein(records):
    boundaries, frames = run("cds_boundaries", records), run("coding_frame", records)
    assert len(boundaries) > 40 and len(frames) > 40
    strands = set()
    for _, example in boundaries:
        window, [location] = body(example, "sequence"), example.answer
        match = re.fullmatch(r"(complement\()?(\d+)\.\.(\d+)\)?", location.value)
        start, end = int(match.group(2)), int(match.group(3))
        gene = window[start - 1:end]
        gene = reverse_complement(gene) if match.group(1) else gene
        strands.add(bool(match.group(1)))
        protein, dna = example.proteins[0], example.nucleotides[1]
        assert gene == dna  # the location cuts the annotated CDS, whose translation the translation test checks
        assert example.encodes == ((dna, protein), (window, protein))
    assert strands == {True, False}
    for _, example in frames:
        window, protein, table = body(example, "sequence"), body(example, "protein"), int(body(example, "table"))
        frame = example.answer[0].value
        strand = window if frame[0] == "+" else reverse_complement(window)
        offset = int(frame[1]) - 1
        read = str(Seq(strand[offset:len(strand) - (len(strand) - offset) % 3]).translate(table=table))
        assert protein[1:] in read  # the first residue is read as M whatever the start codon codes


def test_gene_pair_questions_are_true_or_another_gene_s_protein_of_the_same_record(records):
    examples = run("gene_protein_match", records)
    answers = {example.answer[0].value for _, example in examples}
    assert answers == {"yes", "no"}
    for _, example in examples:
        gene, protein, table = body(example, "sequence"), body(example, "protein"), int(body(example, "table"))
        encoded = str(Seq(gene).translate(table=table, cds=True))
        assert (encoded == protein) is (example.answer[0].value == "yes")
        assert protein in example.proteins and gene == example.nucleotides[0]
        assert all(p in example.proteins and d in example.nucleotides for d, p in example.encodes)


def test_sequence_tasks_and_product_names(records):
    for _, example in run("dna_reverse_complement", records):
        window, [answer] = body(example, "sequence"), example.answer
        assert answer.modality is Modality.DNA and len(answer.value) == len(window)
        assert reverse_complement(answer.value) == window and set(answer.value) <= set(NUCLEIC_ALPHABETS[Modality.DNA])
        assert str(Seq(window).reverse_complement()) == answer.value
    for _, example in run("gc_content", records):
        window = body(example, "sequence")
        assert float(example.answer[0].value) == pytest.approx(100 * sum(window.count(b) for b in "GCS")
                                                               / sum(window.count(b) for b in "ACGTUSW"), abs=0.05)
    assert gc_percent("ACGS") == 75.0 and gc_percent("NNRY") is None
    assert reverse_complement("ACGUN", "RNA") == "NACGU" and reverse_complement("AAGRY") == "RYCTT"
    products = run("gene_product", records)
    assert len(products) > 30 and all(e.answer[0].value.lower() != "hypothetical protein" for _, e in products)


def test_rrna_examples_ask_the_genus_and_are_keyed_by_organism(entities):
    examples = run("rrna_genus", entities("rrna_blast_db", ["packaged:ncbi_16s_rrna"], limit=40))
    assert len(examples) > 25
    for entity, example in examples:
        assert example.organisms == (entity["organism"],) and not example.nucleotides
        assert example.answer[0].value == genus(entity["organism"]) == entity["organism"].removeprefix("Candidatus ").split()[0]
        assert example.fields["sequence"].modality is Modality.RNA and "T" not in body(example, "sequence")
    assert genus("Roseomonas mucosa") == "Roseomonas" and genus("Streptomyces sp. 1") == "Streptomyces"
    assert genus("Candidatus Liberibacter asiaticus") == "Liberibacter"
    assert [genus(n) for n in ("E.coli", "Uncultured soil bacterium", "Phototrophic bacterium")] == [None] * 3


def _mutated(sequence: str, rate: float, rng: random.Random) -> str:
    return "".join(rng.choice("ACGT".replace(c, "")) if rng.random() < rate else c for c in sequence)


def test_the_identity_split_joins_near_copies_on_either_strand_and_a_gene_with_its_protein():
    rng = random.Random(3)
    gene = "".join(rng.choice("ACGT") for _ in range(1200))
    variants = {
        "gene": gene,
        "copy_95": _mutated(gene, 0.05, rng),
        "reverse_95": reverse_complement(_mutated(gene, 0.05, rng)),
        "fragment": gene[150:1100],  # 950 bases: 79% of the gene, 100% of itself
        "window": "".join(rng.choice("ACGT") for _ in range(600)) + gene + "".join(rng.choice("ACGT") for _ in range(700)),
        "copy_85": _mutated(gene, 0.15, rng),
        "other": "".join(rng.choice("ACGT") for _ in range(1200)),
    }
    keys = {name: nucleotide_entity(sequence) for name, sequence in variants.items()}
    assert nucleotide_entity(reverse_complement(gene)) == keys["gene"]
    assert nucleotide_entity(gene.replace("T", "U")) == keys["gene"]
    groups = nucleotide_groups({keys[n]: s for n, s in variants.items()}, 0.9)
    near = {name for name in variants if groups[keys[name]] == groups[keys["gene"]]}
    assert near == {"gene", "copy_95", "reverse_95", "fragment", "window"}
    protein = str(Seq(gene[:-(len(gene) % 3) or None]).translate()).replace("*", "W")
    entities = {keys["other"]: variants["other"], protein_entity(protein): protein, keys["gene"]: gene}
    linked = entity_groups(entities, [(keys["other"], protein_entity(protein))], SplitConfig())
    assert linked[keys["other"]] == linked[protein_entity(protein)] != linked[keys["gene"]]
    with pytest.raises(ConfigError, match="nucleotide_identity"):
        SplitConfig(nucleotide_identity=0)
