"""The hyper-parameter search space, one JSON object per candidate (fanned out by koya)."""
import argparse
import json
import os

p = argparse.ArgumentParser()
p.add_argument("--out", required=True)
a = p.parse_args()

grid = [{"model": "logreg", "C": c} for c in (0.01, 0.1, 1.0, 10.0)]
grid += [{"model": "random_forest", "n_estimators": n, "max_depth": d} for n in (50, 200) for d in (4, None)]
grid += [{"model": "gradient_boosting", "learning_rate": lr, "n_estimators": 100} for lr in (0.05, 0.2)]
os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
with open(a.out, "w") as f:
    json.dump(grid, f)
print(f"{len(grid)} candidates")
