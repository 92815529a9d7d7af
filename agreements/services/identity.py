"""Which spellings in ICE's lists are one agency: decided by evidence, never by import order.

An imported row is first resolved by its exact name key (or an alias); an
unknown spelling becomes a new agency. Then, for every state the file touches,
the grouping of all spellings ever listed in that state is recomputed from all
applied rows (``identity_recompute``), and agencies are merged or split to
match it. The evidence, applied in this order:

1. a curator's ``IdentityRule`` (same or distinct), which always wins;
2. two spellings listed in the same participating list with the same model are
   two agencies (unless a rule says otherwise);
3. a rename: one participating list drops (spelling A, model, signing date) and
   the next adds (spelling B, same model, same date) in the same state. With a
   similar name (typo, acronym, state name or "City of" dropped, Sheriff's
   Department/Office) or the same MOA file, and no county against it, A and B
   are one agency. Weaker evidence is recorded as a ``PossibleRename`` that a
   curator settles; it is never merged alone;
4. two spellings that differ only by a typo or Sheriff's Department/Office,
   seen in the same county, are one agency (e.g. one spelling per model).

Everything here is a function of the rows and rules, so any import order gives
the same agencies; the display name is the latest list's spelling.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils.text import slugify

from agreements import ice_sheet, names, normalize
from agreements.models import (
    Agency,
    AgencyAlias,
    Agreement,
    IdentityRule,
    ListSnapshot,
    PossibleRename,
    SnapshotRow,
)

PARTICIPATING = ListSnapshot.Kind.PARTICIPATING


# --- Resolving the rows of a file -------------------------------------------


class AgencyResolver:
    """Finds the agency of each row by its exact name key or an alias; new spellings get new agencies.

    No similarity match is made here: it would depend on which spellings
    happen to exist, i.e. on import order. ``identity_recompute`` decides.
    """

    def __init__(self, states: set[str]) -> None:
        self.keys: dict[tuple[str, str], int] = {}
        self.created_ids: set[int] = set()
        for pk, state, key in Agency.objects.filter(state__in=states).values_list(
            "id", "state", "name_key"
        ):
            self.keys[(state, key)] = pk
        for state, key, agency_id in AgencyAlias.objects.filter(state__in=states).values_list(
            "state", "name_key", "agency_id"
        ):
            self.keys.setdefault((state, key), agency_id)

    def all_unknown(self, rows: list[ice_sheet.SheetRow]) -> bool:
        """Whether the rows name agencies and not one of them is known."""
        pairs = {(row.state, row.name_key) for row in rows if row.state and row.name_key}
        return bool(pairs) and not any(pair in self.keys for pair in pairs)

    def resolve(
        self, rows: list[ice_sheet.SheetRow], warnings: list, *, create: bool = True
    ) -> dict[int, int]:
        """Row number -> agency id, creating agencies for spellings never seen.

        With ``create=False`` (a held list) a new spelling is left without an
        agency: a list no one has applied must not add agencies to the portal.
        """
        new: dict[tuple[str, str], Agency] = {}
        for row in rows:
            pair = (row.state, row.name_key)
            if create and row.state and row.name_key and pair not in self.keys and pair not in new:
                new[pair] = Agency(
                    name=row.agency_name,
                    state=row.state,
                    name_key=row.name_key,
                    kind=row.agency_kind or "other",
                    agency_type=row.agency_type,
                    county_name=row.county,
                    county_fips=row.county_fips,
                )
        if new:
            agencies = [new[pair] for pair in sorted(new)]
            assign_slugs(agencies)
            Agency.objects.bulk_create(agencies, batch_size=500)
            self.created_ids = {agency.pk for agency in agencies}
            self.keys.update({pair: agency.pk for pair, agency in new.items()})
        return {
            row.number: self.keys[(row.state, row.name_key)]
            for row in rows
            if (row.state, row.name_key) in self.keys
        }


def assign_slugs(agencies: list[Agency]) -> None:
    bases = [slugify(f"{a.name} {a.state}")[:240] or f"agency-{a.state.lower()}" for a in agencies]
    taken = set(Agency.objects.filter(slug__in=set(bases)).values_list("slug", flat=True))
    for agency, base in zip(agencies, bases, strict=True):
        slug, n = base, 2
        if slug in taken:
            # Twins of this name exist: ask the database once for all of them.
            taken |= set(
                Agency.objects.filter(slug__startswith=base).values_list("slug", flat=True)
            )
        while slug in taken:
            slug, n = f"{base}-{n}", n + 1
        taken.add(slug)
        agency.slug = slug


# --- The grouping of spellings ------------------------------------------------


@dataclass
class _Entry:
    """A spelling as the lists show it (one state)."""

    key: str
    agency_id: int | None
    latest: tuple = ()  # (published_at, sha256, -row) of its latest row
    name: str = ""
    counties: set[str] = field(default_factory=set)


@dataclass
class IdentityChange:
    """What a recompute changed: agencies to rebuild, and the agency each key now belongs to."""

    agencies: set[int] = field(default_factory=set)
    moved: dict[int, int] = field(default_factory=dict)  # deleted agency -> the one it joined
    owner: dict[tuple[str, str], int] = field(default_factory=dict)  # (state, key) -> agency
    needs_review: int = 0  # agencies in a possible rename, for a curator


class _Clusters:
    """Union-find over keys that never joins two keys a rule or a shared list keeps apart."""

    def __init__(
        self, keys: list[str], rules: dict[frozenset[str], str], listed: dict[str, set]
    ) -> None:
        self.parent = {k: k for k in keys}
        self.members = {k: {k} for k in keys}
        self.rules = rules
        self.listed = listed  # key -> the (list, model) pairs that list it

    def apart(self, a: str, b: str) -> bool:
        """Whether a rule, or a list naming both with the same model, says two agencies."""
        decision = self.rules.get(frozenset((a, b)))
        if decision is not None:
            return decision == IdentityRule.Decision.DISTINCT
        return not self.listed[a].isdisjoint(self.listed[b])

    def find(self, key: str) -> str:
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if any(self.apart(x, y) for x in self.members[ra] for y in self.members[rb]):
            return False
        ra, rb = min(ra, rb), max(ra, rb)
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)
        return True


def identity_recompute(
    *, states: set[str], new_rows: list | None = None, snapshot: ListSnapshot | None = None
) -> IdentityChange:
    """Regroup the spellings of these states from all evidence; merge and split agencies to match.

    ``new_rows`` are the unsaved rows of ``snapshot``, the file being imported
    (saved itself); their ``agency_id`` is updated when their agency is merged.
    """
    change = IdentityChange()
    new_rows = new_rows or []
    snapshots = {
        pk: (kind, published, sha)
        for pk, kind, published, sha in ListSnapshot.objects.applied().values_list(
            "id", "kind", "published_at", "sha256"
        )
    }
    if snapshot is not None and snapshot.pk in snapshots:
        states, spelled = _states_with_news(states, snapshot, new_rows, snapshots)
        for state, names_now in sorted(spelled.items()):
            _rename_only(state, names_now, change)
        if not states:
            return change
    # A row is (snapshot, row number, payload): the payload (name, model, date,
    # county, MOA, agency) is one shared tuple for every list that repeats it.
    rows_by_state: dict[str, list[tuple]] = defaultdict(list)
    payloads: dict[tuple, tuple] = {}
    saved = SnapshotRow.objects.filter(state__in=states, agency__isnull=False).values_list(
        "state", "snapshot_id", "row_number", "agency_name", "model", "signed_on",
        "county_fips", "moa_url", "agency_id",
    )  # fmt: skip
    days: dict = {None: None}
    for state, snapshot_id, number, name, model, signed_on, fips, moa, agency_id in _plain(saved):
        if snapshot_id in snapshots:
            if signed_on not in days:
                days[signed_on] = _day(signed_on)
            payload = (name, model, days[signed_on], fips, moa, agency_id)
            payload = payloads.setdefault(payload, payload)
            rows_by_state[state].append((snapshot_id, number, payload))
    for row in new_rows:
        if row.agency_id and row.state in states and row.snapshot_id in snapshots:
            payload = (row.agency_name, row.model, row.signed_on, row.county_fips, row.moa_url,
                       row.agency_id)  # fmt: skip
            payload = payloads.setdefault(payload, payload)
            rows_by_state[row.state].append((row.snapshot_id, row.row_number, payload))
    del payloads
    rules = _rules(states)
    wanted_possible: list[PossibleRename] = []
    for state in sorted(states):
        _recompute_state(
            state, rows_by_state.get(state, []), snapshots, rules.get(state, {}), change,
            wanted_possible,
        )  # fmt: skip
    touched, change.needs_review = _sync_possible(states, wanted_possible)
    change.agencies |= touched
    for row in new_rows:
        if row.agency_id:
            key = (row.state, normalize.name_key(row.agency_name))
            row.agency_id = change.owner.get(key, row.agency_id)
    return change


def _plain(query) -> Iterator[tuple]:
    """The rows of a ``values_list`` as the database gives them, in chunks.

    Tens of thousands of rows are read at every import: Django's per-value
    converters would cost more than the regrouping itself.
    """
    sql, params = query.query.sql_with_params()
    # A server-side cursor on PostgreSQL, so the whole result is never held at once.
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(5000):
            yield from chunk


def _day(value) -> dt.date | None:
    """A date column's value as a date (SQLite gives its text)."""
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(value)


