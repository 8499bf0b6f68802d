#!/usr/bin/env python3
"""Store header order: no include cycles among store/*.h, and the leaves
(record.c, ids.c, names.c) include no store/ header but their own.
Prints each header with its level. Usage: scripts/check-store-headers.py [REPO]"""
import re, glob, sys, os
os.chdir(sys.argv[1] if len(sys.argv) > 1 else '.')
inc = lambda f: [x for x in re.findall(r'^#include "(store/[^"]+)"', open(f).read(), re.M)]
G = {h: inc(h) for h in glob.glob('store/*.h')}
bad = 0
state = {}
def dfs(h, path):
    global bad
    state[h] = 1
    for d in G.get(h, []):
        if state.get(d) == 1:
            print('CYCLE:', ' -> '.join(path + [h, d])); bad = 1
        elif d not in state:
            dfs(d, path + [h])
    state[h] = 2
for h in sorted(G):
    if h not in state: dfs(h, [])
for leaf in ('store/record.c', 'store/ids.c', 'store/names.c'):
    own = leaf[:-2] + '.h'
    extra = [x for x in inc(leaf) if x != own] + [x for x in G[own]]
    if extra:
        print('LEAF', leaf, 'includes', extra); bad = 1
level = {}
def lv(h):
    if h not in level: level[h] = 1 + max([lv(d) for d in G.get(h, [])] or [-1])
    return level[h]
if not bad:
    for h in sorted(G, key=lambda h: (lv(h), h)):
        print(lv(h), h, '->', ', '.join(G[h]) or '-')
sys.exit(bad)
