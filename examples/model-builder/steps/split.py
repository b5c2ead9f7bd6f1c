"""Split a data set into train and validation parts."""
import argparse
import os

import pandas as pd
from sklearn.model_selection import train_test_split

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--method", choices=["stratified", "random"], default="stratified")
p.add_argument("--ratio", type=float, default=0.8)
p.add_argument("--seed", type=int, default=42)
a = p.parse_args()
if not 0 < a.ratio < 1:
    raise SystemExit(f"--ratio must be between 0 and 1, got {a.ratio}")

frame = pd.read_csv(a.data)
train, valid = train_test_split(frame, train_size=a.ratio, random_state=a.seed,
                                stratify=frame["target"] if a.method == "stratified" else None)
os.makedirs("out", exist_ok=True)
train.to_csv("out/train.csv", index=False)
valid.to_csv("out/valid.csv", index=False)
print(f"{a.method} split {a.ratio:.2f}: train {len(train)} rows, valid {len(valid)} rows")