def _states_with_news(
    states: set[str], snapshot: ListSnapshot, new_rows: list, snapshots: dict
) -> tuple[set[str], dict[str, dict[int, tuple]]]:
    """The states whose grouping the newest list may change; all of them for an older list.

    Also, for the other states, the agencies the list names by another of their
    spellings: (name, key) before -> the list's spelling, for ``_rename_only``.

    Appended at the end of the history, a list can only change a state's
    grouping through its own rows: a spelling never seen, a spelling that
    becomes an agency's name, two spellings of one agency listed with one
    model, or a pair of spellings the regrouping would try to join (a rename
    from the list before, or a name spelled like another agency's) that no
    rule and no list keeps apart. Anything else leaves the grouping as the
    last recompute left it.
    """
    order = sorted(snapshots, key=lambda pk: snapshots[pk][1:])
    if order[-1] != snapshot.pk:
        return states, {}
    by_state: dict[str, list] = defaultdict(list)
    for row in new_rows:
        if row.agency_id and row.state in states:
            by_state[row.state].append(row)
    agencies = {
        pk: (name, key)
        for pk, name, key in Agency.objects.filter(state__in=states).values_list(
            "id", "name", "name_key"
        )
    }
    known: dict[str, dict[str, int]] = defaultdict(dict)
    for state, key, agency_id in Agency.objects.filter(state__in=states).values_list(
        "state", "name_key", "id"
    ):
        known[state][key] = agency_id
    for state, key, agency_id in AgencyAlias.objects.filter(state__in=states).values_list(
        "state", "name_key", "agency_id"
    ):
        known[state].setdefault(key, agency_id)
    previous = None
    if snapshot.kind == PARTICIPATING:
        earlier = [pk for pk in order[:-1] if snapshots[pk][0] == PARTICIPATING]
        previous = earlier[-1] if earlier else None
    listed_before: dict[str, list] = defaultdict(list)
    if previous is not None:
        for state, name, model, signed_on, fips, moa in SnapshotRow.objects.filter(
            snapshot_id=previous, state__in=states, agency__isnull=False
        ).values_list("state", "agency_name", "model", "signed_on", "county_fips", "moa_url"):
            key = normalize.name_key(name)
            if key and model:
                listed_before[state].append((key, model, _day(signed_on), fips, moa))
    rules = _rules(set(by_state))
    news, spelled = set(), {}
    for state, rows in by_state.items():
        news_state = _News(state, known[state], rules.get(state, {}), snapshot, snapshots)
        if news_state.found(rows, agencies, listed_before[state], previous is not None):
            news.add(state)
        elif news_state.spelled:
            spelled[state] = {pk: (agencies[pk], name) for pk, name in news_state.spelled.items()}
    return news, spelled


