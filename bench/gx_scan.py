"""Benchmark: the gx collector over a project holding 2,000 validation results, against a baseline
that only lists and parses the same JSON files.

    python bench/gx_scan.py [--results 2000] [--suites 4] [--workdir .bench/gx]

Builds (once, then reused) a GX 1.x project with GX's own API: a pandas datasource on a small
CSV, N suites, validation definitions and a checkpoint, run once for real; the stored results
are then replicated to `--results` results spread over the last 90 days (the real GX result
JSON, with its key and run time changed). Then, each in its own subprocess so that peak memory
is measured on its own:
- baseline: walk the validation results folder and `json.load` every file;
- mlaudit: `GxCollector.collect` on the project (the time includes importing GX's store
  modules, about 3 s on a cold start; the time without it is printed too).
Prints both times, the ratio (mlaudit / baseline) and each one's peak memory (max RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CSV = "id,amount,country\n" + "".join(
    f"{i},{i % 120},{'FR' if i % 3 else 'DE'}\n" for i in range(200)
)


def generate(workdir: Path, results: int, suites: int) -> Path:
    marker = workdir / f".complete-{results}x{suites}"
    if marker.exists():
        return workdir
    shutil.rmtree(workdir, ignore_errors=True)
    (workdir / "data").mkdir(parents=True)
    (workdir / "data" / "orders.csv").write_text(CSV)
    import great_expectations as gx
    import great_expectations.expectations as gxe

    ctx = gx.get_context(mode="file", project_root_dir=str(workdir))
    ds = ctx.data_sources.add_pandas_filesystem("warehouse", base_directory=str(workdir / "data"))
    batch = ds.add_csv_asset("orders").add_batch_definition_path("orders_csv", path="orders.csv")
    vds = []
    for s in range(suites):
        suite = ctx.suites.add(gx.ExpectationSuite(name=f"orders_{s}"))
        suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column="id"))
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100)
        )
        suite.add_expectation(
            gxe.ExpectColumnValuesToBeInSet(column="country", value_set=["FR", "DE"])
        )
        vds.append(
            ctx.validation_definitions.add(
                gx.ValidationDefinition(name=f"vd_{s}", data=batch, suite=suite)
            )
        )
    checkpoint = ctx.checkpoints.add(
        gx.Checkpoint(name="nightly", validation_definitions=vds, actions=[])
    )
    checkpoint.run()
    store = workdir / "gx" / "uncommitted" / "validations"
    originals = sorted(p for p in store.rglob("*.json"))
    templates = [(p.relative_to(store).parts, json.loads(p.read_text())) for p in originals]
    for p in originals:
        p.unlink()
    now = datetime.now(UTC)
    for i in range(results):
        parts, doc = templates[i % len(templates)]
        when = now - timedelta(days=90 * i / results, seconds=i)
        doc["meta"]["run_id"] = {"run_name": f"nightly-{i}", "run_time": when.isoformat()}
        doc["success"] = i % 5 != 0
        folder = store / parts[0] / f"nightly-{i}" / when.strftime("%Y%m%dT%H%M%S.%fZ")
        folder.mkdir(parents=True)
        (folder / parts[-1]).write_text(json.dumps(doc, indent=2))
    marker.write_text("ok\n")
    return workdir


def child_baseline(project: Path) -> dict:
    started = time.perf_counter()
    docs = 0
    for folder, _, files in os.walk(project / "gx" / "uncommitted" / "validations"):
        for name in files:
            if name.endswith(".json"):
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    json.load(fh)
                docs += 1
    return {"seconds": time.perf_counter() - started, "documents": docs}


def child_collector(project: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from mlaudit.collectors.base import CollectContext
    from mlaudit.collectors.gx.collector import GxCollector
    from mlaudit.config import GxSettings

    started = time.perf_counter()
    import great_expectations.data_context.store  # noqa: F401 - timed apart

    imported = time.perf_counter()
    result = GxCollector(GxSettings(projects=[project])).collect(CollectContext(lookback_days=180))
    done = time.perf_counter()
    runs = sum(
        e.attributes.get("runs_in_window", 0)
        for e in result.evidence
        if e.signal == "gx_validation"
    )
    return {
        "seconds": done - started,
        "import_s": imported - started,
        "scan_s": done - imported,
        "runs_in_window": runs,
        "warnings": result.warnings,
        "errors": len(result.errors),
    }


def peak_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: the latter keeps the forking parent's
    high-water mark across exec."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(kind: str, project: Path) -> tuple[dict, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(project)],
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out.strip().splitlines()[-1])
    return data, data["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=2000)
    parser.add_argument("--suites", type=int, default=4)
    parser.add_argument("--workdir", type=Path, default=ROOT / ".bench" / "gx")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PROJECT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, project = args.child
        out = (
            child_baseline(Path(project)) if kind == "baseline" else child_collector(Path(project))
        )
        print(json.dumps({**out, "peak_mb": peak_mb()}))
        return
    t0 = time.perf_counter()
    project = generate(args.workdir.resolve(), args.results, args.suites)
    print(
        f"project: {project} ({args.results} validation results, {args.suites} suites; "
        f"ready in {time.perf_counter() - t0:.1f}s)"
    )
    base, base_mb = run_child("baseline", project)
    mine, mine_mb = run_child("collector", project)
    print(
        f"baseline (list + json.load):  {base['seconds']:.3f}s  {base['documents']} files  "
        f"peak {base_mb:.0f} MB"
    )
    print(
        f"mlaudit gx collector:         {mine['seconds']:.3f}s  (import GX {mine['import_s']:.3f}s "
        f"+ scan {mine['scan_s']:.3f}s)  runs_in_window={mine['runs_in_window']}  "
        f"peak {mine_mb:.0f} MB"
    )
    print(
        f"ratio mlaudit/baseline: {mine['seconds'] / base['seconds']:.2f} "
        f"(scan only, without the GX import: {mine['scan_s'] / base['seconds']:.2f})"
    )
    if mine["warnings"] or mine["errors"]:
        print(f"warnings: {mine['warnings']}  errors: {mine['errors']}")


if __name__ == "__main__":
    main()
