"""The nucleic-acid corpus on the demo build's real records (Kaptive loci, EMBOSS GenBank entries,
named 16S rRNA): every pair's DNA translates to its protein under the genetic code its text names,
windows tile their records and place each feature where it lies, long sequences are cut at a codon
with their protein, interleaved documents keep their letter budget, documents are seeded, feature
rejections are counted, and the blend and the composition table give the nucleic prefixes our
budget beside the paper's."""

import itertools
import json
import random
import re
from pathlib import Path

import pytest
import yaml
from Bio.Seq import Seq

from biomatrix_io.config import ConfigError
from biomatrix_io.records import NucleotideFeature, NucleotideRecord, Provenance, Rejection, reason_group
from data_pipeline.build import read_entities
from data_pipeline.catalog import reader, resolve_paths
from data_pipeline.compose import NUCLEIC_BUDGET_B, PAPER_BUDGET_B, ComposeConfig, Lexicon, compose
from data_pipeline.config import DataConfig
from data_pipeline.nucleic import GENOME, INTERLEAVED, PAIRS, RNA, NucleicConfig, nucleotide_documents
from megatron_bio.tokenizer.segments import Modality

README = Path(__file__).resolve().parents[2] / "data_pipeline" / "README.md"
NUCLEIC = (GENOME, RNA, PAIRS, INTERLEAVED)
WINDOW_FEATURE = re.compile(r"^(\S+) (<?)(\d+)\.\.(>?)(\d+) \(([+-])\)", re.M)


@pytest.fixture(scope="module")
def demo(demo_build):
    return demo_build


@pytest.fixture(scope="module")
def entities(demo) -> list[dict]:
    """The demo's stage-1 nucleotide entities, in plan order."""
    _, _, shards = demo
    tars = sorted((shards.parent / "work" / "stage1").glob("*.tar"))
    found = [e for tar in tars if tar.name.startswith(("kaptive-", "emboss_gb-", "rrna-")) for e in read_entities(tar)]
    assert {e["kind"] for e in found} == {"nucleotide"} and {e["molecule"] for e in found} == {"DNA", "RNA"}
    return found


def _documents(demo, prefix: str) -> list:
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    config, _, shards = demo
    tokenizer = config.tokenizer.build()
    dataset = IndexedDataset(str(shards / prefix))
    return [tokenizer.decode(dataset[k].tolist()[:-1]) for k in range(len(dataset))]


def test_the_demo_builds_every_nucleic_prefix_with_our_budget(demo):
    config, summary, shards = demo
    assert set(NUCLEIC) <= set(summary["prefixes"])
    datasets = {d["prefix"]: d for d in yaml.safe_load((shards / "blend.yaml").read_text())["datasets"]}
    for prefix in NUCLEIC:
        assert datasets[prefix]["our_budget_b"] == config.nucleic_budget_b[prefix] and "paper_budget_b" not in datasets[prefix]
    assert datasets["protein/1d"]["paper_budget_b"] == PAPER_BUDGET_B["protein/1d"]
    weights = summary["blend"]
    assert weights[GENOME] / weights["protein/1d"] == pytest.approx(NUCLEIC_BUDGET_B[GENOME] / PAPER_BUDGET_B["protein/1d"], rel=1e-4)
    modalities = {p: json.loads((shards / f"{p}.manifest.json").read_text())["tokens_by_modality"] for p in NUCLEIC}
    assert modalities[GENOME]["dna"] > 0.9 * summary["prefixes"][GENOME]  # one token per base: the bulk
    assert modalities[RNA]["rna"] > 0.9 * summary["prefixes"][RNA]
    assert modalities[PAIRS]["protein"] > 0 and modalities[PAIRS]["dna"] > 2.5 * modalities[PAIRS]["protein"]
    assert {"dna", "protein", "text"} <= set(modalities[INTERLEAVED])


