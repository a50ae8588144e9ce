"""What the record boundary costs the demo build, in one run (issue 18: under 2% of build throughput).

The boundary (`biomatrix_io.boundary.guarded`, applied by `data_pipeline.catalog.reader`) wraps every
reader: one more generator per file and, per record, a walk over its text fields looking for
undecodable bytes. Measured side by side on the demo config's sources, in CPU seconds of this
process (other jobs share the cores):

1. Reading passes: each source's first `--read-limit` entries (its limit when smaller) read with the
   bare reader function (the baseline: the module/function of `catalog.READERS`, called with its
   fixed and the source's options) and with the guarded reader (`catalog.reader`), alternately,
   `--repeats` times; the best (min) of each, and the spread of the bare passes as their noise.
   The difference per record is the boundary's overhead. Because parsing dominates those passes
   and their noise, the same cost is also measured in isolation: the records read once, then
   iterated with and without the boundary around them (no parsing).
2. One whole demo build (`data_pipeline.build.build(config, workers=1)`, one process, one torch
   thread) into a temporary folder: its seconds per record. During it, the guarded readers count
   what they yield, because the build reads an entry more than once (the plan counts entries with
   the reader, and each unit of a file skips the entries before its own).

The boundary's share of the build's time per record = overhead per record / build seconds per
record (isolated, and from the reading passes with their noise); and, with what the build actually
reads, the isolated cost per entry of each source x the entries the build read from it / build
seconds. The verdict (under 2%?) is on the larger isolated share. Figures go to
benchmarks/RESULTS.md through `results.publish`.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gc
import importlib
import itertools
import os
import platform
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path

from results import RESULTS, publish

THRESHOLD = 0.02  # issue 18: the boundary costs under 2% of build throughput
# CPU seconds of this process: other jobs share the machine's cores, and wall time would count them.
clock = time.process_time


def _capped(config, limit):
    """The config with every source's limit at most `limit` (None: the config's own limits)."""
    if limit is None:
        return config
    config = dataclasses.replace(config, sources=dict(config.sources))
    for name, source in config.sources.items():
        config.sources[name] = dataclasses.replace(source, limit=limit if source.limit is None else min(limit, source.limit))
    return config


def _readers(source):
    """(bare, guarded) readers of a source: the catalog's function as is, and `catalog.reader`."""
    from data_pipeline.catalog import READERS, reader

    module, function, fixed = READERS[source.reader]
    read = getattr(importlib.import_module(module), function)
    return (lambda path: read(path, **fixed, **source.options)), reader(source.reader, source.options)


def _read_pass(read, files: list[Path], limit) -> tuple[float, int]:
    """Seconds and entries of reading the source's first `limit` entries over its files, as the
    plan does (islice per file, the remainder carried to the next)."""
    remaining, entries = limit, 0
    start = clock()
    for path in files:
        if remaining == 0:
            break
        count = 0
        for _ in itertools.islice(read(path), remaining):
            count += 1
        entries += count
        remaining = None if remaining is None else remaining - count
    return clock() - start, entries


def _source_row(name: str, source, limit, repeats: int) -> dict:
    """One source: best bare and guarded reading passes over its first `limit` entries, and the
    boundary alone around the same records already read."""
    from biomatrix_io.boundary import guarded
    from data_pipeline.catalog import resolve_paths

    files = resolve_paths(source.paths, f"source {name!r}")
    bare, guarded_read = _readers(source)
    # Warm-up (imports, lazy tables, the page cache), keeping the records for the isolated timing.
    per_file, remaining = [], limit
    for path in files:
        if remaining == 0:
            break
        items = list(itertools.islice(bare(path), remaining))
        per_file.append((path, items))
        remaining = None if remaining is None else remaining - len(items)
    bare_s, guarded_s = [], []
    for _ in range(repeats):
        gc.collect()
        seconds, records = _read_pass(bare, files, limit)
        bare_s.append(seconds)
        gc.collect()
        seconds, entries = _read_pass(guarded_read, files, limit)
        guarded_s.append(seconds)
    kept = dict(per_file)
    replay = guarded(lambda path: iter(kept[path]))
    iso_bare, iso_guarded = [], []
    for _ in range(repeats * 4):  # cheap: no parsing
        for times, read in ((iso_bare, lambda path: iter(kept[path])), (iso_guarded, replay)):
            start = clock()
            for path, _items in per_file:
                for _ in read(path):
                    pass
            times.append(clock() - start)
    iso_records = sum(len(items) for _, items in per_file)
    return {"source": name, "reader": source.reader, "files": len(files), "records": records, "entries": entries,
            "bare": bare_s, "guarded": guarded_s, "bare_s": min(bare_s), "guarded_s": min(guarded_s),
            "spread_us": (max(bare_s) - min(bare_s)) / records * 1e6,
            "overhead_us": (min(guarded_s) - min(bare_s)) / records * 1e6,
            "isolated_us": (min(iso_guarded) - min(iso_bare)) / iso_records * 1e6}