class _News:
    """Whether the newest list's rows of one state can change the state's grouping."""

    def __init__(
        self, state: str, known: dict[str, int], rules: dict, snapshot: ListSnapshot,
        snapshots: dict,
    ) -> None:  # fmt: skip
        self.state = state
        self.known = known
        self.rules = rules
        self.snapshot = snapshot
        self.snapshots = snapshots
        self.spelled: dict[int, str] = {}  # agency -> its new name, when nothing else is news

    def found(
        self, rows: list, agencies: dict[int, tuple[str, str]], before: list, has_previous: bool
    ) -> bool:
        participating = self.snapshot.kind == PARTICIPATING
        first_name: dict[int, str] = {}
        listed: dict[tuple[int, str], str] = {}
        now = []
        for row in sorted(rows, key=lambda r: r.row_number):
            key = normalize.name_key(row.agency_name)
            if self.known.get(key) != row.agency_id:
                return True  # a spelling never seen
            first_name.setdefault(row.agency_id, row.agency_name)
            if participating and row.model:
                if listed.setdefault((row.agency_id, row.model), key) != key:
                    return True  # two spellings of one agency, one model
                now.append((key, row.model, row.signed_on, row.county_fips, row.moa_url))
        if self._joined_by_rule({normalize.name_key(row.agency_name) for row in rows}):
            return True
        # The agency's name becomes this list's spelling: if nothing else is
        # news, only the names change.
        self.spelled = {pk: name for pk, name in first_name.items() if agencies[pk][0] != name}
        if participating and now and has_previous and not before:
            # The regrouping compares this list with the last one listing the
            # state, which is not the previous list: leave it to the regrouping.
            return True
        renames = self._rename_pairs(before, now) if participating else set()
        alike = self._alike_pairs(rows)
        if not renames and not alike:
            return False
        keys = {key for pair in renames | set(alike) for key in pair}
        seen, counties = self._evidence(keys, rows)
        listed_now: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            listed_now[normalize.name_key(row.agency_name)].add(row.county_fips)
        for (key, other), fips in alike.items():
            theirs = counties[other] | listed_now[other]
            if any(f not in counties[key] and f in theirs for f in fips):
                renames.add((key, other))  # a county in common for the first time
        return any(not self._apart(a, b, seen) for a, b in renames)

    def _joined_by_rule(self, keys: set[str]) -> bool:
        """Whether a curator's "same" rule names a spelling of this list and another agency's."""
        for pair, decision in self.rules.items():
            if decision == IdentityRule.Decision.SAME and not pair.isdisjoint(keys):
                owners = {self.known.get(key) for key in pair}
                if None not in owners and len(owners) == 2:
                    return True
        return False

    def _rename_pairs(self, before: list, now: list) -> set[tuple[str, str]]:
        """The spellings ``_renames`` would weigh as a rename between the previous list and this one."""
        keys_before = {(key, model) for key, model, *_ in before}
        keys_now = {(key, model) for key, model, *_ in now}
        dropped, added = defaultdict(set), defaultdict(set)
        for key, model, signed_on, fips, moa in before:
            if (key, model) not in keys_now and signed_on:
                dropped[(model, signed_on)].add((key, fips, moa))
        for key, model, signed_on, fips, moa in now:
            if (key, model) not in keys_before and signed_on:
                added[(model, signed_on)].add((key, fips, moa))
        pairs = set()
        for slot in dropped.keys() & added.keys():
            for old_key, old_fips, _ in dropped[slot]:
                for new_key, new_fips, _ in added[slot]:
                    if frozenset((old_key, new_key)) in self.rules:
                        continue  # a curator decided
                    if self.known.get(old_key) == self.known.get(new_key):
                        continue  # one agency already
                    if old_fips and new_fips and old_fips != new_fips:
                        continue  # another county: never joined
                    pairs.add((old_key, new_key))
        return pairs

    def _alike_pairs(self, rows: list) -> dict[tuple[str, str], set[str]]:
        """(row's spelling, spelling ``_spellings`` may join it to) -> the counties the rows give it."""
        state = self.state
        by_initials: dict[tuple, list[str]] = defaultdict(list)
        for key in self.known:
            by_initials[names.initials(key, state)].append(key)
        pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
        for row in rows:
            if not row.county_fips:
                continue
            key = normalize.name_key(row.agency_name)
            for other in by_initials[names.initials(key, state)]:
                if (
                    self.known[other] != row.agency_id
                    and names.likeness(*sorted((key, other)), state) == "same"
                ):
                    pairs[(key, other)].add(row.county_fips)
        return pairs

    def _evidence(
        self, keys: set[str], rows: list
    ) -> tuple[dict[str, set[tuple[int, str]]], dict[str, set[str]]]:
        """Per spelling: the (list, model) pairs that list it, this list included, and the
        counties of the lists before.

        Read from the rows of the agencies owning the spellings: a regrouping
        leaves every row of a spelling with the agency that owns it.
        """
        participating = {pk for pk, (kind, *_) in self.snapshots.items() if kind == PARTICIPATING}
        seen: dict[str, set[tuple[int, str]]] = defaultdict(set)
        counties: dict[str, set[str]] = defaultdict(set)
        owners = {self.known[key] for key in keys if key in self.known}
        found = SnapshotRow.objects.filter(state=self.state, agency_id__in=owners).exclude(
            snapshot_id=self.snapshot.pk
        )
        for snapshot_id, name, model, fips in found.values_list(
            "snapshot_id", "agency_name", "model", "county_fips"
        ):
            key = normalize.name_key(name)
            if key not in keys or snapshot_id not in self.snapshots:
                continue
            if fips:
                counties[key].add(fips)
            if model and snapshot_id in participating:
                seen[key].add((snapshot_id, model))
        for row in rows:
            key = normalize.name_key(row.agency_name)
            if row.model and key in keys and self.snapshot.kind == PARTICIPATING:
                seen[key].add((self.snapshot.pk, row.model))
        return seen, counties

    def _apart(self, a: str, b: str, seen: dict[str, set]) -> bool:
        """As ``_Clusters.apart``: a rule, or a list naming both with one model."""
        decision = self.rules.get(frozenset((a, b)))
        if decision is not None:
            return decision == IdentityRule.Decision.DISTINCT
        return not seen[a].isdisjoint(seen[b])


