"""The shape of the code: no two modules import each other, directly or through others."""

from __future__ import annotations

import grimp


def test_no_module_pair_imports_each_other():
    graph = grimp.build_graph("wagedispute", "handlers", "qr", include_external_packages=False)
    modules = sorted(graph.modules)
    pairs = [
        (a, b)
        for i, a in enumerate(modules)
        for b in modules[i + 1 :]
        if graph.direct_import_exists(importer=a, imported=b)
        and graph.direct_import_exists(importer=b, imported=a)
    ]
    assert pairs == []


def test_no_import_cycle_between_modules():
    graph = grimp.build_graph("wagedispute", "handlers", "qr", include_external_packages=False)
    # A package imports nothing of its own modules except through its __init__, which the
    # project keeps to a docstring; so any chain back to the start is a real cycle.
    cycles = [
        module
        for module in sorted(graph.modules)
        if any(
            graph.chain_exists(importer=imported, imported=module)
            for imported in graph.find_modules_directly_imported_by(module)
        )
    ]
    assert cycles == []