def test_every_pair_translates_under_the_genetic_code_its_text_names(demo):
    documents = _documents(demo, PAIRS)
    orders, checked = {"dna first": 0, "protein first": 0}, 0
    for segments in documents:
        text = "".join(s.value for s in segments if s.modality is Modality.TEXT)
        nucleic = [s for s in segments if s.modality in (Modality.DNA, Modality.RNA)]
        protein = [s for s in segments if s.modality is Modality.PROTEIN]
        assert len(nucleic) == len(protein) == 1, text
        orders["dna first" if segments.index(nucleic[0]) < segments.index(protein[0]) else "protein first"] += 1
        table = int(re.search(r"genetic code (\d+)", text).group(1))
        if not re.search(r"partial|reading frame|codons", text):  # a whole CDS: the strictest check
            dna = nucleic[0].value.replace("U", "T")
            assert str(Seq(dna).translate(table=table, cds=True)) == protein[0].value, text
            checked += 1
    assert orders["dna first"] == orders["protein first"] == len(documents) // 2
    assert checked > 100


def _feature(fields: dict) -> NucleotideFeature:
    return NucleotideFeature(**{**fields, "parts": tuple(tuple(p) for p in fields["parts"])})


def test_windows_tile_each_record_and_place_its_features(entities):
    """Every base in one window, in order; a feature inside a window, at the positions its line
    gives, holds the bases the feature holds in its record (either strand)."""
    config = NucleicConfig()
    placed = 0
    for entity in entities:
        record = NucleotideRecord(Provenance("", "", entity["id"]), entity["sequence"], entity["molecule"])
        documents = nucleotide_documents(entity, config, random.Random(0))
        windows = [d for p, d in documents if p in (GENOME, RNA)]
        prefix = GENOME if entity["molecule"] == "DNA" else RNA
        assert {p for p, _ in documents if p in (GENOME, RNA)} == {prefix}
        sequences = [next(s.value for s in d if s.modality in (Modality.DNA, Modality.RNA)) for d in windows]
        assert "".join(sequences) == entity["sequence"] and all(len(s) <= config.window_bases for s in sequences)
        features = {(f["kind"], f["parts"][0][0], f["parts"][0][1], f["strand"]): f for f in entity["features"]
                    if len(f["parts"]) == 1}
        for index, (document, sequence) in enumerate(zip(windows, sequences)):
            start = index * config.window_bases
            text = "".join(s.value for s in document if s.modality is Modality.TEXT)
            for kind, low, first, high, last, strand in WINDOW_FEATURE.findall(text):
                if low or high:
                    continue
                key = (kind, start + int(first) - 1, start + int(last), 1 if strand == "+" else -1)
                if key not in features:
                    continue  # a joined feature (parts inside the window) or a partial one
                window = NucleotideRecord(record.provenance, sequence, entity["molecule"])
                in_window = NucleotideFeature(kind, ((int(first) - 1, int(last)),), key[3])
                assert in_window.extract(window) == _feature(features[key]).extract(record), (entity["id"], kind, first)
                placed += 1
    assert placed > 50


def test_long_coding_sequences_are_cut_at_a_codon_with_their_protein(entities):
    config = NucleicConfig(sequence_bases=300, interleave_letters=800, embed_probability=1.0)
    entity = next(e for e in entities if sum(f["kind"] == "CDS" and bool(f["translation"]) for f in e["features"]) >= 8)
    documents = nucleotide_documents(entity, config, random.Random(0))
    cut = 0
    for prefix, document in documents:
        if prefix != PAIRS:
            continue
        text = "".join(s.value for s in document if s.modality is Modality.TEXT)
        dna = next(s.value for s in document if s.modality is Modality.DNA)
        protein = next(s.value for s in document if s.modality is Modality.PROTEIN)
        kept = re.search(r"first (\d+) of (\d+) codons", text)
        if kept:
            table = int(re.search(r"genetic code (\d+)", text).group(1))
            assert len(dna) <= 300 and len(dna) == 3 * int(kept.group(1)) == 3 * len(protein), text
            assert str(Seq(dna).translate(table=table))[1:] == protein[1:]  # codon for residue; the start is read as M
            cut += 1
    assert cut >= 8
    interleaved = [d for p, d in documents if p == INTERLEAVED]
    assert len(interleaved) > 1
    for document in interleaved:  # each opens as the record's first one does
        assert document[0].value.split("\n")[0] == interleaved[0][0].value.split("\n")[0]
        mentions = [s for s in document if s.modality is not Modality.TEXT]
        assert sum(len(s.value) for s in mentions) <= config.interleave_letters or len(mentions) <= 2
        assert all(len(s.value) <= 300 for s in mentions if s.modality is Modality.DNA)
    spans = {(str(f["parts"]), f["strand"]) for f in entity["features"] if f["kind"] != "gene"}
    named = [f for f in entity["features"] if (f["gene"] or f["locus_tag"] or f["product"])
             and (f["kind"] != "gene" or (str(f["parts"]), f["strand"]) not in spans)]  # a gene repeating its CDS: once
    sentences = sum(s.value.count("\nThe ") for d in interleaved for s in d if s.modality is Modality.TEXT)
    assert sentences == len(named)


