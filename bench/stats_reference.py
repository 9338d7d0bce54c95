#!/usr/bin/python3
"""Recomputes a search's paired statistics from its predictions.csv with SciPy, statsmodels and
scikit-learn, and checks them against comparisons.csv and results.csv.

Checked: per-fold QWK on the common rows (sklearn cohen_kappa_score, quadratic), qwk_a, qwk_b,
qwk_diff (1e-9); the Nadeau-Bengio corrected t-test (scipy.stats.t), Wilcoxon
(scipy.stats.wilcoxon, defaults), McNemar (statsmodels mcnemar, exact below 25 discordant pairs),
Holm (statsmodels multipletests) (1e-6); results.csv's n_common, qwk_common_mean, f1_weighted
(sklearn f1_score, weighted) and ECE / Brier / log loss (numpy / sklearn log_loss) recomputed from
the probabilities as predictions.csv writes them (6 decimals), hence the looser tolerance there.

Usage: bench/stats_reference.py RUN_DIR    exit 0 when everything agrees.
"""
import sys
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score, log_loss
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

warnings.simplefilter("ignore")
TOL_DIFF = 1e-9
TOL_P = 1e-6
TOL_PROB = 1e-4  # probabilities are rounded to 6 decimals in predictions.csv
BINS = 15

run_dir = sys.argv[1]
pred = pd.read_csv(f"{run_dir}/predictions.csv", keep_default_na=False)
results = pd.read_csv(f"{run_dir}/results.csv")
comparisons = pd.read_csv(f"{run_dir}/comparisons.csv")
folds_csv = pd.read_csv(f"{run_dir}/folds.csv")
classes = [c[len("prob_"):] for c in pred.columns if c.startswith("prob_")]
index = {c: i for i, c in enumerate(classes)}
pred["y"] = pred["label"].map(index)
pred["p"] = pred["pred"].map(index)
pred["key"] = pred["patient"].astype(str) + "|" + pred["appt"].astype(str) + "|" + pred["dfu"].astype(str)
names = list(results["modalities"])

# Common rows per (run, fold): the visit-wounds every combination predicted.
common = {}
for (run, fold), g in pred.groupby(["run", "fold"]):
    sets = [set(g.loc[g["modalities"] == n, "key"]) for n in names]
    common[(run, fold)] = set.intersection(*sets)


def qwk(y, p):
    if len(y) == 0 or (len(set(y)) == 1 and set(y) == set(p)):
        return float("nan")
    return cohen_kappa_score(y, p, weights="quadratic", labels=[0, 1, 2])


by_combo = {n: g for n, g in pred.groupby("modalities")}
fold_qwk = {}  # (name, run, fold) -> QWK on common rows
for n in names:
    for (run, fold), keys in common.items():
        g = by_combo[n]
        g = g[(g["run"] == run) & (g["fold"] == fold) & g["key"].isin(keys)]
        fold_qwk[(n, run, fold)] = qwk(list(g["y"]), list(g["p"]))

failures = []
worst = {"diff": 0.0, "p": 0.0, "results": 0.0, "prob": 0.0}


def check(what, ours, ref, tol, kind):
    if np.isnan(ours) and np.isnan(ref):
        return
    err = abs(ours - ref)
    worst[kind] = max(worst[kind], err)
    if not err <= tol:
        failures.append(f"{what}: ours {ours!r} reference {ref!r} (|diff| {err:.3g} > {tol})")


# results.csv columns.
all_keys = set().union(*common.values())
for _, r in results.iterrows():
    n = r["modalities"]
    vals = [fold_qwk[(n, run, fold)] for (run, fold) in common]
    vals = [v for v in vals if not np.isnan(v)]
    check(f"{n} qwk_common_mean", r["qwk_common_mean"], np.mean(vals) if vals else np.nan, 1e-6, "results")
    n_common = len({k for k in all_keys})
    if r["n_common"] != n_common:
        failures.append(f"{n} n_common {r['n_common']} != {n_common}")
    g = by_combo[n]
    f1s = [f1_score(h["y"], h["p"], average="weighted") for _, h in g.groupby(["run", "fold"])]
    check(f"{n} f1_weighted", r["f1_weighted"], np.mean(f1s), 1e-6, "results")
    P = g[[f"prob_{c}" for c in classes]].to_numpy(float)
    y = g["y"].to_numpy()
    conf = P.max(1)
    top = P.argmax(1)
    edges = [b / BINS for b in range(BINS + 1)]
    ece = 0.0
    for b in range(BINS):
        m = (conf > edges[b]) & (conf <= edges[b + 1]) if b > 0 else conf <= edges[1]
        if m.any():
            ece += m.sum() / len(y) * abs((top[m] == y[m]).mean() - conf[m].mean())
    check(f"{n} ece", r["ece"], ece, TOL_PROB, "prob")
    check(f"{n} brier", r["brier"], ((P - np.eye(3)[y]) ** 2).sum(1).mean(), TOL_PROB, "prob")
    check(f"{n} log_loss", r["log_loss"], log_loss(y, P, eps=1e-15, labels=[0, 1, 2]), 1e-3, "prob")

