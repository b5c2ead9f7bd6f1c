"""Compare the candidates, pick the best by the chosen metric, and explain it."""
import argparse
import json
import os
import pickle
import shutil

import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import confusion_matrix

p = argparse.ArgumentParser()
p.add_argument("--models", required=True, help="directory with one model per candidate: 0/, 1/, ...")
p.add_argument("--scores", required=True, help="directory with one scores.json per candidate")
p.add_argument("--valid", required=True)
p.add_argument("--metric", default="roc_auc")
p.add_argument("--out", default="out")
a = p.parse_args()


def item_file(root, i):
    """An input item is the artifact itself (a file) at root/i."""
    return os.path.join(root, str(i))


count = len([n for n in os.listdir(a.scores) if n.isdigit()])
rows = []
for i in range(count):
    with open(item_file(a.scores, i)) as f:
        s = json.load(f)
    rows.append({"candidate": i, **{k: s[k] for k in ("accuracy", "f1", "roc_auc")}, "params": s["params"]})
table = sorted(rows, key=lambda r: r[a.metric], reverse=True)
best = table[0]

with open(item_file(a.models, best["candidate"]), "rb") as f:
    model = pickle.load(f)
valid = pd.read_csv(a.valid)
Xv, yv = valid.drop(columns="target"), valid["target"]
cm = confusion_matrix(yv, model.predict(Xv)).tolist()
imp = permutation_importance(model, Xv, yv, n_repeats=5, random_state=0)
importance = sorted(({"feature": c, "importance": float(m)} for c, m in zip(Xv.columns, imp.importances_mean)),
                    key=lambda r: r["importance"], reverse=True)

os.makedirs(a.out, exist_ok=True)
report = {"metric": a.metric, "best": best, "scores": table}
for name, value in (("report.json", report), ("confusion_matrix.json", cm), ("feature_importance.json", importance)):
    with open(os.path.join(a.out, name), "w") as f:
        json.dump(value, f, indent=2)
shutil.copy(item_file(a.models, best["candidate"]), os.path.join(a.out, "best_model.pkl"))

print(f"Scores on the validation set (best by {a.metric} first):")
print(f"  {'#':>2}  {'roc_auc':>7}  {'f1':>6}  {'accuracy':>8}  params")
for r in table:
    params = ", ".join(f"{k}={v}" for k, v in r["params"].items())
    print(f"  {r['candidate']:>2}  {r['roc_auc']:7.4f}  {r['f1']:6.4f}  {r['accuracy']:8.4f}  {params}")
print()
print("Best model: " + ", ".join(f"{k}={v}" for k, v in best["params"].items()) + f"  ({a.metric} {best[a.metric]:.4f})")
print("Confusion matrix (rows: true class, columns: predicted):")
for row in cm:
    print("  " + " ".join(f"{v:4d}" for v in row))
print("Top feature importances (permutation, mean drop in score):")
for r in importance[:8]:
    bar = "#" * max(0, int(r["importance"] * 400))
    print(f"  {r['feature']:<24} {r['importance']:7.4f} {bar}")
