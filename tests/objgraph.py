#!/usr/bin/env python3
"""Prints the cycles among the object files of a static library.

An object file A depends on B when A uses a symbol B defines (nm). A cycle
is a set of files that reach each other (a strongly connected component of
more than one file); each is printed as one line "a.o b.o ...", with the
symbols that close it. Exit status 1 when there is a cycle, 0 when none.

Usage: objgraph.py LIB.a [--print]   (--print: also the whole graph)
"""
import collections
import subprocess
import sys


def nm(lib, *flags):
    out = subprocess.run(["nm", "-A", *flags, lib], capture_output=True, text=True,
                         check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            yield parts[0].split(":")[1], parts[-2], parts[-1]


def graph(lib):
    defs = {sym: member for member, kind, sym in nm(lib, "--defined-only")
            if kind in "TDBRV"}
    edges = collections.defaultdict(dict)
    for member, kind, sym in nm(lib, "-u"):
        if kind == "U" and sym in defs and defs[sym] != member:
            edges[member].setdefault(defs[sym], sym)
    return edges


def components(edges):
    """Tarjan's algorithm, iteratively."""
    index, low, onstack, stack, out = {}, {}, set(), [], []
    nodes = set(edges) | {b for a in edges for b in edges[a]}
    for root in sorted(nodes):
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        onstack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    onstack.add(w)
                    work.append((w, iter(sorted(edges.get(w, {})))))
                elif w in onstack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    onstack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def main():
    lib = sys.argv[1]
    edges = graph(lib)
    if "--print" in sys.argv:
        for a in sorted(edges):
            print(a, "->", " ".join(sorted(edges[a])))
    cycles = components(edges)
    for comp in cycles:
        links = ["%s->%s (%s)" % (a, b, edges[a][b])
                 for a in comp for b in sorted(edges.get(a, {})) if b in comp]
        print("cycle:", " ".join(comp))
        print("   ", "; ".join(links))
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
