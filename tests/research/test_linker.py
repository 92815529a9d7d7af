"""The agency linker finds the agencies of ICE's real lists in real texts."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import openpyxl
import pypdf
import pytest
import us

from research.linker import AgencyLinker, KnownAgency, find_states, normalize_tokens

DATA = Path(__file__).parent / "data"
ICE_FILES = sorted((Path(__file__).parent.parent / "agreements" / "data").glob("*.xlsx"))


@cache
def ice_agencies() -> tuple[KnownAgency, ...]:
    """Every (state, agency) of the sample ICE files, as the linker would get them."""
    seen: dict[tuple[str, str], str] = {}
    for path in ICE_FILES:
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        for row in list(sheet.iter_rows(values_only=True))[1:]:
            if not row or not row[0] or not row[1]:
                continue
            state = us.states.lookup(str(row[0]).strip().title())
            if state is not None:
                seen.setdefault((state.abbr, str(row[1]).strip()), str(row[3] or ""))
    return tuple(
        KnownAgency(id=i, name=name, state=state, county=county)
        for i, ((state, name), county) in enumerate(sorted(seen.items()))
    )


@cache
def linker() -> AgencyLinker:
    return AgencyLinker(ice_agencies())


def named(text: str) -> list[tuple[str, str, float]]:
    by_id = {agency.id: agency for agency in ice_agencies()}
    return [
        (by_id[m.agency_id].name, by_id[m.agency_id].state, m.confidence)
        for m in linker().find(text)
    ]


def pdf_text(name: str) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(DATA / name).pages)


def test_the_sample_lists_hold_the_same_name_in_several_states():
    """Sanity check of the fixture the ambiguity tests rely on."""
    polk = {a.state for a in ice_agencies() if a.name == "Polk County Sheriff's Office"}
    assert {"GA", "FL", "TX"} <= polk
    assert len(linker()) == len(ice_agencies()) > 500


def test_polk_county_moa_links_to_georgia_only():
    """The Polk County, Georgia MOA names Atlanta, GA: only the Georgia agency."""
    mentions = named(pdf_text("287gJEM_PolkCoGa2020-07-02.pdf"))
    assert [(name, state) for name, state, _ in mentions] == [
        ("Polk County Sheriff's Office", "GA")
    ]
    assert mentions[0][2] >= 0.8


def test_baker_county_moa_links_to_florida_with_passage():
    mentions = linker().find(pdf_text("287gWSO_BakerCoFl2019-10-15.pdf"))
    assert len(mentions) == 1
    agency = next(a for a in ice_agencies() if a.id == mentions[0].agency_id)
    assert (agency.name, agency.state) == ("Baker County Sheriff's Office", "FL")
    assert "Baker County Sheriffs Office" in mentions[0].passage
    assert mentions[0].count > 10


@pytest.mark.parametrize(
    ("text", "state"),
    [
        ("The Polk County Sheriff's Office in Bartow, Florida, signed in 2019.", "FL"),
        ("Polk County Sheriff’s Office (TX) joined the program.", "TX"),
        ("Sheriff of Polk County, Ga., Johnny Moats said the agreement stands.", "GA"),
        ("LIVINGSTON, TEXAS — POLK CO. SHERIFFS OFFICE deputies began screening.", "TX"),
    ],
)
def test_same_name_in_several_states_is_resolved_by_the_state_named(text, state):
    mentions = named(text)
    assert [(name, s) for name, s, _ in mentions] == [("Polk County Sheriff's Office", state)]


def test_state_named_elsewhere_in_the_document_resolves_the_name():
    text = (
        "Georgia sheriffs expand immigration work.\n\n"
        + "Officials spoke at length about the budget and the new jail. " * 20
        + "The Polk County Sheriff's Office signed last week."
    )
    assert [(n, s) for n, s, _ in named(text)] == [("Polk County Sheriff's Office", "GA")]


def test_same_name_with_no_state_is_suggested_everywhere_with_low_confidence():
    mentions = named("The Polk County Sheriff's Office signed an agreement.")
    assert {state for _, state, _ in mentions} >= {"GA", "FL", "TX"}
    assert all(confidence <= 0.3 for _, _, confidence in mentions)


def test_washington_county_is_not_washington_state():
    """ "Washington County" names a county, not the State of Washington."""
    mentions = named("Washington County Sheriff's Office in Hagerstown, Maryland, said")
    assert [(n, s) for n, s, _ in mentions] == [("Washington County Sheriff's Office", "MD")]


def test_unique_names_link_without_a_state():
    mentions = named("Deputies of the Alachua County Sheriff's Office were trained.")
    assert [(n, s) for n, s, _ in mentions] == [("Alachua County Sheriff's Office", "FL")]
    assert mentions[0][2] >= 0.75


def test_words_only_match_whole():
    """ "Bakersfield" is not Baker County, and a bare "Sheriff's Office" names nobody."""
    assert named("The Bakersfield County Sheriff's Office and the Sheriff's Office spoke.") == []
    assert named("Baker Countyside Sheriff's Office") == []


def test_state_mentions_prefer_the_longest_name():
    assert [code for _, code in find_states("West Virginia and Virginia")] == ["WV", "VA"]
    text = "He met Washington County officials in Washington, D.C."
    assert [code for _, code in find_states(text)] == ["DC"]
    assert [code for _, code in find_states("Atlanta, GA 30303 and Austin (TX)")] == ["GA", "TX"]


def test_names_normalize_apostrophes_case_and_abbreviations():
    key = normalize_tokens("Polk County Sheriff's Office")
    assert normalize_tokens("POLK CO. SHERIFF’S OFFICE") == key
    assert normalize_tokens("Polk County Sheriffs Office") == key


def test_aliases_are_matched():
    agency = KnownAgency(
        id=1,
        name="Arkansas State Police Department",
        state="AR",
        aliases=("Arkansas State Police",),
    )
    mentions = AgencyLinker([agency]).find("Troopers of the Arkansas State Police said")
    assert [m.agency_id for m in mentions] == [1]
    assert mentions[0].matched == "Arkansas State Police"


@pytest.mark.parametrize(
    "text",
    [
        "Jefferson Parish Sheriff's Office deputies",
        "the Sheriff of Jefferson Parish said",
        "Jefferson Parish Sheriff’s Department",
    ],
)
def test_sheriff_name_variants_match(text):
    agency = KnownAgency(id=7, name="Jefferson Parish Sheriff's Office", state="LA")
    assert [m.agency_id for m in AgencyLinker([agency]).find(text)] == [7]


def test_pdf_ligatures_and_typographic_punctuation_still_match():
    """PDF text often carries "ﬃ" ligatures; news text curly quotes and dashes."""
    assert named("— “The Alachua County Sheriff’s Oﬃce,” he said —") == [
        ("Alachua County Sheriff's Office", "FL", pytest.approx(0.8, abs=0.2))
    ]
    mention = linker().find("Intro… then the Alachua County Sheriﬀ’s Office signed.")[0]
    assert mention.matched == "Alachua County Sheriﬀ’s Office"


def test_a_namesake_in_a_state_we_do_not_know_is_not_suggested():
    """Franklin County has sheriffs with agreements in six states, not in Kentucky."""
    assert named("The Franklin County Sheriff's Office in Frankfort, Kentucky, declined.") == []
