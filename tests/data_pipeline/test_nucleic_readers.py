"""Nucleic-acid readers over real data from installed packages (Debian kaptive-data,
any2fasta-examples, emboss-test, ncbi-data; the pyrodigal wheel's genome): records with their
organisms and features, every kept CDS translation re-derived by Biopython, and hostile copies of
real entries rejected by name with the accounting holding (entries in = records + rejections;
features of kept records = kept features + feature rejections)."""

import collections
import gzip
import io
import re
import struct

import numpy as np
import pytest
from Bio import SeqIO
from Bio.Seq import Seq

from biomatrix_io.boundary import guarded
from biomatrix_io.files import open_text
from biomatrix_io.readers import packaged
from biomatrix_io.readers.nucleic import (
    FEATURE_KINDS,
    IUPAC_NUCLEOTIDES,
    header_organism,
    read_embl,
    read_genbank,
    read_nucleotide_fasta,
    read_rrna_blast_db,
)
from biomatrix_io.records import NucleotideRecord, Rejection


def split(results):
    records = [r for r in results if isinstance(r, NucleotideRecord)]
    return records, [r for r in results if isinstance(r, Rejection)]


def feature_rejections(rejections):
    return [r for r in rejections if " feature " in r.provenance.location]


def entries(path, n: int) -> list[str]:
    """The first n entries (up to and with their `//` line) of a real flat file, as text."""
    found, lines = [], []
    with open_text(path) as handle:
        for line in handle:
            lines.append(line)
            if line.startswith("//"):
                found.append("".join(lines))
                lines = []
                if len(found) == n:
                    break
    return found


def biopython_features(text: str, form: str) -> dict[str, collections.Counter]:
    """Record id -> its features of the read kinds, counted by kind, as Biopython parses the text."""
    return {record.id: collections.Counter(f.type for f in record.features if f.type in FEATURE_KINDS)
            for record in SeqIO.parse(io.StringIO(text), form)}


