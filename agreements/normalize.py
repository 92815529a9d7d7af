"""Normalization of the values ICE writes in its 287(g) lists.

Pure functions, no database: state names to USPS codes, support types to
models, agency types to kinds, agency names to match keys, counties to FIPS.
Each returns what it could make of the value and whether that took a guess,
so the caller can record a warning where ICE's text was not exact.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache, lru_cache

import addfips
import us
from rapidfuzz import fuzz, process

from agreements import choices

# Scores (0-100, rapidfuzz ratio) above which a misspelling is read as the
# value it resembles. High on purpose: a wrong state or model is worse than a
# blank one with a warning.
STATE_CUTOFF = 85
MODEL_CUTOFF = 80
TYPE_CUTOFF = 80
COUNTY_CUTOFF = 85
# ...and the names without "County" must still look alike: "Baz County" is
# close to "Brazos County" only because of the word they share.
COUNTY_NAME_CUTOFF = 75


@dataclass(frozen=True)
class Match:
    """What a raw value was read as; ``exact`` is False when it took a guess."""

    value: str
    exact: bool


def clean_text(value: object) -> str:
    """Text of a cell: NFKC, curly quotes made straight, spaces collapsed."""
    if value is None:
        return ""
    text = unicodedata.normalize("NFKC", str(value))
    text = text.translate(_QUOTES)
    return " ".join(text.split())


_QUOTES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", clean_text(text).casefold()).strip()


# --- States -----------------------------------------------------------------


@cache
def _state_names() -> dict[str, str]:
    names = {}
    for state in [*us.states.STATES_AND_TERRITORIES, us.states.DC]:
        names[_fold(state.name)] = state.abbr
        names[state.abbr.casefold()] = state.abbr
    names["washington dc"] = "DC"
    names["d c"] = "DC"
    return names


@lru_cache(maxsize=4096)
def state_code(value: object) -> Match | None:
    """The USPS code of a state written in any case, abbreviated or misspelled."""
    folded = _fold(str(value or ""))
    if not folded:
        return None
    names = _state_names()
    if folded in names:
        return Match(names[folded], exact=True)
    if len(folded) > 3:
        best = process.extractOne(folded, list(names), scorer=fuzz.ratio, score_cutoff=STATE_CUTOFF)
        if best is not None:
            return Match(names[best[0]], exact=False)
    return None


@lru_cache(maxsize=4096)
def state_name(code: str) -> str:
    """The name of a state from its USPS code ("" if unknown)."""
    state = us.states.lookup(code) if code else None
    return state.name if state else ""


# --- Support types (models) -------------------------------------------------

_MODEL_NAMES = {
    "jail enforcement model": choices.JEM,
    "jail enforcement": choices.JEM,
    "jem": choices.JEM,
    "task force model": choices.TFM,
    "task force": choices.TFM,
    "tfm": choices.TFM,
    "warrant service officer": choices.WSO,
    "warrant service officers": choices.WSO,
    "warrant service officer model": choices.WSO,
    "warrant service": choices.WSO,
    "wso": choices.WSO,
}


@lru_cache(maxsize=4096)
def support_model(value: object) -> Match | None:
    """The model (JEM/TFM/WSO) named by ICE's SUPPORT TYPE cell."""
    folded = _fold(str(value or ""))
    if not folded:
        return None
    if folded in _MODEL_NAMES:
        return Match(str(_MODEL_NAMES[folded]), exact=True)
    best = process.extractOne(
        folded, list(_MODEL_NAMES), scorer=fuzz.ratio, score_cutoff=MODEL_CUTOFF
    )
    if best is not None and len(folded) > 3:
        return Match(str(_MODEL_NAMES[best[0]]), exact=False)
    return None


# --- Agency types -----------------------------------------------------------

# ICE's TYPE column -> (canonical label, kind).
_AGENCY_TYPES = {
    "county": ("County", choices.COUNTY),
    "county agency": ("County", choices.COUNTY),
    "sheriff": ("County", choices.COUNTY),
    "sheriffs office": ("County", choices.COUNTY),
    "municipality": ("Municipality", choices.MUNICIPALITY),
    "municipal": ("Municipality", choices.MUNICIPALITY),
    "city": ("Municipality", choices.MUNICIPALITY),
    "town": ("Municipality", choices.MUNICIPALITY),
    "state agency": ("State Agency", choices.STATE),
    "state": ("State Agency", choices.STATE),
}


@dataclass(frozen=True)
class AgencyType:
    """An agency type as ICE means it."""

    label: str
    kind: str
    exact: bool


@lru_cache(maxsize=4096)
def agency_type(value: object) -> AgencyType | None:
    """The canonical TYPE label and agency kind; unknown text keeps its label, kind other."""
    text = clean_text(value)
    folded = _fold(text)
    if not folded:
        return None
    if folded in _AGENCY_TYPES:
        label, kind = _AGENCY_TYPES[folded]
        return AgencyType(label, str(kind), exact=text == label)
    best = process.extractOne(
        folded, list(_AGENCY_TYPES), scorer=fuzz.ratio, score_cutoff=TYPE_CUTOFF
    )
    if best is not None and len(folded) > 3:
        label, kind = _AGENCY_TYPES[best[0]]
        return AgencyType(label, str(kind), exact=False)
    return AgencyType(text[:100], str(choices.OTHER), exact=False)


# --- Agency names -----------------------------------------------------------

