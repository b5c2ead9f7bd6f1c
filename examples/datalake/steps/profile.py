"""Profile a CSV table: rows, and per column its type, missing values and range."""
import argparse
import json
import os

import pandas as pd

p = argparse.ArgumentParser()
p.add_argument("--table", required=True)
p.add_argument("--out", required=True)
a = p.parse_args()

frame = pd.read_csv(a.table)
summary = {"rows": len(frame), "columns": {}}
for name in frame.columns:
    col = frame[name]
    info = {"type": str(col.dtype), "missing": int(col.isna().sum())}
    if pd.api.types.is_numeric_dtype(col):
        info.update(min=float(col.min()), max=float(col.max()), mean=round(float(col.mean()), 4))
    summary["columns"][name] = info
os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
with open(a.out, "w") as f:
    json.dump(summary, f, indent=2)
print(f"{len(frame)} rows, {frame.shape[1]} columns")
for name, info in list(summary["columns"].items())[:5]:
    extra = f" {info['min']:.4g}..{info['max']:.4g}" if "min" in info else ""
    print(f"  {name:<24} {info['type']:<8} missing {info['missing']}{extra}")
if frame.shape[1] > 5:
    print(f"  ... and {frame.shape[1] - 5} more columns")