def _rename_only(state: str, names_now: dict[int, tuple], change: IdentityChange) -> None:
    """Name agencies after the newest list's spelling when their grouping stays as it was.

    What the regrouping's ``_name_all`` would do: the spelling becomes the
    agency's name and its former name an alias.
    """
    groups = []
    for agency_id, ((name, key), spelling) in sorted(names_now.items()):
        former = _Entry(key=key, agency_id=agency_id, latest=(0,), name=name)
        latest = _Entry(
            key=normalize.name_key(spelling), agency_id=agency_id, latest=(1,), name=spelling
        )
        groups.append([former, latest] if latest.key != key else [latest])
    _name_all(state, groups, change)


def _rules(states: set[str]) -> dict[str, dict[frozenset[str], str]]:
    rules: dict[str, dict[frozenset[str], str]] = defaultdict(dict)
    for state, a, b, decision in IdentityRule.objects.filter(state__in=states).values_list(
        "state", "key_a", "key_b", "decision"
    ):
        rules[state][frozenset((a, b))] = decision
    return rules


def _recompute_state(
    state: str,
    rows: list[tuple],
    snapshots: dict,
    rules: dict[frozenset[str], str],
    change: IdentityChange,
    wanted_possible: list,
) -> None:
    entries: dict[str, _Entry] = {}
    # (snapshot) -> (key, model) -> rows' (date, county, moa)
    listed: dict[int, dict[tuple[str, str], list[tuple]]] = defaultdict(lambda: defaultdict(list))
    # What a payload gives, worked out once: its entry, its (key, model) if listed, its values.
    read: dict[tuple, tuple] = {}
    for snapshot_id, number, payload in rows:
        known = read.get(payload)
        if known is None:
            name, model, signed_on, fips, moa, agency_id = payload
            key = normalize.name_key(name)
            if not key:
                read[payload] = known = (None, None, None)
            else:
                entry = entries.setdefault(key, _Entry(key=key, agency_id=agency_id))
                if fips:
                    entry.counties.add(fips)
                slot = (key, model) if model else None
                read[payload] = known = (entry, slot, (signed_on, fips, moa))
        entry, slot, values = known
        if entry is None:
            continue
        kind, published, sha = snapshots[snapshot_id]
        order = (published, sha, -number)
        if order > entry.latest:
            entry.latest, entry.name, entry.agency_id = order, payload[0], payload[5]
        if kind == PARTICIPATING and slot is not None:
            listed[snapshot_id][slot].append(values)
    if not entries:
        return
    seen_in: dict[str, set] = defaultdict(set)
    for snapshot_id, by_key in listed.items():
        for key, model in by_key:
            seen_in[key].add((snapshot_id, model))
    clusters = _Clusters(sorted(entries), rules, seen_in)
    for pair, decision in sorted(rules.items(), key=lambda item: sorted(item[0])):
        a, b = sorted(pair)
        if decision == IdentityRule.Decision.SAME and a in entries and b in entries:
            clusters.join(a, b)
    for alias_key, agency_key in _curator_aliases(state, entries):
        clusters.join(alias_key, agency_key)
    _spellings(state, entries, clusters)
    order = sorted(listed, key=lambda pk: snapshots[pk][1:])
    possible: list[PossibleRename] = []
    for before, after in zip(order, order[1:], strict=False):
        _renames(state, listed[before], listed[after], before, after, entries, rules, clusters,
                 possible)  # fmt: skip
    # A later rename may have joined a pair an earlier list only suggested.
    wanted_possible += [p for p in possible if clusters.find(p.old_key) != clusters.find(p.new_key)]
    groups: dict[str, list[_Entry]] = defaultdict(list)
    for key, entry in entries.items():
        groups[clusters.find(key)].append(entry)
    _apply(state, list(groups.values()), change)


