"""One evaluation path: no module but ``voxquant.engine`` turns model outputs into predictions itself, and no module
but ``voxquant.data.slices`` draws its own calibration / dev subset.

The scan is static (``ast``) over every module of the installed package source:

* **own predict loop**: inside one function (or at module level), ``.argmax(...)`` / ``np.argmax(...)`` applied to
  the output of a ``<anything>.run(...)`` / ``.run_features(...)`` call -- directly, or through local names
  assigned (transitively) from such an output (``s = sess.run(x)``, ``p = np.concatenate([...])``, ...). THE batched
  predict is :func:`voxquant.engine.predict` (top-1) / :func:`voxquant.engine.predict_scores` (scores);
* **own calibration sampler**: a ``.choice(`` / ``.permutation(`` / ``.shuffle(`` call (``rng.choice``,
  ``np.random.permutation`` ...) in a function that also selects clips with ``.subset(``, or whose arguments name
  dev / calibration / pool indices, or inside a function whose name mentions calibration. THE sampler is
  :func:`voxquant.data.slices.stratified_indices` / ``stratified_subset``.

``ALLOWED`` lists the exceptions with their reason; an entry that no longer matches anything fails too, so the list
cannot rot. ``test_scanner_catches_the_old_loops`` runs the scanner on the loops this test was written against.
"""

from __future__ import annotations

import ast
from pathlib import Path

import voxquant

PKG = Path(voxquant.__file__).resolve().parent
SAMPLER_ATTRS = {"choice", "permutation", "shuffle"}
SAMPLER_HINTS = ("dev", "calib", "pool")

#: ``(module path relative to the package, function, rule) -> reason``.
ALLOWED = {
    ("data/command_streams.py", "draw_command", "sampler"):
        "placement order of command utterances in a seeded test stream (each used once per round), not a "
        "calibration or dev subset; the word 'pools' (real / synthetic commands) trips the name heuristic",
    ("quant/qat.py", "export_qdq_onnx", "predict"):
        "export parity check (PyTorch QAT graph vs its ONNX file on one example batch), not an evaluation; "
        "voxquant.quant sits below voxquant.engine in the layer contract",
    ("eval/latency.py", "e2e", "predict"):
        "end-to-end latency of one clip: the timed decision (softmax + top-1) is part of what is measured, no "
        "accuracy comes out of it; runs in a fresh worker process that must stay light",
}


def _contains(node: ast.AST, pred) -> bool:
    return any(pred(n) for n in ast.walk(node))


def _is_run_call(n: ast.AST) -> bool:
    return (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("run", "run_features")
            and not (isinstance(n.func.value, ast.Name) and n.func.value.id == "subprocess"))


def _names(node: ast.AST) -> set[str]:
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Attribute):
            out.add(n.attr)
    return out


def _scopes(tree: ast.Module):
    """``(name, node)`` for the module body and every function (nested functions are their own scope too)."""
    yield "<module>", tree
    for n in ast.walk(tree):
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield n.name, n


