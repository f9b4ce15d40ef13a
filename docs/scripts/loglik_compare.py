import json
import sys
import glob
import numpy as np
run = sys.argv[1]
rows = {}
for f in glob.glob(f"{run}/analysis/loglik-*.json"):
    d = json.load(open(f))
    o = d["options"]
    if o["points"] != 10 or d.get("simulated"):
        continue
    z = np.load(f[:-5] + ".npz")
    for est in d["estimates"]:
        if est not in ("is", "ais"):
            continue
        tag = f"{est} S={o['importance_samples']} map_steps={o.get('map_steps')} modes={o.get('map_modes',1)} prop={o['proposal']}" if est == "is" else f"ais chains={o['ais_chains']} T={o['ais_temperatures']}"
        rows[tag] = (z[f"{est}_per_point"], d["estimates"][est])
ref = rows.get(sys.argv[2]) if len(sys.argv) > 2 else None
for tag, (pp, e) in sorted(rows.items()):
    line = f"{tag:60s} {pp.mean():8.1f} +- {pp.std(ddof=1)/np.sqrt(len(pp)):5.1f}  ESS {e.get('ess_mean', float('nan')):6.1f}  {e.get('seconds', 0):6.0f} s"
    if ref is not None:
        diff = pp - ref[0]
        line += f"  - ref {diff.mean():+7.1f} +- {diff.std(ddof=1)/np.sqrt(len(diff)):5.1f}  [{' '.join(f'{v:+.0f}' for v in diff)}]"
    print(line)