def _spellings(state: str, entries: dict[str, _Entry], clusters: _Clusters) -> None:
    """Join names that differ only by spelling and share a county (never listed together).

    Only names with the same initials are compared (a typo keeps them), so
    the cost stays linear in the number of names.
    """
    by_initials: dict[tuple, list[str]] = defaultdict(list)
    for key in sorted(entries):
        if entries[key].counties:
            by_initials[names.initials(key, state)].append(key)
    for keys in by_initials.values():
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                if (
                    entries[a].counties & entries[b].counties
                    and names.likeness(a, b, state) == "same"
                ):
                    clusters.join(a, b)


def _curator_aliases(state: str, entries: dict[str, _Entry]) -> list[tuple[str, str]]:
    """Keys a curator tied together (an alias added by hand, or a merge in the admin)."""
    pairs = []
    curated = AgencyAlias.objects.filter(
        state=state, source__in=[AgencyAlias.Source.CURATOR, AgencyAlias.Source.MERGE]
    ).values_list("name_key", "agency__name_key")
    for alias_key, agency_key in curated:
        if alias_key in entries and agency_key in entries:
            pairs.append((alias_key, agency_key))
    return pairs


def _renames(
    state: str,
    before: dict[tuple[str, str], list[tuple]],
    after: dict[tuple[str, str], list[tuple]],
    before_id: int,
    after_id: int,
    entries: dict[str, _Entry],
    rules: dict,
    clusters: _Clusters,
    wanted_possible: list,
) -> None:
    """Join the spellings one list dropped and the next added with the same model and date."""
    dropped = defaultdict(list)
    added = defaultdict(list)
    for (key, model), values in before.items():
        if (key, model) not in after:
            for signed_on, fips, moa in values:
                if signed_on:
                    dropped[(model, signed_on)].append((key, fips, moa))
    for (key, model), values in after.items():
        if (key, model) not in before:
            for signed_on, fips, moa in values:
                if signed_on:
                    added[(model, signed_on)].append((key, fips, moa))
    for slot in sorted(set(dropped) & set(added)):
        olds, news = sorted(set(dropped[slot])), sorted(set(added[slot]))
        weak = []
        for old_key, old_fips, old_moa in olds:
            for new_key, new_fips, new_moa in news:
                pair = frozenset((old_key, new_key))
                if pair in rules or clusters.find(old_key) == clusters.find(new_key):
                    continue
                if old_fips and new_fips and old_fips != new_fips:
                    continue  # another county: another agency
                likeness = names.name_likeness(old_key, new_key, state=state)
                same_moa = bool(old_moa) and old_moa == new_moa
                strong = likeness == "same" or (same_moa and likeness == "near")
                if not (strong and clusters.join(old_key, new_key)):
                    weak.append((old_key, new_key))
        if len(olds) == 1 and len(news) == 1 and weak:
            (old_key, new_key), (model, signed_on) = weak[0], slot
            if clusters.apart(old_key, new_key):
                continue  # listed together somewhere: two agencies
            wanted_possible.append(
                PossibleRename(
                    state=state,
                    old_key=old_key,
                    old_name=entries[old_key].name,
                    new_key=new_key,
                    new_name=entries[new_key].name,
                    model=model,
                    signed_on=signed_on,
                    snapshot_id=after_id,
                    previous_snapshot_id=before_id,
                )
            )