def assert_translations_rederived(record: NucleotideRecord) -> int:
    """Every kept CDS translation against Biopython's own translation of the CDS's DNA; returns how many."""
    checked = 0
    for feature in record.features:
        if feature.kind != "CDS" or feature.translation is None:
            continue
        dna = feature.extract(record)[feature.codon_start - 1:]
        if not (feature.five_prime_partial or feature.three_prime_partial):
            assert str(Seq(dna).translate(table=feature.transl_table, cds=True)) == feature.translation, feature.locus
        else:  # the partial ends' own rules; the codons in between are Biopython's
            plain = str(Seq(dna[:len(dna) // 3 * 3]).translate(table=feature.transl_table))
            plain = plain if feature.three_prime_partial else plain[:-1]
            assert "*" not in plain and feature.translation[1:len(plain)] == plain[1:], feature.locus
            assert feature.translation[0] == (plain[0] if feature.five_prime_partial else "M")
            assert len(feature.translation) - len(plain) in (0, 1)
        checked += 1
    return checked


def write_entries(tmp_path, name: str, texts: list[str]):
    path = tmp_path / name
    path.write_text("".join(texts))
    return path


def set_base(entry: str, base: int, letter: str) -> str:
    """The entry with its sequence's base (1-based) replaced, in the ORIGIN block."""
    head, origin = entry.split("\nORIGIN", 1)
    seen = 0
    for match in re.finditer(r"[A-Za-z]", origin.split("\n", 1)[1]):
        seen += 1
        if seen == base:
            at = len(head) + len("\nORIGIN") + len(origin.split("\n", 1)[0]) + 1 + match.start()
            return entry[:at] + letter + entry[at + 1:]
    raise ValueError(f"the entry has fewer than {base} bases")


# GenBank and EMBL over real files

@pytest.fixture(scope="module")
def leptospira():
    """The first 9 contigs of the Leptospira draft genome: partial CDS on both strands, pseudogenes, tRNA."""
    return "".join(entries(packaged.any2fasta_genbank(), 9))


@pytest.fixture(scope="module")
def leptospira_read(leptospira, tmp_path_factory):
    path = tmp_path_factory.mktemp("leptospira") / "contigs.gbk"
    path.write_text(leptospira)
    return split(list(read_genbank(path)))


def test_genbank_records_carry_organism_features_and_checked_translations(leptospira, leptospira_read):
    records, rejections = leptospira_read
    assert not rejections and len(records) == 9
    expected = biopython_features(leptospira, "genbank")
    assert [r.id for r in records] == list(expected)
    for record in records:
        assert record.organism == "Leptospira kirschneri str. H1" and record.molecule == "DNA"
        assert record.taxonomy[:2] == ("Bacteria", "Spirochaetes") and record.description.startswith("Leptospira kirschneri")
        assert set(record.sequence) <= set(IUPAC_NUCLEOTIDES) and "U" not in record.sequence
        assert collections.Counter(f.kind for f in record.features) == expected[record.id]  # nothing lost or invented
    cds = [f for r in records for f in r.features if f.kind == "CDS"]
    assert sum(assert_translations_rederived(r) for r in records) == sum(f.translation is not None for f in cds) > 100
    assert all(f.transl_table == 11 and f.locus_tag and f.product for f in cds)
    assert any(f.five_prime_partial and f.strand == -1 for f in cds) and any(f.three_prime_partial and f.strand == 1 for f in cds)
    pseudo = [f for f in cds if f.pseudo]
    assert pseudo and all(f.translation is None for f in pseudo)  # kept, unchecked, without a product
    trna = [f for r in records for f in r.features if f.kind == "tRNA"]
    assert len(trna) == 5 and all(f.product.startswith("tRNA-") for f in trna)


def test_features_extract_and_locate_as_biopython_and_insdc_do(leptospira, leptospira_read):
    records, _ = leptospira_read
    ours = {(r.id, f.kind, f.start, f.end, f.strand): (r, f) for r in records for f in r.features}
    compared = 0
    for source in SeqIO.parse(io.StringIO(leptospira), "genbank"):
        for feature in source.features:
            if feature.type in FEATURE_KINDS:
                record, mine = ours[(source.id, feature.type, int(feature.location.start), int(feature.location.end),
                                     feature.location.strand)]
                assert mine.extract(record) == str(feature.extract(source.seq)).upper()
                compared += 1
    assert compared == len(ours)
    written = re.findall(r"^     CDS +(\S+)$", leptospira, re.M)
    assert sorted(f.locus for r in records for f in r.features if f.kind == "CDS") == sorted(written)


def test_kaptive_loci_and_their_real_disagreements(tmp_path):
    """Kaptive's O-antigen loci read whole; Acinetobacter K locus KL100 annotates its CDS's alternative
    start codon ATT as I, where a CDS's translation reads it as M: that feature alone is rejected."""
    kaptive = {p.name: p for p in packaged.kaptive_genbank()}
    records, rejections = split(list(read_genbank(kaptive["Klebsiella_o_locus_primary_reference.gbk"])))
    assert len(records) == 16 and not rejections
    assert {r.organism for r in records} == {"Klebsiella pneumoniae"} and all(r.features for r in records)
    assert sum(map(assert_translations_rederived, records)) > 100
    genes = [f.gene for r in records for f in r.features if f.kind == "CDS"]
    assert "rfbB" in genes and "wzm" in genes

    kl100 = entries(kaptive["Acinetobacter_baumannii_k_locus_primary_reference.gbk"], 3)[2]
    records, rejections = split(list(read_genbank(write_entries(tmp_path, "KL100.gbk", [kl100]))))
    assert [r.id for r in records] == ["KL100"] and len(rejections) == 1
    assert rejections[0].provenance.record_id == "KL100:CDS:complement(2640..3758)"
    assert "residue 1 annotated 'I', encoded 'M'" in rejections[0].reason
    assert sum(biopython_features(kl100, "genbank")["KL100"].values()) == len(records[0].features) + 1


def test_mrna_entries_are_rna_and_their_cds_still_translate():
    path = next(p for p in packaged.emboss_genbank() if p.name == "gbrod1.seq")
    records, rejections = split(list(read_genbank(path)))
    assert not rejections and [r.molecule for r in records] == ["RNA"] * 3
    assert all("T" not in r.sequence and "U" in r.sequence for r in records)
    assert sum(map(assert_translations_rederived, records)) == 2
    assert records[1].organism == "Rattus norvegicus" and records[1].taxonomy[0] == "Eukaryota"


def test_features_in_other_entries_are_rejected_alone():
    """C. elegans cosmid Z11115: two genes continue in other entries (join(..., Z22175.1:18703..19791)):
    they cannot be extracted from this record; its other spliced genes on both strands are kept."""
    path = next(p for p in packaged.emboss_genbank() if p.name == "gbinv1.seq")
    records, rejections = split(list(read_genbank(path)))
    assert len(records) == 2 and len(rejections) == 4
    assert all(re.fullmatch(r"part 'Z(22175|11126)\.1:\d+\.\.\d+' is in another entry", r.reason) for r in rejections)
    assert all(r.provenance.record_id.startswith("Z11115.3:") for r in rejections)
    cosmid = records[0]
    spliced = [f for f in cosmid.features if f.kind == "CDS" and len(f.parts) > 1]
    assert {f.strand for f in spliced} == {1, -1} and assert_translations_rederived(cosmid) >= len(spliced) > 5
    expected = biopython_features(path.read_text(), "genbank")
    assert sum(expected["Z11115.3"].values()) == len(cosmid.features) + len(rejections)


def test_embl_entries_read_like_genbank_ones():
    path = next(p for p in packaged.emboss_embl() if p.name == "pro.dat")
    records, rejections = split(list(read_embl(path)))
    assert not rejections and len(records) == 10
    assert all(r.organism and r.taxonomy and r.molecule == "DNA" for r in records)
    assert sum(map(assert_translations_rederived, records)) >= 10


# Hostile copies of real entries

@pytest.fixture(scope="module")
def o_locus_entries():
    o_loci = next(p for p in packaged.kaptive_genbank() if p.name == "Klebsiella_o_locus_primary_reference.gbk")
    return entries(o_loci, 3)


def test_a_foreign_letter_rejects_its_record_by_name(o_locus_entries, tmp_path):
    first, second, third = o_locus_entries
    path = write_entries(tmp_path, "x.gbk", [first, set_base(second, 1234, "x"), third])
    records, rejections = split(list(read_genbank(path)))
    assert [r.id for r in records] == [first.split()[1] + ".1", third.split()[1] + ".1"]
    assert len(rejections) == 1 and rejections[0].reason == "not a nucleotide letter: 'X' at base 1234"
    assert rejections[0].provenance.record_id == second.split()[1] + ".1"
    gap = write_entries(tmp_path, "gap.gbk", [set_base(first, 7, "-")])
    assert next(iter(read_genbank(gap))).reason.startswith("not a nucleotide letter: '-' at base 7 (a gap")


def test_an_altered_translation_rejects_its_feature_and_keeps_the_record(o_locus_entries, tmp_path):
    first = o_locus_entries[0]
    start = first.index('/translation="') + len('/translation="')
    residue = "W" if first[start + 1] != "W" else "Y"
    altered = first[:start + 1] + residue + first[start + 2:]
    second_cds = altered.index("/transl_table=11", altered.index("/transl_table=11") + 1)  # the next CDS: no such code
    altered = altered[:second_cds] + "/transl_table=99" + altered[second_cds + len("/transl_table=11"):]
    path = write_entries(tmp_path, "altered.gbk", [altered])
    records, rejections = split(list(read_genbank(path)))
    assert len(records) == 1 and len(rejections) == 2 and rejections == feature_rejections(rejections)
    by_reason = sorted(r.reason for r in rejections)
    assert by_reason[0].startswith("/transl_table '99' is not an NCBI genetic code")
    assert by_reason[1].startswith(f"/translation disagrees with its DNA under table 11: residue 2 annotated '{residue}'")
    assert all(r.provenance.record_id.startswith(f"{records[0].id}:CDS:") for r in rejections)
    expected = biopython_features(first, "genbank")[records[0].id]
    assert sum(expected.values()) == len(records[0].features) + len(rejections)
    assert_translations_rederived(records[0])


def test_a_file_cut_in_the_middle_keeps_the_entries_before(o_locus_entries, tmp_path):
    text = "".join(o_locus_entries)
    cut = text[:len(text) - len(o_locus_entries[2]) // 2]
    path = write_entries(tmp_path, "cut.gbk", [cut])
    records, rejections = split(list(read_genbank(path)))
    assert len(records) == 2 and len(rejections) == 1
    assert rejections[0].reason == "entry cut short: no '//' line ends it"
    assert rejections[0].provenance.record_id == o_locus_entries[2].split()[1]
    short = o_locus_entries[1].replace("\n//", "\n", 1).rsplit("\n", 3)[0] + "\n//\n"  # its last sequence line gone
    records, rejections = split(list(read_genbank(write_entries(tmp_path, "short.gbk", [o_locus_entries[0], short]))))
    assert len(records) == 1 and re.fullmatch(r"sequence of \d+ bases, \d+ declared", rejections[0].reason)
    compressed = gzip.compress(text.encode())
    (tmp_path / "cut.gbk.gz").write_bytes(compressed[:len(compressed) * 5 // 6])
    records, rejections = split(list(guarded(read_genbank)(tmp_path / "cut.gbk.gz")))
    assert len(records) == 2 and [r.reason.split(":")[0] for r in rejections] == ["unreadable file"]


def test_u_in_dna_and_t_with_u_in_rna_are_rejected(o_locus_entries, tmp_path):
    first = o_locus_entries[0]
    head, origin = first.split("\nORIGIN", 1)
    uracil = write_entries(tmp_path, "u.gbk", [head + "\nORIGIN" + origin.replace("t", "u")])
    rejection = next(iter(read_genbank(uracil)))
    assert re.fullmatch(r"U in a DNA sequence at base \d+ \(RNA declared as DNA\?\)", rejection.reason)
    mrna = entries(next(p for p in packaged.emboss_genbank() if p.name == "gbrod1.seq"), 2)[1]
    mixed = write_entries(tmp_path, "mixed.gbk", [set_base(mrna, 10, "u")])
    assert next(iter(read_genbank(mixed))).reason.startswith("both T and U in an RNA sequence (U at base 10")


# FASTA

def test_genome_fasta(tmp_path):
    records, rejections = split(list(read_nucleotide_fasta(packaged.pyrodigal_genome_fasta())))
    assert not rejections and len(records) == 1
    genome = records[0]
    assert genome.id == "NZ_LN831026.1" and len(genome.sequence) == 2_463_666 and genome.molecule == "DNA"
    assert genome.organism == "Corynebacterium diphtheriae" and genome.features == ()
    rrna = next(r for r in read_rrna_blast_db(packaged.ncbi_16s_rrna(), molecule="DNA") if isinstance(r, NucleotideRecord))
    (tmp_path / "mixed.fa").write_text(
        f">rrna E. coli 16S rRNA\n{rrna.sequence.lower()}\n>empty\n\n>aligned\nACGT--ACGT\n"
        f">uracil\n{rrna.sequence[:50].replace('T', 'U')}\n>both\n{rrna.sequence[:20]}U\n")
    as_rna = list(read_nucleotide_fasta(tmp_path / "mixed.fa", molecule="RNA"))
    assert as_rna[0].sequence == rrna.sequence.replace("T", "U") and as_rna[0].molecule == "RNA"
    assert [r.reason for r in as_rna[1:3]] == ["empty sequence", "not a nucleotide letter: '-' at base 5 (a gap: an alignment, not a sequence)"]
    assert as_rna[3].sequence == rrna.sequence[:50].replace("T", "U")
    assert as_rna[4].reason.startswith("both T and U")
    as_dna = list(read_nucleotide_fasta(tmp_path / "mixed.fa"))
    assert as_dna[0].sequence == rrna.sequence and as_dna[3].reason.startswith("U in a DNA sequence at base")


# Named rRNA from the BLAST nucleotide databases

@pytest.fixture(scope="module")
def rrna():
    return split(list(read_rrna_blast_db(packaged.ncbi_16s_rrna())))


def test_16s_rrna_database_gives_named_sequences(rrna):
    records, rejections = rrna
    assert len(records) + len(rejections) == 5681 and len(rejections) < 10
    assert all(r.reason == "the header names no organism" for r in rejections)
    first = records[0]
    assert first.id == "gi|170787319|gb|J01695.2|ECORGNB" and first.organism == "E.coli"
    assert first.sequence.startswith("AAAUUGAAGAGUUUGAUCAUGGCUCAG") and first.molecule == "RNA"
    assert all(r.molecule == "RNA" and "T" not in r.sequence and r.organism for r in records)
    universal = sum("GUGCCAGCAGCCGCGGUAA" in r.sequence or "GUGCCAGCCGCCGCGGUAA" in r.sequence for r in records)
    assert universal > 0.85 * len(records)  # the 515F primer site of every 16S: the bases decode right
    assert sum(bool(set(r.sequence) - set("ACGU")) for r in records) > 1000  # ambiguity codes decoded
    assert len({r.organism for r in records}) > 4000


def test_organelle_rrna_lengths_match_their_headers():
    checked = 0
    for path in packaged.ncbi_organelle_rrna()[:2]:
        for record in read_rrna_blast_db(path):
            length = re.search(r"length (\d+)", record.description or "") if isinstance(record, NucleotideRecord) else None
            if length:
                assert int(length.group(1)) == len(record.sequence)
                checked += 1
    assert checked > 800


@pytest.mark.parametrize("description, organism", [
    ("Roseomonas mucosa strain MDA5527 16S ribosomal RNA gene, partial sequence", "Roseomonas mucosa"),
    ("Bacillus anthracis str. Sterne [R=16S] [B/A]", "Bacillus anthracis"),
    ("Acanthamoeba castellanii Neff; ATCC 30010 large subunit ribosomal RNA gene", "Acanthamoeba castellanii Neff"),
    ("Syntrophobacter sp. 16S rRNA gene, partial, strain TsuA1", "Syntrophobacter sp."),
    ("Corynebacterium diphtheriae strain NCTC11397 chromosome 1, complete sequence", "Corynebacterium diphtheriae"),
    ("16S rRNA clone S83623.1", None),
    ("", None),
])
def test_header_organism(description, organism):
    assert header_organism(description) == organism


def test_a_hostile_rrna_database_is_rejected_per_sequence_or_whole(tmp_path):
    real = packaged.ncbi_16s_rrna()
    data = real.read_bytes()
    title_length = struct.unpack_from(">I", data, 8)[0]
    at = 16 + title_length + struct.unpack_from(">I", data, 12 + title_length)[0]
    count = struct.unpack_from(">I", data, at)[0]
    arrays = [np.frombuffer(data, ">u4", count + 1, at + 16 + 4 * (count + 1) * k) for k in range(3)]
    nsq = bytearray(real.with_suffix(".nsq").read_bytes())
    ambiguous = next(oid for oid in range(count) if arrays[2][oid] < arrays[1][oid + 1])  # has ambiguity data
    n = ambiguous + 5
    nsq[arrays[2][ambiguous]:arrays[2][ambiguous] + 4] = (999).to_bytes(4, "big")
    small = data[:at] + struct.pack(">I", n) + data[at + 4:at + 16] + b"".join(a[:n + 1].tobytes() for a in arrays)
    for name, payload in {"small.nin": small, "small.nhr": real.with_suffix(".nhr").read_bytes(), "small.nsq": bytes(nsq)}.items():
        (tmp_path / name).write_bytes(payload)
    records, rejections = split(list(read_rrna_blast_db(tmp_path / "small.nin")))
    assert len(records) + len(rejections) == n and len(rejections) >= 1
    assert rejections[0].provenance.location == f"oid {ambiguous}"
    assert rejections[0].reason.startswith("ambiguity data declares 999 words")
    (tmp_path / "small.nsq").write_bytes(bytes(nsq[:arrays[1][n] // 2]))
    whole = list(read_rrna_blast_db(tmp_path / "small.nin"))
    assert len(whole) == 1 and whole[0].reason.startswith("unreadable database: small.nsq is shorter than its offsets say")