def _build(config, root: Path) -> dict:
    """One whole demo build, one process; the entries each source's guarded reader yielded in it."""
    import data_pipeline.units as units
    from data_pipeline.build import Layout, build
    from data_pipeline.units import units_of

    config = dataclasses.replace(config, out=str(root / "demo"))
    read_in_build: Counter = Counter()
    by_reader = {source.reader: name for name, source in config.sources.items()}
    original = units.reader

    def counting(reader_name: str, options: dict):
        read = original(reader_name, options)

        def read_counted(path):
            for item in read(path):
                read_in_build[by_reader.get(reader_name, reader_name)] += 1
                yield item

        return read_counted

    units.reader = counting
    try:
        start, start_cpu = time.perf_counter(), clock()
        build(config, workers=1, progress=False)
        seconds, wall = clock() - start_cpu, time.perf_counter() - start
    finally:
        units.reader = original
    import json

    planned = json.loads((Layout(Path(config.out)).work / "plan.json").read_text())
    records = Counter()
    for unit in units_of(planned):
        records[unit.source] += unit.entries
    return {"seconds": seconds, "wall": wall, "records": sum(records.values()), "by_source": records, "read": read_in_build}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "launch/configs/data/demo.yaml"))
    parser.add_argument("--limit", type=int, default=None,
                        help="cap every source's limit in the build; default: the config's limits")
    parser.add_argument("--read-limit", type=int, default=100,
                        help="entries per source in the reading passes (at most; the source's limit when smaller)")
    parser.add_argument("--repeats", type=int, default=5, help="reading passes per reader; the best is kept")
    parser.add_argument("--sources", nargs="*", default=None, help="only these sources (default: all)")
    parser.add_argument("--no-build", action="store_true", help="reading passes only (no share of the build)")
    parser.add_argument("--results", default=str(RESULTS), help="file the figures are appended to")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    import torch

    from biomatrix_io.config import load_config
    from data_pipeline.config import DataConfig

    torch.set_num_threads(1)
    config = _capped(load_config(DataConfig, args.config), args.limit)
    if args.sources:
        config = dataclasses.replace(config, sources={n: config.sources[n] for n in args.sources})
    total_start = time.perf_counter()
    rows = []
    for name, source in config.sources.items():
        limit = args.read_limit if source.limit is None else min(args.read_limit, source.limit)
        row = _source_row(name, source, limit, args.repeats)
        rows.append(row)
        print(f"{row['source']:>10}: {row['records']:>6} records, bare {row['bare_s']:.3f} s, guarded "
              f"{row['guarded_s']:.3f} s, {row['overhead_us']:+.2f} us/record (spread of bare passes "
              f"{row['spread_us']:.2f}; isolated {row['isolated_us']:+.2f})", flush=True)
    built = None
    if not args.no_build:
        root = Path(tempfile.mkdtemp(prefix="bench_boundary_"))
        try:
            built = _build(config, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    total_s = time.perf_counter() - total_start

    records = sum(r["records"] for r in rows)
    bare_s, guarded_s = sum(r["bare_s"] for r in rows), sum(r["guarded_s"] for r in rows)
    overhead_us = (guarded_s - bare_s) / records * 1e6
    # Noise of the reading passes: how far apart the bare passes of the same files were, summed.
    noise_us = sum(max(r["bare"]) - min(r["bare"]) for r in rows) / records * 1e6
    isolated_us = sum(r["isolated_us"] * r["records"] for r in rows) / records
    limits = "the demo config's limits" if args.limit is None else f"every source capped at {args.limit} entries"
    lines = [
        f"\n## Record boundary: cost against the demo build ({datetime.date.today()}, {platform.machine()}, "
        f"{os.cpu_count()} cores, one process and one torch thread, CPU seconds of the process)\n",
        f"`benchmarks/bench_boundary.py` over `{Path(args.config).name}`. Reading passes: each source's first "
        f"{args.read_limit} entries at most (its limit when smaller) read with the bare reader (the "
        "`catalog.READERS` function with its options: the baseline) and with the guarded one (`catalog.reader`: "
        f"`biomatrix_io.boundary.guarded` around it), alternately, best of {args.repeats}; spread = slowest minus "
        "fastest bare pass, the noise of the difference. Isolated: the same records, already read, iterated with "
        f"and without the boundary around them, best of {args.repeats * 4} (no parsing, so no parsing noise: "
        "what the boundary itself costs).\n",
        "| source | reader | records | bare s | guarded s | bare rec/s | guarded rec/s | overhead us/rec "
        "| spread us/rec | isolated us/rec |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r['source']} | {r['reader']} | {r['records']:,} | {r['bare_s']:.3f} | {r['guarded_s']:.3f} | "
              f"{r['records'] / r['bare_s']:,.0f} | {r['entries'] / r['guarded_s']:,.0f} | {r['overhead_us']:+.2f} | "
              f"{r['spread_us']:.2f} | {r['isolated_us']:+.2f} |" for r in rows]
    lines.append(f"| all | | {records:,} | {bare_s:.3f} | {guarded_s:.3f} | {records / bare_s:,.0f} | "
                 f"{records / guarded_s:,.0f} | {overhead_us:+.2f} | {noise_us:.2f} | {isolated_us:+.2f} |")
    if built is not None:
        build_us = built["seconds"] / built["records"] * 1e6
        reads = sum(built["read"].values())
        by_row = {r["source"]: r for r in rows}
        # What the boundary adds to this build: each source's cost per entry x the entries the build read from it.
        in_build = sum(by_row[s]["isolated_us"] * n for s, n in built["read"].items() if s in by_row) / 1e6
        shares = [
            ("isolated, per record (overhead per record / build seconds per record)", isolated_us / build_us, None),
            ("isolated x the entries the build read, per source / build seconds", in_build / built["seconds"], None),
            ("reading passes, per record (overhead per record / build seconds per record)", overhead_us / build_us,
             noise_us / build_us),
        ]
        lines += [
            f"\nDemo build ({limits}; `build(config, workers=1)`, one process): {built['records']:,} records in "
            f"{built['seconds']:.1f} CPU s ({built['wall']:.1f} s wall) = {built['records'] / built['seconds']:,.1f} "
            f"records/s, {build_us:,.0f} us/record. It read {reads:,} entries through the guarded readers "
            f"({reads / built['records']:.2f} per record: the plan counts every entry with the reader, and each "
            "unit of a file reads past the entries before its own).\n",
            "| boundary's cost as a share of the build's time | share | noise (spread) |", "|---|---:|---:|",
        ]
        lines += [f"| {label} | {share:+.3%} | {'' if noise is None else f'{noise:.3%}'} |" for label, share, noise in shares]
        boundary = max(shares[0][1], shares[1][1])
        verdict = "under" if boundary < THRESHOLD else "NOT under"
        lines.append(f"\nThe boundary's cost: {boundary:.3%} of the build's time, {verdict} the 2% of issue 18 "
                     f"(build throughput {1 / (1 + boundary):.2%} of what it would be without it). "
                     f"Benchmark wall time {total_s / 60:.1f} min.\n")
    else:
        lines.append(f"\n(--no-build: no build measured, no share computed; wall time {total_s / 60:.1f} min.)\n")
    if args.no_write:
        print("\n".join(lines))
    else:
        publish(lines, args.results)


if __name__ == "__main__":
    main()