def _apply(state: str, groups: list[list[_Entry]], change: IdentityChange) -> None:
    """Make agencies match the groups: split an agency holding two groups, merge one group's agencies."""
    for group in groups:
        group.sort(key=lambda e: e.latest)
    holders: dict[int, list[list[_Entry]]] = defaultdict(list)
    for group in groups:
        for agency_id in {e.agency_id for e in group}:
            holders[agency_id].append(group)
    for agency_id, held in sorted(holders.items()):
        for group in sorted(held, key=lambda g: g[-1].latest)[:-1]:
            # This agency holds spellings of two agencies: the older group leaves it.
            _split_off(agency_id, group, change)
    for group in groups:
        agency_ids = sorted({e.agency_id for e in group})
        if len(agency_ids) > 1:
            _merge_into(agency_ids[0], agency_ids[1:], change)
            for entry in group:
                entry.agency_id = agency_ids[0]
    _name_all(state, groups, change)


def _split_off(agency_id: int, group: list[_Entry], change: IdentityChange) -> None:
    """Move the rows of this group's spellings from the agency to a new one."""
    keys = {e.key for e in group if e.agency_id == agency_id}
    latest = group[-1]
    source = Agency.objects.get(pk=agency_id)
    agency = Agency(
        name=latest.name, state=source.state, name_key=f"~split {agency_id} {latest.key}"[:255],
        kind=source.kind,
    )  # fmt: skip
    assign_slugs([agency])
    agency.save()
    moving = [
        pk
        for pk, name in SnapshotRow.objects.filter(agency_id=agency_id).values_list(
            "id", "agency_name"
        )
        if normalize.name_key(name) in keys
    ]
    for start in range(0, len(moving), 900):
        SnapshotRow.objects.filter(pk__in=moving[start : start + 900]).update(
            agency=agency, agreement=None
        )
    AgencyAlias.objects.filter(agency_id=agency_id, name_key__in=keys).delete()
    for entry in group:
        if entry.agency_id == agency_id:  # spellings held by other agencies are merged next
            entry.agency_id = agency.pk
    change.agencies |= {agency_id, agency.pk}


