"""Which spellings are one agency: renames, near names, curators' rules, in any import order."""

from __future__ import annotations

import datetime as dt
import io

import pytest

from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    AgreementEvent,
    IdentityRule,
    ListSnapshot,
    PossibleRename,
)
from agreements.names import name_likeness
from agreements.services import snapshot_import
from agreements.services.identity import IdentityRuleError, identity_rule_set
from tests.agreements.ice_builder import row, workbook

D = dt.datetime
SIGNED = D(2025, 2, 26)


def _list(month: int, rows: list, links: dict | None = None) -> tuple[str, bytes]:
    name = f"participatingAgencies{month:02d}012025am.xlsx"
    return name, workbook(rows, links=links, modified=D(2025, month, 1, 14))


def _florida(agency: str, county: object = "Gulf County", **kw) -> list:
    kw.setdefault("signed", SIGNED)
    kw.setdefault("model", "Task Force Model")
    return row(state="FLORIDA", agency=agency, county=county, **kw)


def _other() -> list:
    return row(
        state="FLORIDA",
        agency="Baker County Sheriff's Office",
        county="Baker County",
        signed=SIGNED,
    )


def import_all(files: list[tuple[str, bytes]]) -> None:
    for name, data in files:
        snapshot_import(file=io.BytesIO(data), filename=name)


def kinds(agency_name: str) -> list[str]:
    events = AgreementEvent.objects.filter(agency__name=agency_name).order_by("occurred_at", "kind")
    return list(events.values_list("kind", flat=True))


@pytest.mark.parametrize(
    ("a", "b", "state", "likeness"),
    [
        ("Albemarle District Jail", "Albermarle District Jail", "NC", "same"),
        ("Gulf County Board of County Commissioners", "Gulf County BOCC", "FL", "same"),
        ("Alaska Department of Corrections", "Department of Corrections", "AK", "same"),
        ("Texas Office of the Attorney General", "Office of the Attorney General", "TX", "same"),
        ("Walker County Sheriff's Department", "Walker County Sheriff's Office", "TX", "same"),
        ("City of Miami Springs Police Department", "Miami Springs Police Department", "FL", "same"),
        ("Melbourne Police Department", "Melbourne Beach Police Department", "FL", "near"),
        ("University of Florida Police Department", "University of West Florida Police Department",
         "FL", "near"),
        ("Gulf County BOCC", "Gulf County Board of County Commissioners /Detention Facility", "FL",
         "near"),
        ("Pima County Sheriff's Office", "Pinal County Sheriff's Office", "AZ", "different"),
        ("Lee County Sheriff's Office", "Levy County Sheriff's Office", "FL", "different"),
    ],
)  # fmt: skip
def test_name_likeness_tells_spellings_from_other_agencies(a, b, state, likeness):
    from agreements.normalize import name_key

    assert name_likeness(name_key(a), name_key(b), state=state) == likeness
    assert name_likeness(name_key(b), name_key(a), state=state) == likeness


@pytest.mark.django_db
def test_rename_is_one_agency_with_a_renamed_event_not_an_ending():
    import_all([
        _list(3, [_florida("Gulf County Board of County Commissioners"), _other()]),
        _list(4, [_florida("Gulf County BOCC"), _other()]),
    ])  # fmt: skip
    agency = Agency.objects.get(state="FL", county_name="Gulf County")
    assert agency.name == "Gulf County BOCC"  # the latest list's spelling
    assert list(agency.aliases.values_list("name", flat=True)) == [
        "Gulf County Board of County Commissioners"
    ]
    (agreement,) = Agreement.objects.filter(agency=agency)
    assert agreement.status == Agreement.Status.ACTIVE
    assert kinds("Gulf County BOCC") == ["signed", "renamed"]
    renamed = AgreementEvent.objects.get(kind="renamed")
    assert (renamed.old_value, renamed.new_value) == (
        "Gulf County Board of County Commissioners",
        "Gulf County BOCC",
    )