def _own_nodes(scope: ast.AST):
    """Nodes of ``scope`` not inside a nested function/class (lambdas and comprehensions stay in)."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        n = stack.pop()
        yield n
        if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(n))


def _targets(t: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(t) if isinstance(n, ast.Name)}


def scan_source(src: str, rel: str) -> list[tuple[str, str, str, int]]:
    """Findings ``(module, function, rule, line)`` in one module's source; ``rule`` is ``predict`` or ``sampler``."""
    tree = ast.parse(src)
    found = []
    for fname, scope in _scopes(tree):
        nodes = list(_own_nodes(scope))
        # names holding model outputs, transitively
        tainted: set[str] = set()
        assigns = [(n.targets if isinstance(n, ast.Assign) else [n.target], n.value) for n in nodes
                   if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign)) and n.value is not None]
        changed = True
        while changed:
            changed = False
            for targets, value in assigns:
                if _contains(value, _is_run_call) or _contains(value, lambda m: isinstance(m, ast.Name) and m.id in tainted):
                    new = set().union(*(_targets(t) for t in targets)) - tainted
                    if new:
                        tainted |= new
                        changed = True

        def from_output(expr: ast.AST) -> bool:
            return _contains(expr, _is_run_call) or _contains(
                expr, lambda m: isinstance(m, ast.Name) and m.id in tainted)

        subsets = any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "subset"
                      for n in nodes)
        for n in nodes:
            if not (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)):
                continue
            if n.func.attr == "argmax":
                operand = n.args[0] if (isinstance(n.func.value, ast.Name) and n.func.value.id in ("np", "numpy")
                                        and n.args) else n.func.value
                if from_output(operand):
                    found.append((rel, fname, "predict", n.lineno))
            elif n.func.attr in SAMPLER_ATTRS and rel != "data/slices.py":
                hinted = any(h in name.lower() for a in [*n.args, *(k.value for k in n.keywords)]
                             for name in _names(a) for h in SAMPLER_HINTS)
                if subsets or hinted or "calib" in fname.lower():
                    found.append((rel, fname, "sampler", n.lineno))
    return found


def scan_package() -> list[tuple[str, str, str, int]]:
    found = []
    for path in sorted(PKG.rglob("*.py")):
        rel = path.relative_to(PKG).as_posix()
        if rel == "engine.py":
            continue
        found += scan_source(path.read_text(encoding="utf-8"), rel)
    return found


def test_no_own_predict_loops_or_calibration_samplers():
    found = scan_package()
    bad = [f for f in found if f[:3] not in ALLOWED]
    assert not bad, "outside voxquant.engine / voxquant.data.slices:\n" + "\n".join(
        f"  {m}:{line} in {fn}(): own {'argmax over Session.run outputs (use engine.predict / predict_scores)' if r == 'predict' else 'calibration sampler (use data.slices.stratified_indices)'}"
        for m, fn, r, line in bad)
    stale = set(ALLOWED) - {f[:3] for f in found}
    assert not stale, f"ALLOWED entries that match nothing any more (remove them): {sorted(stale)}"


def test_scanner_catches_the_old_loops():
    """The loops this test was written against (as they were before the fold) are found; the engine's form is not."""
    old_zoo = '''
def _calibration(spec, dev, n, seed=0):
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(dev), size=min(n, len(dev)), replace=False))
    return spec_features(spec, dev.subset(idx))
'''
    old_study = '''
def run_study(cfg):
    def correct(path):
        sess = OrtSession(path, threads=cfg.threads)
        return {k: np.concatenate([sess.run(x[i : i + 512]).argmax(1) for i in range(0, len(x), 512)]) == data.y
                for k, x in data.x.items()}
    return correct
'''
    old_few = '''
def calibration_waves(dev, top, size, seed):
    pool = np.array([i for i, c in enumerate(dev.clips) if c.speaker in top])
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(pool, size=min(size, len(pool)), replace=False))
    return dev.subset(idx)
'''
    via_name = '''
def f(session, x):
    s = session.run(x)
    scores = np.concatenate([s])
    return np.argmax(scores, axis=1)
'''
    assert [f[2] for f in scan_source(old_zoo, "zoo/evaluate.py")] == ["sampler"]
    assert [f[1:3] for f in scan_source(old_study, "studies/calibration.py")] == [("correct", "predict")]
    assert [f[2] for f in scan_source(old_few, "studies/calibration.py")] == ["sampler"]
    assert [f[2] for f in scan_source(via_name, "x.py")] == ["predict"]
    clean = '''
def f(session, x, labels, y):
    pred = predict(session, x)
    idx = stratified_indices(labels, 10, 0)
    perm = rng.permutation(len(y))  # a training shuffle, not a clip subset
    return pred, idx, perm
'''
    assert scan_source(clean, "x.py") == []
