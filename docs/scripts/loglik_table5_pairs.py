"""Table 5's IS at the converged MAP (map_steps 3000, S 10,000) beside AIS (4 chains), paired on the same digits."""
import glob
import json
import numpy as np

def per_point(run, est, **want):
    for f in sorted(glob.glob(f"{run}/analysis/loglik-*.json")):
        d = json.load(open(f))
        o = d["options"]
        if o.get("points") != 10 or o.get("sigma") or o.get("map_modes") or d.get("simulated"):
            continue
        if all(o.get(k) == v for k, v in want.items()):
            a = np.load(f[:-5] + ".npz")
            if f"{est}_per_point" in a.files:
                return a[f"{est}_per_point"], d["estimates"][est]
    return None, None


def se(v):
    return v.std(ddof=1) / np.sqrt(len(v))


runs = {(m, s): r for m, s, r in [("VAE", 0, "var/t9/vae"), ("VAE", 1, "var/t11/vae_seed1"),
                                   ("PresGAN", 0, "var/t9/presgan_s01"), ("PresGAN", 1, "var/t11/presgan_s01_seed1"),
                                   ("lambda0", 0, "var/t9/lam0"), ("lambda0", 1, "var/t11/lam0_seed1")]}
vals = {}
for key, run in runs.items():
    new, e = per_point(run, "is", map_steps=3000, importance_samples=10000, proposal="hmc")
    old, _ = per_point(run, "is", map_steps=200, importance_samples=1000, proposal="hmc", map_starts=8)
    ais, _ = per_point(run, "ais", ais_chains=4, ais_temperatures=2000)
    vals[key] = (new, ais)
    if new is None:
        print(key, "missing")
        continue
    print(f"{key[0]:8s} seed {key[1]}: IS new {new.mean():7.1f} +- {se(new):4.1f} (ESS {e['ess_mean']:.1f}, {e['seconds']:.0f} s)"
          f" | old IS {old.mean():7.1f} | AIS-4 {ais.mean():7.1f} | IS new - AIS {np.mean(new - ais):+6.1f} +- {se(new - ais):4.1f}"
          f" [{' '.join(f'{v:+.0f}' for v in new - ais)}]")
for a, b in (("VAE", "PresGAN"), ("VAE", "lambda0"), ("PresGAN", "lambda0")):
    for i, name in ((0, "IS new"), (1, "AIS-4")):
        cells = []
        both = []
        for s in (0, 1):
            x, y = vals[(a, s)][i], vals[(b, s)][i]
            if x is None or y is None:
                cells.append("-")
                continue
            d = x - y
            both.append(d)
            cells.append(f"{d.mean():+.1f} +- {se(d):.1f} (ahead on {(d > 0).sum()})")
        mean2 = f"{np.mean(both, 0).mean():+.1f} +- {se(np.mean(both, 0)):.1f}" if len(both) == 2 else "-"
        print(f"{a} - {b}, {name}: seed 0 {cells[0]} | seed 1 {cells[1]} | both {mean2}")
