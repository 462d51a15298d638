"""``python -m wagedispute.dev.settings_table``: rewrite the README's table of settings."""

from __future__ import annotations

from pathlib import Path

from wagedispute.platform.config import write_readme_table

README = Path(__file__).resolve().parents[2] / "README.md"

if __name__ == "__main__":
    changed = write_readme_table(README)
    print("README.md: settings table " + ("updated" if changed else "already up to date"))