def test_documents_are_seeded_by_the_entity_key(entities):
    config, lexicon = ComposeConfig(), Lexicon({}, ComposeConfig().interleave)
    other = ComposeConfig(seed=config.seed + 1)
    first = [compose(e, config, lexicon) for e in entities]
    assert first == [compose(e, config, lexicon) for e in entities]
    assert first != [compose(e, other, lexicon) for e in entities]


def test_feature_rejections_are_counted_as_entries_of_their_source(demo):
    config, summary, _ = demo
    for name in ("kaptive", "emboss_gb"):
        source, stats = config.sources[name], summary["sources"][name]
        read = reader(source.reader, source.options)
        items = list(itertools.islice((i for p in resolve_paths(source.paths, name) for i in read(p)), source.limit))
        rejections = [i for i in items if isinstance(i, Rejection)]
        assert any(" feature " in r.provenance.location for r in rejections), name
        assert stats["records"] == len(items) == stats["written"] + sum(stats["rejected"].values())
        grouped: dict[str, int] = {}
        for rejection in rejections:
            grouped[reason_group(rejection.reason)] = grouped.get(reason_group(rejection.reason), 0) + 1
        assert stats["rejected"] == grouped


def test_the_composition_table_shows_the_paper_and_our_budgets():
    text = README.read_text()
    table = text[text.index("| prefix | tokens (B) |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("| "):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0].strip("`*")] = cells
    paper, ours = sum(PAPER_BUDGET_B.values()), sum(NUCLEIC_BUDGET_B.values())
    for budget, whose in ((PAPER_BUDGET_B, "paper"), (NUCLEIC_BUDGET_B, "ours")):
        for prefix, billions in budget.items():
            cells = rows[prefix]
            assert float(cells[1]) == billions and cells[4].startswith(whose), cells
            assert cells[2] == (f"{100 * billions / paper:.1f}%" if whose == "paper" else "-"), cells
            assert cells[3] == f"{100 * billions / (paper + ours):.1f}%", cells
    assert f"{paper:.1f}" in rows["total"][1] and f"{paper + ours:.1f}" in rows["total"][1]


def test_a_budget_or_window_outside_its_range_is_the_users_mistake():
    assert DataConfig(nucleic_budget_b={GENOME: 20.0}).nucleic_budget_b == {**NUCLEIC_BUDGET_B, GENOME: 20.0}
    with pytest.raises(ConfigError, match="nucleic_budget_b") as error:
        DataConfig(nucleic_budget_b={"nucleic/plasmid": 1.0})
    assert error.value.keys == ("nucleic_budget_b",)
    with pytest.raises(ConfigError, match="nucleic_budget_b"):
        DataConfig(nucleic_budget_b={**NUCLEIC_BUDGET_B, RNA: 0.0})
    with pytest.raises(ConfigError, match="window_bases"):
        NucleicConfig(window_bases=0)
    with pytest.raises(ConfigError, match="embed_probability"):
        NucleicConfig(embed_probability=1.5)
