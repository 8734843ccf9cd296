"""Expected wall time of a deploy's round trips alone under a latency spread.

The bench's bound multiplies the median latency by the longest chain's round
trips; a real deploy waits for the slowest of its parallel branches, each a sum
of random latencies. This simulates only the bound's calls (file assets up
front; per stack one create and one read that sees it complete, started when
its dependencies and assets are done) with every latency drawn uniformly from
LOW-HIGH, and prints the mean in ms: what no client, however fast, can beat.

Usage: python3 chain_spread.py ASSEMBLY_DIR LOW HIGH [RUNS]
"""

import json
import os
import random
import sys


def stack_graph(app):
    arts = json.load(open(os.path.join(app, "manifest.json")))["artifacts"]
    stacks = [k for k, v in arts.items() if v["type"] == "aws:cloudformation:stack"]

    def deps(k):
        # Stacks depend on each other directly or through their asset manifests.
        found = set()
        for d in arts[k].get("dependencies", []):
            if d in stacks:
                found.add(d)
            elif d in arts:
                found.update(x for x in arts[d].get("dependencies", []) if x in stacks)
        return found

    def needs_assets(k):
        path = os.path.join(app, f"{k}.assets.json")
        if not os.path.exists(path):
            return False
        files = json.load(open(path)).get("files", {}).values()
        return any(not f["source"]["path"].endswith(".template.json") for f in files)

    return stacks, {k: deps(k) for k in stacks}, {k: needs_assets(k) for k in stacks}


def main():
    app, low, high = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 100_000
    stacks, deps, assets = stack_graph(app)
    rng = random.Random(22)
    total = 0.0
    for _ in range(runs):
        put = rng.uniform(low, high)
        done = {}
        while len(done) < len(stacks):
            before = len(done)
            for k in stacks:
                if k in done or any(d not in done for d in deps[k]):
                    continue
                start = max([done[d] for d in deps[k]] + [put if assets[k] else 0.0])
                done[k] = start + rng.uniform(low, high) + rng.uniform(low, high)
            if len(done) == before:
                sys.exit("the stacks' dependencies form a cycle")
        total += max(done.values())
    print(round(total / runs))


if __name__ == "__main__":
    main()