def _merge_into(survivor_id: int, others: list[int], change: IdentityChange) -> None:
    from agreements.services.agencies import agency_merge

    empty = set(
        Agency.objects.filter(
            pk__in=others, snapshot_rows__isnull=True, agreements__isnull=True
        ).values_list("pk", flat=True)
    )
    if empty:
        # Created for a spelling of the file being imported: nothing of theirs to move.
        Agency.objects.filter(pk__in=empty).delete()
    rest = [pk for pk in others if pk not in empty]
    if rest:
        agency_merge(
            survivor=Agency.objects.get(pk=survivor_id),
            others=list(Agency.objects.filter(pk__in=rest)),
            as_rule=False,
        )
    change.moved.update(dict.fromkeys(others, survivor_id))
    change.moved = {k: change.moved.get(v, v) for k, v in change.moved.items()}
    change.agencies.add(survivor_id)
    change.agencies -= set(others)


def _name_all(state: str, groups: list[list[_Entry]], change: IdentityChange) -> None:
    """Each agency's name is its latest spelling; every other spelling is an alias."""
    agencies = {
        pk: (name, key)
        for pk, name, key in Agency.objects.filter(state=state).values_list(
            "id", "name", "name_key"
        )
    }
    aliases = {
        key: (agency_id, source)
        for key, agency_id, source in AgencyAlias.objects.filter(state=state).values_list(
            "name_key", "agency_id", "source"
        )
    }
    owner = {e.key: group[0].agency_id for group in groups for e in group}
    change.owner.update({(state, key): agency_id for key, agency_id in owner.items()})
    renamed = []
    for group in groups:
        agency_id, latest = group[0].agency_id, group[-1]
        if agencies.get(agency_id) != (latest.name, latest.key):
            renamed.append((agency_id, latest))
    if renamed:
        # Keys may move between agencies: park them first so no two ever clash.
        targets = [latest.key for _, latest in renamed]
        holders = Agency.objects.filter(state=state, name_key__in=targets)
        for agency_id in {pk for pk, _ in renamed} | set(holders.values_list("pk", flat=True)):
            Agency.objects.filter(pk=agency_id).update(name_key=f"~{agency_id}")
        for agency_id, latest in renamed:
            Agency.objects.filter(pk=agency_id).update(name=latest.name, name_key=latest.key)
            change.agencies.add(agency_id)
    latest_key = {group[0].agency_id: group[-1].key for group in groups}
    stale, moved, new = [], defaultdict(list), []
    for key, (agency_id, source) in aliases.items():
        if key not in owner:
            continue  # a curator's alias for a spelling no list has
        if key == latest_key.get(owner[key]) and source == AgencyAlias.Source.ICE:
            stale.append(key)
        elif agency_id != owner[key]:
            moved[owner[key]].append(key)
    for group in groups:
        agency_id = group[0].agency_id
        for entry in group:
            if entry.key != latest_key[agency_id] and entry.key not in aliases:
                new.append(
                    AgencyAlias(
                        agency_id=agency_id, name=entry.name, state=state, name_key=entry.key
                    )
                )
    AgencyAlias.objects.filter(state=state, name_key__in=stale).delete()
    for agency_id, keys in moved.items():
        AgencyAlias.objects.filter(state=state, name_key__in=keys).update(agency_id=agency_id)
    AgencyAlias.objects.bulk_create(new)


