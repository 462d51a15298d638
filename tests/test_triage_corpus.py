"""Triage reads meaning: a corpus of real phrasings, negation, Chinese numerals, reasons."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from wagedispute.intake.triage import (
    TriageFacts,
    arabic_numerals,
    find_signals,
    suggest_urgency,
    text_figures,
)
from wagedispute.models import Urgency

CORPUS_PATH = Path(__file__).resolve().parent / "data" / "triage_corpus.json"
CORPUS: list[dict[str, Any]] = json.loads(CORPUS_PATH.read_text(encoding="utf-8"))["cases"]
RANK = {Urgency.NORMAL: 0, Urgency.URGENT: 1, Urgency.CRITICAL: 2}


def quiet_facts(description: str) -> TriageFacts:
    """Two workers, 5,000 yuan, no period, far from the festival: only the words can raise it."""
    return TriageFacts(
        workers_affected=2,
        amount_owed_fen=500_000,
        description=description,
        today=date(2026, 6, 15),
    )


def test_the_corpus_is_large_and_covers_every_risk_family() -> None:
    assert len(CORPUS) >= 100
    families = {entry.get("family") for entry in CORPUS}
    assert {
        "self_harm",
        "violence",
        "blocking_roads",
        "gathering",
        "higher_authorities",
        "media",
    } <= families
    assert sum(1 for entry in CORPUS if entry.get("max") == "normal") >= 15


@pytest.mark.parametrize("entry", CORPUS, ids=[entry["text"] for entry in CORPUS])
def test_corpus_phrasing_gets_at_least_its_expected_level(entry: dict[str, Any]) -> None:
    level, reasons = suggest_urgency(quiet_facts(entry["text"]))
    assert RANK[level] >= RANK[Urgency(entry["min"])], reasons
    if "max" in entry:
        assert RANK[level] <= RANK[Urgency(entry["max"])], reasons
    if "family" in entry:
        asserted = {s.key for s in find_signals(entry["text"]) if not s.negated}
        assert entry["family"] in asserted
        # The reason quotes the worker's own words, so the foreman sees why.
        assert any("“" in reason and "风险词" in reason for reason in reasons)


def test_a_negated_threat_is_explained_and_does_not_raise_the_level() -> None:
    level, reasons = suggest_urgency(quiet_facts("我们不会跳楼的，只想拿回工钱"))
    assert level == Urgency.NORMAL
    assert reasons[0] == "未发现紧急信号"
    assert any("否定表述" in r and "跳楼" in r for r in reasons)


def test_a_condition_with_a_negation_still_carries_the_threat() -> None:
    level, reasons = suggest_urgency(quiet_facts("老板再不给钱，我们就去堵路"))
    assert level == Urgency.CRITICAL
    assert reasons[0].startswith("扬言堵路、拦车（特急）") and "堵路" in reasons[0]


def test_chinese_numerals_in_the_description_are_weighed_like_the_form() -> None:
    assert arabic_numerals("三十多个工人欠了十二万五千元") == "30多个工人欠了125000元"
    figures = text_figures("我们三十多个工人，工钱欠了二十多万，拖了三个多月")
    assert (figures.workers, figures.amount_yuan, figures.months) == (30, 200_000, 3)
    level, reasons = suggest_urgency(quiet_facts("我们三十多个工人"))
    assert (level, reasons) == (Urgency.CRITICAL, ["情况说明提到约 30 名工人（≥30 人）"])
    level, reasons = suggest_urgency(quiet_facts("欠我们八万块"))
    assert level == Urgency.NORMAL


def test_figures_on_the_form_are_not_counted_twice_from_the_text() -> None:
    facts = TriageFacts(
        workers_affected=45, amount_owed_fen=0, description="四十五个工人", today=date(2026, 6, 15)
    )
    assert suggest_urgency(facts) == (Urgency.CRITICAL, ["涉及工人 45 人（≥30 人）"])


def test_a_single_character_verb_counts_only_as_a_whole_word() -> None:
    assert not find_signals("包工头说砍价砍得太狠，中午烧饭的阿姨也没拿到钱")
    (signal,) = find_signals("工友说见到包工头就捅")
    assert signal.key == "violence" and signal.words == ("捅",)
