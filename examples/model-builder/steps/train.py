"""Train one candidate and score it on the validation set."""
import argparse
import json
import os
import pickle

import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

p = argparse.ArgumentParser()
p.add_argument("--train", required=True)
p.add_argument("--valid", required=True)
p.add_argument("--params", required=True, help="JSON object: the candidate")
p.add_argument("--seed", type=int, default=42)
a = p.parse_args()
params = json.loads(a.params)

kind = params["model"]
if kind == "logreg":
    model = make_pipeline(StandardScaler(), LogisticRegression(C=params["C"], max_iter=5000))
elif kind == "random_forest":
    model = RandomForestClassifier(n_estimators=params["n_estimators"], max_depth=params["max_depth"],
                                   random_state=a.seed, n_jobs=1)
elif kind == "gradient_boosting":
    model = GradientBoostingClassifier(learning_rate=params["learning_rate"], n_estimators=params["n_estimators"],
                                       random_state=a.seed)
else:
    raise SystemExit(f"unknown model {kind!r}")

train, valid = pd.read_csv(a.train), pd.read_csv(a.valid)
X, y = train.drop(columns="target"), train["target"]
Xv, yv = valid.drop(columns="target"), valid["target"]
model.fit(X, y)
pred = model.predict(Xv)
proba = model.predict_proba(Xv)
binary = proba.shape[1] == 2
scores = {
    "params": params,
    "accuracy": accuracy_score(yv, pred),
    "f1": f1_score(yv, pred, average="binary" if binary else "macro"),
    "roc_auc": roc_auc_score(yv, proba[:, 1]) if binary else roc_auc_score(yv, proba, multi_class="ovr"),
}
os.makedirs("out", exist_ok=True)
with open("out/model.pkl", "wb") as f:
    pickle.dump(model, f)
with open("out/scores.json", "w") as f:
    json.dump(scores, f)
print(json.dumps(scores))