# The Nadeau-Bengio ratio: n_test / n_train of the folds, from folds.csv's metadata rows.
ratio = comparisons["test_train_ratio"].iloc[0] if len(comparisons) else np.nan
meta = folds_csv[folds_csv["modalities"] == "metadata"]
if len(meta):
    check("test_train_ratio", ratio, float((meta["n_test"] / meta["n_train"]).mean()), 1e-9, "diff")
else:
    print("note: no metadata rows in folds.csv; test_train_ratio taken from comparisons.csv")

p_t = []
for i, c in comparisons.iterrows():
    a, b = c["a"], c["b"]
    qa, qb, diffs = [], [], []
    for run, fold in sorted(common):
        x, z = fold_qwk[(a, run, fold)], fold_qwk[(b, run, fold)]
        if np.isnan(x) or np.isnan(z):
            continue
        qa.append(x)
        qb.append(z)
        diffs.append(x - z)
    d = np.round(np.array(diffs), 12)  # as woundphase does: equal QWK values give a zero difference
    tag = f"{a} vs {b}"
    check(f"{tag} qwk_a", c["qwk_a"], np.mean(qa), TOL_DIFF, "diff")
    check(f"{tag} qwk_b", c["qwk_b"], np.mean(qb), TOL_DIFF, "diff")
    check(f"{tag} qwk_diff", c["qwk_diff"], d.mean(), TOL_DIFF, "diff")
    J = len(d)
    if np.all(d == 0):
        pt, pw = 1.0, 1.0  # our documented convention (SciPy: NaN / error)
    else:
        t = d.mean() / np.sqrt((1 / J + ratio) * d.var(ddof=1))
        pt = 2 * stats.t.sf(abs(t), J - 1)
        pw = stats.wilcoxon(d).pvalue
    check(f"{tag} p_corrected_t", c["p_corrected_t"], pt, TOL_P, "p")
    check(f"{tag} p_wilcoxon", c["p_wilcoxon"], pw, TOL_P, "p")
    p_t.append(pt)
    # McNemar on the first run's pooled common rows.
    run0 = min(r for r, _ in common)
    ga = by_combo[a][by_combo[a]["run"] == run0].set_index(["fold", "key"])
    gb = by_combo[b][by_combo[b]["run"] == run0].set_index(["fold", "key"])
    n01 = n10 = 0
    for (run, fold), keys in common.items():
        if run != run0:
            continue
        for k in keys:
            ra, rb = ga.loc[(fold, k)], gb.loc[(fold, k)]
            ok_a, ok_b = ra["p"] == ra["y"], rb["p"] == rb["y"]
            n10 += ok_a and not ok_b
            n01 += ok_b and not ok_a
    res = mcnemar([[0, n10], [n01, 0]], exact=(n10 + n01) < 25, correction=True)
    check(f"{tag} p_mcnemar", c["p_mcnemar"], res.pvalue, TOL_P, "p")
    if (c["mcnemar_b"], c["mcnemar_c"]) != (n10, n01):
        failures.append(f"{tag} McNemar counts {c['mcnemar_b']},{c['mcnemar_c']} != {n10},{n01}")

p_t = np.array(p_t)
ok = ~np.isnan(p_t)
holm = np.full(len(p_t), np.nan)
if ok.any():
    holm[ok] = multipletests(p_t[ok], method="holm")[1]
for i, (_, c) in enumerate(comparisons.iterrows()):
    check(f"{c['a']} vs {c['b']} p_holm", c["p_holm"], holm[i], TOL_P, "p")

print(f"{len(comparisons)} comparisons, {len(names)} combinations, {len(common)} folds x runs")
print(f"largest |ours - reference|: comparisons.csv QWK values {worst['diff']:.2e} (tolerance "
      f"{TOL_DIFF}), p-values {worst['p']:.2e} ({TOL_P}); results.csv (6 decimals) QWK on common "
      f"rows and weighted F1 {worst['results']:.2e}, ECE/Brier/log loss {worst['prob']:.2e}")
if failures:
    print("DISAGREEMENTS:")
    for f in failures:
        print("  " + f)
    sys.exit(1)
print("agreement: OK")
