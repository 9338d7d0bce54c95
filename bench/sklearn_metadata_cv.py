#!/usr/bin/python3
"""The scikit-learn reference for `woundphase search --modalities metadata`: the same 15 random-forest fits
(5 patient-grouped stratified folds x 3 runs, 300 trees, depth 10, min leaf 5, min split 10, balanced class
weights, 2 jobs) on the DFU metadata. Prints the mean QWK and plain kappa over the 15 folds.
Its own imports count in the timing, as they do for a user."""
import sys

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import cohen_kappa_score
from sklearn.model_selection import StratifiedGroupKFold

EXCLUDED = ["Healing Phase", "Phase Confidence (%)", "ID", "Patient#", "Appt Days", "Location",
            "Healing Phase Abs"]


def main(data_dir, runs=3, folds=5, seed=42):
    df = pd.read_csv(f"{data_dir}/DataMaster_Processed_V12_WithMissing.csv", encoding="utf-8-sig",
                     na_values=["NA"], keep_default_na=False)
    df = df.drop_duplicates(subset=["Patient#", "Appt#", "DFU#"])
    y = df["Healing Phase Abs"].map({"I": 0, "P": 1, "R": 2}).to_numpy()
    groups = df["Patient#"].to_numpy()
    x = df.drop(columns=EXCLUDED)
    for col in x.columns:
        if x[col].dtype == object:
            x[col] = x[col].astype("category").cat.codes.replace(-1, np.nan)
    qwk, kappa = [], []
    for run in range(runs):
        cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed + run)
        for train, test in cv.split(x, y, groups):
            # scikit-learn 1.2's forest rejects NaN: impute with the training medians.
            med = x.iloc[train].median()
            xtr, xte = x.iloc[train].fillna(med).fillna(0), x.iloc[test].fillna(med).fillna(0)
            rf = RandomForestClassifier(n_estimators=300, max_depth=10, min_samples_leaf=5,
                                        min_samples_split=10, class_weight="balanced", n_jobs=2,
                                        random_state=seed + run)
            rf.fit(xtr, y[train])
            pred = rf.predict(xte)
            qwk.append(cohen_kappa_score(y[test], pred, weights="quadratic"))
            kappa.append(cohen_kappa_score(y[test], pred))
    print(f"sklearn fits={len(qwk)} qwk_mean={np.mean(qwk):.4f} qwk_std={np.std(qwk, ddof=1):.4f} "
          f"kappa_mean={np.mean(kappa):.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/dfu")