@pytest.mark.django_db
def test_rename_gives_the_same_agencies_in_either_import_order():
    walker = {"state": "TEXAS", "county": "Walker County", "signed": SIGNED}
    polk = row(state="TEXAS", signed=SIGNED)
    files = [
        _list(3, [row(agency="Walker County Sheriff's Department", **walker), polk]),
        _list(4, [row(agency="Walker County Sheriff's Office", **walker), polk]),
        _list(5, [row(agency="Walker County Sheriff's Office", **walker), polk]),
    ]  # fmt: skip
    results = []
    for order in (files, [files[2], files[0], files[1]]):
        import_all(order)
        results.append(
            (
                sorted(Agency.objects.values_list("state", "name")),
                sorted(AgreementEvent.objects.values_list("kind", "snapshot__sha256")),
            )
        )
        ListSnapshot.objects.all().delete()
        Agreement.objects.all().delete()
        Agency.objects.all().delete()
    assert results[0] == results[1]
    assert results[0][0] == [
        ("TX", "Polk County Sheriff's Office"),
        ("TX", "Walker County Sheriff's Office"),
    ]
    assert [kind for kind, _ in results[0][1]] == ["renamed", "signed", "signed"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Melbourne Police Department", "Melbourne Beach Police Department"),
        ("University of Florida Police Department", "University of West Florida Police Department"),
    ],
)
def test_near_names_are_never_merged_alone_but_the_ending_is_a_question(old, new):
    import_all([
        _list(3, [_florida(old, county="Brevard County"), _other()]),
        _list(4, [_florida(new, county="Brevard County"), _other()]),
    ])  # fmt: skip
    assert set(
        Agency.objects.filter(county_name="Brevard County").values_list("name", flat=True)
    ) == {
        old,
        new,
    }
    assert kinds(old) == ["signed", "possible_rename"]  # "Name changed?", not "Ended"
    assert kinds(new) == ["signed"]
    possible = PossibleRename.objects.get()
    assert (possible.old_name, possible.new_name, possible.model) == (old, new, "TFM")
    # Both flagged for the admin's "needs review" filter.
    assert set(Agency.objects.filter(needs_review=True).values_list("name", flat=True)) == {
        old,
        new,
    }


@pytest.mark.django_db
def test_other_county_is_an_ending_and_a_new_agreement():
    arizona = {"state": "ARIZONA", "signed": SIGNED}
    yavapai = row(agency="Yavapai County Sheriff's Office", county="Yavapai County", **arizona)
    import_all([
        _list(3, [row(agency="Pima County Sheriff's Office", county="Pima County", **arizona), yavapai]),
        _list(4, [row(agency="Pinal County Sheriff's Office", county="Pinal County", **arizona), yavapai]),
    ])  # fmt: skip
    assert Agency.objects.count() == 3
    assert kinds("Pima County Sheriff's Office") == ["signed", "delisted"]
    assert not PossibleRename.objects.exists()


@pytest.mark.django_db
def test_names_listed_together_are_two_agencies_even_when_one_is_dropped_later():
    both = [_florida("Melbourne Police Department"), _florida("Melbourne Beach Police Department")]
    import_all([
        _list(3, both),
        _list(4, [_florida("Melbourne Beach Police Department")]),
        _list(5, [_florida("Melbourne Beach Police Department"), _florida("Melbourne PD")]),
    ])  # fmt: skip
    assert Agency.objects.count() == 2
    # "Melbourne PD" is the same spelling: back on the list, under its latest spelling.
    assert kinds("Melbourne PD") == ["signed", "delisted", "relisted"]


@pytest.mark.django_db
def test_curator_settles_a_possible_rename_and_the_rule_survives_reimport():
    files = [
        _list(3, [_florida("Melbourne Police Department", county="Brevard County"), _other()]),
        _list(
            4, [_florida("Melbourne Beach Police Department", county="Brevard County"), _other()]
        ),
    ]
    import_all(files)
    identity_rule_set(
        state="FL",
        name_a="Melbourne Beach Police Department",
        name_b="Melbourne Police Department",
        decision=IdentityRule.Decision.SAME,
    )
    assert not PossibleRename.objects.exists()
    agency = Agency.objects.get(county_name="Brevard County")
    assert agency.name == "Melbourne Beach Police Department"
    assert kinds(agency.name) == ["signed", "renamed"]
    # Every list imported again from scratch: the rule still decides.
    ListSnapshot.objects.all().delete()
    Agreement.objects.all().delete()
    Agency.objects.all().delete()
    import_all(list(reversed(files)))
    assert Agency.objects.filter(county_name="Brevard County").count() == 1
    assert kinds("Melbourne Beach Police Department") == ["signed", "renamed"]


