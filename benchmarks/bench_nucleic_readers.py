"""What the nucleic-acid readers (`biomatrix_io.readers.nucleic`) get from each packaged source, and
how fast, in one run.

Per source (`packaged:NAME`), every file read through the record boundary (`guarded`, as the data
pipeline reads): records, record and feature rejections by reason, bases, CDS features (with a
checked translation, pseudogenes, without a translation), rRNA/tRNA features, distinct organisms;
CPU seconds of this process (other jobs share the cores) and bases per CPU second. The baseline is
Biopython alone on the same files (`SeqIO.parse` with the sequence as a string: no letter, length,
feature or translation check; FASTA: `SimpleFastaParser`); the BLAST databases have no other
decoder here, so no baseline. Figures go to benchmarks/RESULTS.md through `results.publish`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time
import warnings
from collections import Counter
from pathlib import Path

from results import RESULTS, publish

clock = time.process_time

# source -> (packaged locator, reader, Biopython format of the baseline or None)
SOURCES = {
    "kaptive_genbank": ("read_genbank", "genbank"),
    "any2fasta_genbank": ("read_genbank", "genbank"),
    "emboss_genbank": ("read_genbank", "genbank"),
    "emboss_embl": ("read_embl", "embl"),
    "pyrodigal_genome_fasta": ("read_nucleotide_fasta", "fasta"),
    "ncbi_16s_rrna": ("read_rrna_blast_db", None),
    "ncbi_organelle_rrna": ("read_rrna_blast_db", None),
}


def _files(name: str) -> list[Path]:
    from biomatrix_io.readers import packaged

    found = getattr(packaged, name)()
    return found if isinstance(found, list) else [found]


def measure(name: str, function: str) -> dict:
    from biomatrix_io.boundary import guarded
    from biomatrix_io.readers import nucleic
    from biomatrix_io.records import Rejection, reason_group

    read = guarded(getattr(nucleic, function))
    stats: Counter = Counter()
    reasons: Counter = Counter()
    organisms: set = set()
    start = clock()
    for path in _files(name):
        for item in read(path):
            if isinstance(item, Rejection):
                level = "feature" if " feature " in item.provenance.location else "record"
                stats[f"{level} rejections"] += 1
                reasons[(level, reason_group(item.reason))] += 1
                continue
            stats["records"] += 1
            stats["bases"] += len(item.sequence)
            organisms.add(item.organism)
            for feature in item.features:
                stats[feature.kind] += 1
                if feature.kind == "CDS":
                    stats["CDS translated" if feature.translation else "CDS pseudo" if feature.pseudo else "CDS untranslated"] += 1
    seconds = clock() - start
    return {"stats": stats, "reasons": reasons, "organisms": len(organisms - {None}), "seconds": seconds}


def baseline(name: str, form: str) -> tuple[int, float]:
    """(bases, CPU seconds) of Biopython alone over the source's files."""
    from Bio import BiopythonParserWarning, SeqIO
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from biomatrix_io.files import open_text

    bases, start = 0, clock()
    for path in _files(name):
        with open_text(path) as handle, warnings.catch_warnings():
            warnings.simplefilter("ignore", BiopythonParserWarning)
            try:
                if form == "fasta":
                    bases += sum(len(sequence) for _, sequence in SimpleFastaParser(handle))
                else:
                    for record in SeqIO.parse(handle, form):
                        try:
                            bases += len(str(record.seq))
                        except Exception:  # a CON entry's undefined sequence: the baseline skips it
                            continue
            except Exception:  # the baseline stops where Biopython stops
                continue
    return bases, clock() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(RESULTS))
    args = parser.parse_args()
    wall = time.time()
    rows, reason_rows, totals = [], [], Counter()
    for name, (function, form) in SOURCES.items():
        found = measure(name, function)
        s = found["stats"]
        base_bases, base_seconds = baseline(name, form) if form else (0, 0.0)
        totals.update({"records": s["records"], "bases": s["bases"], "seconds": found["seconds"]})
        rows.append(
            f"| `packaged:{name}` | {len(_files(name))} | {s['records']:,} | {s['record rejections']:,} | {s['bases'] / 1e6:.2f} | "
            f"{found['organisms']:,} | {s['CDS']:,} | {s['CDS translated']:,} | {s['CDS pseudo']:,} | {s['CDS untranslated']:,} | "
            f"{s['feature rejections']:,} | {s['rRNA']:,} / {s['tRNA']:,} | {found['seconds']:.2f} | "
            f"{s['bases'] / found['seconds'] / 1e6:.2f} | "
            + (f"{base_bases / base_seconds / 1e6:.2f} |" if form else "n/a |"))
        for (level, reason), count in sorted(found["reasons"].items(), key=lambda kv: -kv[1]):
            reason_rows.append(f"| `{name}` | {level} | {count:,} | {reason} |")
    today = datetime.date.today().isoformat()
    lines = [
        f"## Nucleic-acid readers: packaged sources ({today}, {platform.machine()}, 2 cores shared with other jobs, "
        "one process, CPU seconds of the process)",
        "",
        "`benchmarks/bench_nucleic_readers.py`: every file of each source read through the record boundary "
        "(`guarded`, as the pipeline reads). Records and record rejections are source entries; feature rejections "
        "are CDS/gene/RNA features of kept records dropped alone (their record kept). CDS columns count kept CDS "
        "features: with a translation re-derived from the DNA (Biopython `translate(table, cds=True)` semantics), "
        "pseudogenes (kept, no translation), without a /translation in the source. Mb/s = bases per CPU second; "
        "baseline = Biopython alone on the same files (`SeqIO.parse` + the sequence as a string, no checks; FASTA: "
        "`SimpleFastaParser`); the BLAST databases have no other decoder here.",
        "",
        "| source | files | records | rejected records | Mb | organisms | CDS | translated | pseudo | no /translation "
        "| rejected features | rRNA / tRNA | CPU s | Mb/s | baseline Mb/s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        f"| all | | {totals['records']:,} | | {totals['bases'] / 1e6:.2f} | | | | | | | | {totals['seconds']:.2f} | "
        f"{totals['bases'] / totals['seconds'] / 1e6:.2f} | |",
        "",
        "| source | level | count | reason (particulars as _) |",
        "|---|---|---:|---|",
        *reason_rows,
        "",
        f"Benchmark wall time {time.time() - wall:.0f} s.",
        "",
    ]
    publish(lines, args.results)


if __name__ == "__main__":
    main()
