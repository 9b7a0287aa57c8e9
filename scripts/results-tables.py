#!/usr/bin/env python3
"""Prints the Markdown tables of docs/results.md from the simulator's JSON reports.

    python3 scripts/results-tables.py                      # every docs/results/*.json
    python3 scripts/results-tables.py docs/results/conv-1h.json
    python3 scripts/results-tables.py --summary            # one table, a row per report, with issue 11's targets

In the summary a baseline is beaten when dynamollm uses less energy at an attainment at least as good; one listed
with "(SLO)" uses more energy than dynamollm but meets the SLOs for more requests.

One table per report, one row per policy, in the report's order; the heading names the report and its servers.
"""
import json
import pathlib
import sys

HEADER = ("| policy | energy kWh | vs singlepool | SLO attainment | avg servers | TTFT p50/p99 ms | TBT p50/p99 ms "
          "| power p50/p99 kW | scale / reshard / clock changes |\n|---|---|---|---|---|---|---|---|---|")


def row(name, p):
    vs = p.get("energy_vs_singlepool")
    rc = p["reconfigurations"]
    vs_text = f"{100 * vs:+.1f} %" if vs is not None else "+0.0 %" if name == "singlepool" else "n/a"
    return (f"| {name} | {p['energy_kwh']:.2f} | {vs_text} "
            f"| {100 * p['slo_attainment']:.2f} % | {p['avg_servers']:.2f} "
            f"| {p['ttft_p50_ms']:.0f} / {p['ttft_p99_ms']:.0f} | {p['tbt_p50_ms']:.1f} / {p['tbt_p99_ms']:.1f} "
            f"| {p['power_p50_w'] / 1000:.1f} / {p['power_p99_w'] / 1000:.1f} "
            f"| {rc['scale']} / {rc['reshard']} / {rc['frequency']} |")


BASELINES = ("scaleinst", "scaleshard", "scalefreq", "autoscale")
SUMMARY_HEADER = ("| run | servers | singlepool kWh, SLO | dynamollm kWh, SLO | vs singlepool | oracle kWh, SLO "
                  "| dynamollm / oracle | oracle-paid kWh | baselines not beaten | targets missed |\n"
                  "|---|---|---|---|---|---|---|---|---|---|")


def cell(p):
    return f"{p['energy_kwh']:.2f}, {100 * p['slo_attainment']:.2f} %" if p else "n/a"


def summary_row(name, report):
    """One run's row: the yardsticks and which of issue 11's targets DynamoLLM misses on it."""
    pol = report["policies"]
    dyn, oracle, single = pol.get("dynamollm"), pol.get("oracle"), pol.get("singlepool")
    missed, not_beaten = [], []
    ratio = "n/a"
    if dyn:
        if dyn["slo_attainment"] < 0.99:
            missed.append("SLO < 99 %")
        if oracle:
            ratio = f"{dyn['energy_kwh'] / oracle['energy_kwh']:.2f}"
            if dyn["energy_kwh"] > 1.10 * oracle["energy_kwh"]:
                missed.append("energy > 1.10 x oracle")
        for b in BASELINES:
            p = pol.get(b)
            # beaten: less energy at an attainment at least as good; "(SLO)" marks a baseline that spends more
            # energy than dynamollm but meets the SLOs for more requests
            if p and not (dyn["energy_kwh"] < p["energy_kwh"] and dyn["slo_attainment"] >= p["slo_attainment"]):
                not_beaten.append(b if p["energy_kwh"] <= dyn["energy_kwh"] else f"{b} (SLO)")
        if not_beaten:
            missed.append("a baseline not beaten")
    vs = dyn.get("energy_vs_singlepool") if dyn else None
    paid = pol.get("oracle-paid")
    paid_text = f"{paid['energy_kwh']:.2f}" if paid else "n/a"
    vs_text = f"{100 * vs:+.1f} %" if vs is not None else "n/a"
    return (f"| {name} | {report['servers']} | {cell(single)} | {cell(dyn)} "
            f"| {vs_text} | {cell(oracle)} | {ratio} | {paid_text} | {', '.join(not_beaten) or '-'} "
            f"| {'; '.join(missed) or 'none'} |")


def load(path):
    try:
        report = json.loads(path.read_text())
        report["policies"]
        return report
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"{path}: not a simulator JSON report ({e})")


def main(args):
    summary = "--summary" in args
    paths = [a for a in args if a != "--summary"]
    if not paths:
        paths = sorted(pathlib.Path(__file__).resolve().parent.parent.glob("docs/results/*.json"))
    paths = list(map(pathlib.Path, paths))
    if summary:
        print(SUMMARY_HEADER)
        for path in paths:
            print(summary_row(path.stem, load(path)))
        return
    for path in paths:
        report = load(path)
        print(f"### {path.stem} ({report['servers']} servers)\n\n{HEADER}")
        for name, p in report["policies"].items():
            print(row(name, p))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