# Word-level spellings that mean the same thing in an agency's name.
_NAME_WORDS = {
    "co": "county",
    "cnty": "county",
    "cty": "county",
    "dept": "department",
    "dpt": "department",
    "sheriffs": "sheriff",
    "sherriff": "sheriff",
    "sherriffs": "sheriff",
    "sherrif": "sheriff",
    "sherif": "sheriff",
    "sherifs": "sheriff",
    "ofc": "office",
    "off": "office",
    "pd": "police department",
    "so": "sheriff office",
    "twp": "township",
    "st": "saint",
    "ft": "fort",
    "mt": "mount",
    "govt": "government",
    "dist": "district",
    "corr": "corrections",
    "correctional": "corrections",
    "div": "division",
}


@lru_cache(maxsize=65536)
def name_key(name: object) -> str:
    """The match key of an agency name.

    Case, accents, apostrophes (straight or curly), punctuation and spacing do
    not count, and common abbreviations ("Co.", "Dept", "Sheriffs") are spelled
    out, so that "POLK CO. SHERIFF’S OFFICE" and "Polk County Sheriff's Office"
    share a key.
    """
    text = unicodedata.normalize("NFKD", clean_text(name))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = text.replace("'", "").replace("&", " and ")
    words = re.sub(r"[^a-z0-9]+", " ", text).split()
    return " ".join(_NAME_WORDS.get(word, word) for word in words)[:255]


# Words that say what kind of office an agency is; two names with different
# roles ("Polk County Sheriff" / "Polk County Police") are never the same agency.
ROLE_WORDS = frozenset(
    {
        "sheriff", "police", "marshal", "marshals", "constable", "corrections", "jail",
        "detention", "highway", "patrol", "trooper", "troopers", "public", "safety",
        "attorney", "district", "court", "probation", "parole", "university", "college",
        "school", "port", "airport", "transit", "housing", "fire", "emergency",
    }
)  # fmt: skip
GENERIC_WORDS = frozenset(
    {"department", "office", "of", "the", "county", "city", "town", "village", "township"}
)


def name_core(key: str) -> str:
    """The distinctive part of a name key: what is left without role and generic words."""
    return " ".join(w for w in key.split() if w not in ROLE_WORDS and w not in GENERIC_WORDS)


def name_roles(key: str) -> frozenset[str]:
    """The role words of a name key (sheriff, police, corrections...)."""
    return frozenset(w for w in key.split() if w in ROLE_WORDS)


def display_name(name: object) -> str:
    """An agency name as shown: ICE's spelling, tidied (spaces, quotes)."""
    return clean_text(name)[:255]


# --- Counties ---------------------------------------------------------------

_COUNTY_SUFFIXES = (
    "county",
    "parish",
    "borough",
    "city",
    "census area",
    "municipality",
    "city and borough",
    "municipio",
)
_ERROR_VALUES = {"#n/a", "#value!", "#ref!", "#div/0!", "#num!", "#name?", "#null!", "n/a", "na"}


@lru_cache(maxsize=4096)
def is_error_value(value: object) -> bool:
    """Whether a cell holds an Excel error or the text "N/A"."""
    return clean_text(value).casefold() in _ERROR_VALUES


@cache
def _fips() -> addfips.AddFIPS:
    return addfips.AddFIPS()


@dataclass(frozen=True)
class County:
    """A county as read: display name, FIPS ("" if unmatched) and what it took."""

    name: str
    fips: str
    suffix_added: bool = False
    fuzzy: bool = False


@lru_cache(maxsize=4096)
def county(value: object, state: str) -> County | None:
    """The county named by ICE's COUNTY cell, with its 5-digit FIPS code if found.

    "Decatur" becomes "Decatur County" (or "Parish" in Louisiana, "Borough" in
    Alaska when that is the match); a misspelling close to one county of the
    state is matched to it.
    """
    text = clean_text(value)
    if not text or is_error_value(text):
        return None
    folded = text.casefold()
    suffix_added = False
    if not folded.endswith(_COUNTY_SUFFIXES):
        suffix = {"LA": "Parish", "AK": "Borough"}.get(state, "County")
        text, suffix_added = f"{text} {suffix}", True
    if not state:
        return County(text[:100], "", suffix_added)
    finder = _fips()
    try:
        code = finder.get_county_fips(text, state=state)
    except (KeyError, TypeError, AttributeError):
        return County(text[:100], "", suffix_added)
    if code:
        return County(text[:100], code, suffix_added)
    # Virginia's independent cities are often written "Portsmouth County".
    base = re.sub(r"\s+(county|parish|borough)$", "", text, flags=re.IGNORECASE)
    code = finder.get_county_fips(f"{base} city", state=state)
    if code:
        return County(f"{base} city"[:100], code, suffix_added, fuzzy=True)
    # "Saint Landry County" in Louisiana is St. Landry Parish.
    local = {"LA": "Parish", "AK": "Borough"}.get(state)
    if local and not text.casefold().endswith(local.casefold()):
        code = finder.get_county_fips(f"{base} {local}", state=state)
        if code:
            return County(f"{base} {local}"[:100], code, suffix_added, fuzzy=True)
    state_fips = finder.get_state_fips(state)
    counties = finder._counties.get(state_fips, {})
    for key, _score, _index in process.extract(
        text.casefold(), list(counties), scorer=fuzz.ratio, score_cutoff=COUNTY_CUTOFF, limit=5
    ):
        if fuzz.ratio(_county_base(text), _county_base(key)) >= COUNTY_NAME_CUTOFF:
            return County(text[:100], state_fips + counties[key], suffix_added, fuzzy=True)
    return County(text[:100], "", suffix_added)


def _county_base(name: str) -> str:
    """The county's own name, folded: "Lafayette County" gives "lafayette"."""
    return re.sub(r"\s+(county|parish|borough|city)$", "", name.casefold().strip())
