"""Register a tabular data set: write one of scikit-learn's bundled data sets as CSV."""
import argparse
import os

from sklearn import datasets

LOADERS = {"breast_cancer": datasets.load_breast_cancer, "wine": datasets.load_wine}

p = argparse.ArgumentParser()
p.add_argument("--dataset", required=True, choices=sorted(LOADERS))
p.add_argument("--out", required=True)
a = p.parse_args()

frame = LOADERS[a.dataset](as_frame=True).frame
os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
frame.to_csv(a.out, index=False)
print(f"registered {a.dataset}: {len(frame)} rows, {frame.shape[1] - 1} features, "
      f"classes {sorted(frame['target'].unique().tolist())}")
