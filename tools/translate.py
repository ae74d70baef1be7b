"""Fill Russian translations into the catalogue, then compile it.

    .venv/bin/python tools/translate.py path/to/translations.py
    .venv/bin/python tools/translate.py other/messages.po   # e.g. another branch's catalogue

A .py file defines TR = {"English msgid": "Russian text", ...}; a .po file gives its
translated, non-fuzzy entries (handy after a merge: update the catalogue from the .pot,
then fill it from both sides). Entries are written only where the catalogue has the msgid;
fuzzy flags are cleared and obsolete entries dropped.
"""

import runpy
import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "portal/translations/ru/LC_MESSAGES/messages.po"


def load(source: str) -> dict:
    if not source.endswith(".po"):
        return runpy.run_path(source)["TR"]
    with open(source, "rb") as f:
        other = read_po(f)
    return {m.id: m.string for m in other if m.id and m.string and not m.fuzzy}


def main(source: str) -> None:
    translations = load(source)
    with PO.open("rb") as f:
        catalog = read_po(f)
    filled = 0
    for message in catalog:
        if message.id in translations:
            message.string = translations[message.id]
            message.flags.discard("fuzzy")
            filled += 1
    catalog.obsolete.clear()
    with PO.open("wb") as f:
        write_po(f, catalog)  # the same wrapping as pybabel update, so diffs stay small
    with PO.with_suffix(".mo").open("wb") as f:
        write_mo(f, catalog)
    missing = [m.id for m in catalog if m.id and not m.string]
    print(f"filled {filled}; still untranslated: {len(missing)}")
    for msgid in missing:
        print("  ", repr(msgid))


if __name__ == "__main__":
    main(sys.argv[1])