def _sync_possible(states: set[str], wanted: list[PossibleRename]) -> tuple[set[int], int]:
    """Store the possible renames of these states.

    Returns the agencies whose possible renames changed (to rebuild) and how
    many agencies are in one.
    """
    fields = ("state", "old_key", "new_key", "model", "signed_on", "snapshot_id")
    have = {
        tuple(getattr(p, f) for f in fields): p
        for p in PossibleRename.objects.filter(state__in=states)
    }
    want = {tuple(getattr(p, f) for f in fields): p for p in wanted}
    gone = [p.pk for k, p in have.items() if k not in want]
    PossibleRename.objects.filter(pk__in=gone).delete()
    PossibleRename.objects.bulk_create([p for k, p in want.items() if k not in have])
    touched = {(k[0], k[1]) for k in set(have) ^ set(want)} | {
        (k[0], k[2]) for k in set(have) ^ set(want)
    }
    flagged = _agencies_of({(k[0], k[1]) for k in want} | {(k[0], k[2]) for k in want})
    # Flagged for the admin's "needs review" filter until a curator's rule settles it.
    Agency.objects.filter(pk__in=flagged, needs_review=False).update(needs_review=True)
    return _agencies_of(touched), len(flagged)


def _agencies_of(pairs: set[tuple[str, str]]) -> set[int]:
    ids = set()
    for state, key in pairs:
        ids |= set(
            Agency.objects.filter(state=state, name_key=key).values_list("pk", flat=True)
        ) | set(
            AgencyAlias.objects.filter(state=state, name_key=key).values_list(
                "agency_id", flat=True
            )
        )
    return ids


# --- Curators' rules ----------------------------------------------------------


class IdentityRuleError(ValueError):
    """A rule was refused; the message is a sentence for the curator."""


def identity_rule_set(
    *, state: str, name_a: str, name_b: str, decision: str, user=None, note: str = ""
) -> IdentityRule:
    """Record that two spellings of a state are one agency or two, and apply it to the history now."""
    key_a, key_b = sorted((normalize.name_key(name_a), normalize.name_key(name_b)))
    if not key_a or not key_b or key_a == key_b:
        raise IdentityRuleError(
            "Give two different agency names: these two are the same spelling, and always one agency."
        )
    if decision not in IdentityRule.Decision.values:
        raise IdentityRuleError(f"Decision {decision!r} is not one of: same, distinct.")
    spelled = {normalize.name_key(name_a): name_a, normalize.name_key(name_b): name_b}
    with transaction.atomic():
        rule, _ = IdentityRule.objects.update_or_create(
            state=state,
            key_a=key_a,
            key_b=key_b,
            defaults={
                "name_a": spelled[key_a][:255],
                "name_b": spelled[key_b][:255],
                "decision": decision,
                "note": note,
                "decided_by": user,
            },
        )
        identity_apply(states={state})
    return rule


def identity_apply(*, states: set[str]) -> IdentityChange:
    """Regroup these states' spellings and rebuild the history of every agency that changed."""
    from agreements.services.events import agreements_rebuild

    change = identity_recompute(states=states)
    if change.agencies:
        agreements_rebuild(agency_ids=change.agencies)
        leftovers_delete(agency_ids=change.agencies)
    return change


def leftovers_delete(*, agency_ids: set[int]) -> None:
    """Delete agreements no row belongs to any more (their rows went to a split-off agency)."""
    if agency_ids:
        Agreement.objects.filter(
            agency_id__in=agency_ids, snapshot_rows__isnull=True, events__isnull=True
        ).delete()
