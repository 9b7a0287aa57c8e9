#!/usr/bin/env bash
# Read-only check of dynamollm's NVML binding (JNA) on a real GPU host, against nvidia-smi (and pynvml if present).
#
# It only READS: device list, UUID, name, power, energy counter, SM clock, supported clocks. It never sets a clock,
# an application clock, a power limit, persistence or compute mode, and never resets the GPU.
#
# Usage (from the repository root):
#   scripts/device/nvml-readonly-check.sh [JAVA] [JAR] [OUT_DIR]
# Defaults: java on PATH, app/target/dynamollm.jar, ./nvml-check. On a machine without Java, carry a jlink
# runtime (see docs/results.md for the commands) and pass its bin/java.
set -euo pipefail
export NCCL_NVLS_ENABLE=0

JAVA="${1:-java}"
JAR="${2:-app/target/dynamollm.jar}"
OUT="${3:-nvml-check}"
mkdir -p "$OUT"

now() { date +%s.%N; }

nvidia-smi --query-gpu=index,uuid,name,driver_version,power.draw,clocks.sm --format=csv,noheader,nounits >"$OUT/smi-before.csv"
nvidia-smi -q -d SUPPORTED_CLOCKS >"$OUT/smi-supported-clocks.txt"
T1=$(now)
"$JAVA" -jar "$JAR" gpu list --backend nvml --json >"$OUT/java-1.json"
T2=$(now)
sleep 3
T3=$(now)
"$JAVA" -jar "$JAR" gpu list --backend nvml --json >"$OUT/java-2.json"
T4=$(now)
nvidia-smi --query-gpu=index,uuid,name,driver_version,power.draw,clocks.sm --format=csv,noheader,nounits >"$OUT/smi-after.csv"
"$JAVA" -jar "$JAR" gpu list --backend nvml >"$OUT/java-text.txt"
if [[ -n "${CHECK_CUDA_VISIBLE:-}" ]]; then
  CUDA_VISIBLE_DEVICES="$CHECK_CUDA_VISIBLE" "$JAVA" -jar "$JAR" gpu list --backend nvml --json >"$OUT/java-visible.json"
fi

python3 - "$OUT" "$T1" "$T2" "$T3" "$T4" <<'PY'
import csv, json, re, sys, os
out, t1, t2, t3, t4 = sys.argv[1], *map(float, sys.argv[2:])
j1 = json.load(open(f"{out}/java-1.json")); j2 = json.load(open(f"{out}/java-2.json"))
def smi(path):
    rows = {}
    for r in csv.reader(open(path)):
        r = [x.strip() for x in r]
        rows[int(r[0])] = dict(uuid=r[1], name=r[2], driver=r[3], power_w=float(r[4]), sm_mhz=int(r[5]))
    return rows
before, after = smi(f"{out}/smi-before.csv"), smi(f"{out}/smi-after.csv")
# supported graphics clocks per GPU from `nvidia-smi -q -d SUPPORTED_CLOCKS`, at the highest memory clock
text = open(f"{out}/smi-supported-clocks.txt").read()
smi_clocks = []
for gpu in re.split(r"\nGPU [0-9A-Fa-f:.]+\n", text)[1:]:
    blocks = re.findall(r"Memory\s*:\s*(\d+) MHz\s*\n((?:\s*Graphics\s*:\s*\d+ MHz\s*\n?)+)", gpu)
    best = max(blocks, key=lambda b: int(b[0])) if blocks else ("0", "")
    smi_clocks.append([int(x) for x in re.findall(r"Graphics\s*:\s*(\d+) MHz", best[1])])
try:
    import pynvml
    pynvml.nvmlInit()
    def nvml_energy(i): return pynvml.nvmlDeviceGetTotalEnergyConsumption(pynvml.nvmlDeviceGetHandleByIndex(i))
except Exception as e:
    print("pynvml not available here:", e); nvml_energy = None
report = {"driver_version": j1["driver_version"], "gpus": []}
ok = True
for g1, g2 in zip(j1["gpus"], j2["gpus"]):
    i = g1["index"]; s = before[i]; s2 = after[i]
    jp = (g1["power_mw"] + g2["power_mw"]) / 2000.0
    sp = (s["power_w"] + s2["power_w"]) / 2.0
    dt = ((t3 + t4) - (t1 + t2)) / 2.0
    energy_avg_w = (g2["energy_mj"] - g1["energy_mj"]) / 1000.0 / dt
    py_energy = nvml_energy(i) if nvml_energy else None
    checks = {
        "uuid_matches": g1["uuid"] == s["uuid"],
        "name_matches": g1["name"] == s["name"],
        "power_within_10pct": abs(jp - sp) <= 0.10 * sp,
        "energy_counter_monotone": g2["energy_mj"] > g1["energy_mj"],
        "energy_avg_power_within_25pct_of_smi": abs(energy_avg_w - sp) <= 0.25 * sp,
        "supported_clocks_identical": i < len(smi_clocks) and g1["supported_graphics_clocks_mhz"] == smi_clocks[i],
        "pynvml_energy_not_behind_java": None if py_energy is None else py_energy >= g2["energy_mj"],
    }
    ok &= all(v for v in checks.values() if v is not None)
    report["gpus"].append(dict(index=i, uuid=g1["uuid"], name=g1["name"], java_power_w=jp, smi_power_w=sp,
        java_energy_mj=[g1["energy_mj"], g2["energy_mj"]], energy_avg_power_w=energy_avg_w, seconds_between=dt,
        pynvml_energy_mj_after=py_energy, java_sm_clock_mhz=[g1["sm_clock_mhz"], g2["sm_clock_mhz"]],
        smi_sm_clock_mhz=[s["sm_mhz"], s2["sm_mhz"]], java_clock_count=len(g1["supported_graphics_clocks_mhz"]),
        smi_clock_count=len(smi_clocks[i]) if i < len(smi_clocks) else None,
        clock_range_mhz=[min(g1["supported_graphics_clocks_mhz"] or [0]), max(g1["supported_graphics_clocks_mhz"] or [0])],
        capabilities=g1["capabilities"], checks=checks))
report["all_passed"] = bool(ok) and len(j1["gpus"]) == len(before)
if os.path.exists(f"{out}/java-visible.json"):
    report["cuda_visible_devices"] = [g["index"] for g in json.load(open(f"{out}/java-visible.json"))["gpus"]]
json.dump(report, open(f"{out}/report.json", "w"), indent=2)
print(json.dumps(report, indent=2))
sys.exit(0 if report["all_passed"] else 1)
PY
