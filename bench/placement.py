"""Reference side of `npm run crosscheck -- placement`: the exact optimum of the placement problem as an ILP
(PuLP with its bundled CBC), for the small instances bench/placement-crosscheck.ts writes.

usage: python3 bench/placement.py <instances.json> <time_limit_s>

Each instance: {"name", "hosts": [{"vcpus", "memory_mb"}], "vms": [{"host", "vcpus", "memory_mb", "pinned", "aa"}],
"pairs": [[a, b, w]], "max_moves"}, optionally "tiers": {"rack": [per host], "zone": [per host], "distances":
[same rack, same zone, across zones]} (every host in one rack and one zone, racks within zones). Maximises the
traffic between VMs on one host (so minimises the cross-host traffic); with tiers, the cost saved against
putting every pair across zones, sum of w x (R on one host + (Z - R) in one rack + (X - Z) in one zone), so
minimises traffic x host distance as the advice does (src/placement/fleet.ts hostDistance). Every VM on one host, each host within capacity, at most one member of an anti-affinity group per
host, pinned VMs where they are and at most max_moves VMs off their host. Prints one JSON object per instance.
Used for the check only: never a runtime dependency of the product.
"""

import json
import sys
import time

import pulp


def solve(inst, time_limit):
    hosts = inst["hosts"]
    vms = inst["vms"]
    H = len(hosts)
    prob = pulp.LpProblem(inst["name"].replace("-", "_"), pulp.LpMaximize)
    x = {}
    for v, vm in enumerate(vms):
        for h in range(H):
            if vm["pinned"] or not vm["sized"]:
                continue
            x[v, h] = pulp.LpVariable(f"x_{v}_{h}", cat="Binary")

    def at(v, h):
        vm = vms[v]
        if vm["pinned"] or not vm["sized"]:
            return 1 if vm["host"] == h else 0
        return x[v, h]

    for v, vm in enumerate(vms):
        if not (vm["pinned"] or not vm["sized"]):
            prob += pulp.lpSum(x[v, h] for h in range(H)) == 1
    for h, cap in enumerate(hosts):
        prob += pulp.lpSum(vms[v]["vcpus"] * at(v, h) for v in range(len(vms))) <= cap["vcpus"]
        prob += pulp.lpSum(vms[v]["memory_mb"] * at(v, h) for v in range(len(vms))) <= cap["memory_mb"]
    groups = {}
    for v, vm in enumerate(vms):
        if vm["aa"] is not None:
            groups.setdefault(vm["aa"], []).append(v)
    for members in groups.values():
        if len(members) > 1:
            for h in range(H):
                prob += pulp.lpSum(at(v, h) for v in members) <= 1
    prob += pulp.lpSum(1 - at(v, vm["host"]) for v, vm in enumerate(vms)) <= inst["max_moves"]
    objective = []
    for i, (a, b, w) in enumerate(inst["pairs"]):
        for h in range(H):
            xa, xb = at(a, h), at(b, h)
            if isinstance(xa, int) and isinstance(xb, int):
                objective.append(w * xa * xb)
                continue
            if (isinstance(xa, int) and xa == 0) or (isinstance(xb, int) and xb == 0):
                continue
            y = pulp.LpVariable(f"y_{i}_{h}", lowBound=0, upBound=1)
            if not isinstance(xa, int):
                prob += y <= xa
            if not isinstance(xb, int):
                prob += y <= xb
            objective.append(w * y)
    tiers = inst.get("tiers")
    if tiers is not None:
        near, mid, far = tiers["distances"]
        # A pair on one host counts R (above, scaled below); in one rack Z - R more; in one zone X - Z more.
        objective = [near * term for term in objective]
        for key, weight in (("rack", mid - near), ("zone", far - mid)):
            if weight <= 0:
                continue
            blocks = {}
            for h in range(H):
                blocks.setdefault(tiers[key][h], []).append(h)
            for i, (a, b, w) in enumerate(inst["pairs"]):
                for k, members in blocks.items():
                    y = pulp.LpVariable(f"{key}_{i}_{k}", lowBound=0, upBound=1)
                    prob += y <= pulp.lpSum(at(a, h) for h in members)
                    prob += y <= pulp.lpSum(at(b, h) for h in members)
                    objective.append(w * weight * y)
    prob += pulp.lpSum(objective)
    started = time.perf_counter()
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit, threads=1))
    seconds = time.perf_counter() - started
    together = pulp.value(prob.objective) or 0.0
    total = sum(w for _, _, w in inst["pairs"])
    before_together = sum(w for a, b, w in inst["pairs"] if vms[a]["host"] == vms[b]["host"])
    if tiers is not None:
        total = sum(w * far for _, _, w in inst["pairs"])

        def distance(ha, hb):
            if ha == hb:
                return 0
            if tiers["rack"][ha] == tiers["rack"][hb]:
                return near
            return mid if tiers["zone"][ha] == tiers["zone"][hb] else far

        before_together = total - sum(w * distance(vms[a]["host"], vms[b]["host"]) for a, b, w in inst["pairs"])
    def value(x):
        return x if isinstance(x, int) else (pulp.value(x) or 0.0)

    moved = sum(1 for v, vm in enumerate(vms) if value(at(v, vm["host"])) < 0.5)
    return {
        "name": inst["name"],
        "status": pulp.LpStatus[status],
        "optimal": prob.sol_status == pulp.LpSolutionOptimal,
        "saved": together - before_together,
        "cross_before": total - before_together,
        "migrations": moved,
        "seconds": round(seconds, 3),
        # The host of each VM in the solution, so that the cross-check can tell whether its moves can be
        # applied one at a time (the ILP constrains only the final placement).
        "final": [next((h for h in range(H) if value(at(v, h)) > 0.5), vm["host"]) for v, vm in enumerate(vms)],
    }


def main():
    with open(sys.argv[1]) as f:
        instances = json.load(f)
    limit = float(sys.argv[2])
    for inst in instances:
        print(json.dumps(solve(inst, limit)), flush=True)


if __name__ == "__main__":
    main()