@pytest.mark.django_db
def test_distinct_rule_splits_a_rename_into_an_ending_and_a_new_agency():
    import_all([
        _list(3, [_florida("Gulf County Board of County Commissioners"), _other()]),
        _list(4, [_florida("Gulf County BOCC"), _other()]),
    ])  # fmt: skip
    assert Agency.objects.filter(county_name="Gulf County").count() == 1
    identity_rule_set(
        state="FL",
        name_a="Gulf County BOCC",
        name_b="Gulf County Board of County Commissioners",
        decision=IdentityRule.Decision.DISTINCT,
    )
    assert set(Agency.objects.filter(county_name="Gulf County").values_list("name", flat=True)) == {
        "Gulf County BOCC",
        "Gulf County Board of County Commissioners",
    }
    assert kinds("Gulf County Board of County Commissioners") == ["signed", "delisted"]
    assert kinds("Gulf County BOCC") == ["signed"]
    assert not AgencyAlias.objects.exists()
    # Settled the other way again: one agency, renamed.
    identity_rule_set(
        state="FL",
        name_a="Gulf County BOCC",
        name_b="Gulf County Board of County Commissioners",
        decision=IdentityRule.Decision.SAME,
    )
    assert kinds("Gulf County BOCC") == ["signed", "renamed"]
    assert IdentityRule.objects.count() == 1


@pytest.mark.django_db
def test_rule_on_one_spelling_is_refused_with_a_sentence():
    with pytest.raises(IdentityRuleError, match="same spelling"):
        identity_rule_set(
            state="FL",
            name_a="Polk County Sheriff's Office",
            name_b="POLK COUNTY SHERIFFS OFFICE",
            decision="same",
        )
    assert not IdentityRule.objects.exists()


@pytest.mark.django_db
def test_same_moa_file_joins_a_name_with_words_added():
    moa = "https://www.ice.gov/doclib/287gMOA/gulf.pdf"
    import_all([
        _list(3, [_florida("Gulf County BOCC", moa="link"), _other()], links={(0, "MOA"): moa}),
        _list(4, [_florida("Gulf County Board of County Commissioners /Detention Facility",
                           moa="link"), _other()], links={(0, "MOA"): moa}),
    ])  # fmt: skip
    assert Agency.objects.filter(county_name="Gulf County").count() == 1
    assert "renamed" in kinds("Gulf County Board of County Commissioners /Detention Facility")


@pytest.mark.django_db
def test_spellings_of_one_county_listed_with_two_models_are_one_agency_in_any_order():
    """The archive's Walker County: "Sheriff's Department" holds the JEM agreement while
    "Sheriff's Office" holds the WSO one, in the same lists."""
    walker = {"state": "TEXAS", "county": "Walker County"}
    files = [
        _list(3, [row(agency="Walker County Sheriff's Department", signed=D(2020, 6, 9), **walker)]),
        _list(4, [row(agency="Walker County Sheriff's Department", signed=D(2020, 6, 9), **walker),
                  row(agency="Walker County Sheriff's Office", model="Warrant Service Officer",
                      signed=D(2025, 4, 2), **walker)]),
    ]  # fmt: skip
    for order in (files, list(reversed(files))):
        import_all(order)
        (agency,) = Agency.objects.all()
        assert agency.name == "Walker County Sheriff's Department"  # first row of the latest list
        assert sorted(agency.agreements.values_list("model", flat=True)) == ["JEM", "WSO"]
        ListSnapshot.objects.all().delete()
        Agreement.objects.all().delete()
        Agency.objects.all().delete()


