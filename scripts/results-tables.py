#!/usr/bin/env python3
"""Prints the Markdown tables of docs/results.md from the simulator's JSON reports.

    python3 scripts/results-tables.py                      # every docs/results/*.json
    python3 scripts/results-tables.py docs/results/conv-1h.json

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


def main(paths):
    if not paths:
        paths = sorted(pathlib.Path(__file__).resolve().parent.parent.glob("docs/results/*.json"))
    for path in map(pathlib.Path, paths):
        try:
            report = json.loads(path.read_text())
            policies = report["policies"]
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"{path}: not a simulator JSON report ({e})")
        print(f"### {path.stem} ({report['servers']} servers)\n\n{HEADER}")
        for name, p in policies.items():
            print(row(name, p))
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