@pytest.mark.django_db
def test_list_imported_later_that_names_both_spellings_splits_a_rename_again():
    """January and March read as a rename; February, imported last, lists both names."""
    before = {"county": "Albemarle County", "signed": D(2024, 12, 2)}
    old = _florida("Albemarle District Jail", **before)
    new = _florida("Albermarle District Jail", **before)
    other = _florida("Baker County Sheriff's Office", county="Baker County", signed=D(2024, 12, 2))
    files = [_list(1, [old, other]), _list(3, [new, other]), _list(2, [old, new, other])]
    import_all(files[:2])
    assert Agency.objects.count() == 2
    import_all(files[2:])
    split = (
        sorted(Agency.objects.values_list("name", flat=True)),
        sorted(AgreementEvent.objects.values_list("agency__name", "kind")),
    )
    assert split[0] == [
        "Albemarle District Jail",
        "Albermarle District Jail",
        "Baker County Sheriff's Office",
    ]
    assert not AgencyAlias.objects.exists()
    ListSnapshot.objects.all().delete()
    Agreement.objects.all().delete()
    Agency.objects.all().delete()
    import_all(sorted(files))
    assert (
        sorted(Agency.objects.values_list("name", flat=True)),
        sorted(AgreementEvent.objects.values_list("agency__name", "kind")),
    ) == split
    assert ("Albemarle District Jail", "delisted") in split[1]


@pytest.mark.django_db
def test_spelling_listed_in_a_county_its_like_spelling_once_had_is_one_agency_in_any_order():
    """The Office moved from Walker County to Harris County before the Department was listed
    in Walker County: every county a spelling was listed in counts, not only the latest."""
    office = {
        "state": "TEXAS",
        "agency": "Walker County Sheriff's Office",
        "model": "Warrant Service Officer",
        "signed": D(2025, 2, 2),
    }
    department = row(
        state="TEXAS",
        agency="Walker County Sheriff's Department",
        county="Walker County",
        signed=D(2020, 6, 9),
    )
    files = [
        _list(3, [row(county="Walker County", **office)]),
        _list(4, [row(county="Harris County", **office)]),
        _list(5, [row(county="Harris County", **office), department]),
    ]
    for order in (files, list(reversed(files))):
        import_all(order)
        (agency,) = Agency.objects.all()
        assert sorted(agency.agreements.values_list("model", flat=True)) == ["JEM", "WSO"]
        ListSnapshot.objects.all().delete()
        Agreement.objects.all().delete()
        Agency.objects.all().delete()


@pytest.mark.django_db
def test_same_rule_given_before_a_spelling_is_listed_joins_it_once_listed():
    identity_rule_set(
        state="TX",
        name_a="Polk County Sheriff's Office",
        name_b="Polk County Jail",
        decision=IdentityRule.Decision.SAME,
    )
    jail = row(agency="Polk County Jail", model="Warrant Service Officer", signed=D(2025, 4, 2))
    import_all([_list(3, [row()]), _list(4, [row(), jail])])
    (agency,) = Agency.objects.all()
    assert agency.name == "Polk County Sheriff's Office"  # the first row of the latest list
    assert sorted(agency.agreements.values_list("model", flat=True)) == ["JEM", "WSO"]


@pytest.mark.django_db
def test_each_newest_list_leaves_the_grouping_a_full_regrouping_gives():
    """Skipping the regrouping of a state is only right when regrouping would change nothing."""
    from agreements.services.identity import identity_recompute

    walker = {"state": "TEXAS", "county": "Walker County"}
    lists = [
        [_florida("Gulf County Board of County Commissioners"), _other(),
         row(agency="Walker County Sheriff's Office", model="Warrant Service Officer", **walker)],
        [_florida("Gulf County BOCC"), _other(),
         row(agency="Walker County Sheriff's Office", model="Warrant Service Officer", **walker),
         row(agency="Walker County Sheriff's Department", signed=D(2020, 6, 9), **walker)],
        [_florida("Gulf County BOCC"), _florida("Melbourne Police Department", county="Brevard County"),
         row(agency="Walker County Sheriff's Department", signed=D(2020, 6, 9), **walker)],
        [_florida("Gulf County BOCC"), _other(),
         _florida("Melbourne Beach Police Department", county="Brevard County"),
         row(agency="Walker County Sheriff's Office", model="Warrant Service Officer", **walker)],
    ]  # fmt: skip
    for month, rows in enumerate(lists, start=3):
        import_all([_list(month, rows)])
        change = identity_recompute(states={"FL", "TX"})
        assert (change.agencies, change.moved) == (set(), {})
    walker = Agency.objects.get(state="TX")
    assert walker.name == "Walker County Sheriff's Office"  # the latest list's spelling
    assert list(walker.aliases.values_list("name", flat=True)) == [
        "Walker County Sheriff's Department"
    ]
