"""The one place notes are written: who may, and what each refusal says."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group

from research import policy
from research.models import Annotation
from research.services.annotations import (
    MAX_BODY_CHARS,
    AnnotationRefused,
    annotate,
    flag_annotation,
    review_annotation,
    update_annotation,
)
from tests.research.factories import (
    AnnotationFactory,
    CuratorFactory,
    DocumentFactory,
    ResearcherFactory,
    TagFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TEXT = "The sheriff said the agreement lets deputies screen people booked into the jail."


def _span(words: str) -> tuple[int, int]:
    start = TEXT.index(words)
    return start, start + len(words)


def test_a_note_keeps_w3c_selectors_and_the_text_it_was_made_on():
    document = DocumentFactory(text=TEXT)
    start, end = _span("deputies screen")
    note = annotate(document, ResearcherFactory(), start=start, end=end, body="Jail model.")
    assert (note.exact, note.prefix, note.suffix) == (
        "deputies screen",
        TEXT[max(0, start - 32) : start],
        TEXT[end : end + 32],
    )
    assert note.text_sha256 == document.text_sha256
    assert note.review == Annotation.Review.PENDING


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"start": 5, "end": 3}, "selection", "within the text"),
        ({"start": 0, "end": len(TEXT) + 1}, "selection", "within the text"),
        ({"exact": "something else"}, "selection", "reload the page"),
        ({"body": "x" * (MAX_BODY_CHARS + 1)}, "body", "too long"),
        ({"tags": ["no-such-tag"]}, "tags", "Unknown tag: no-such-tag"),
        ({"visibility": "everyone"}, "visibility", "is not one of"),
    ],
)
def test_bad_writes_are_refused_with_the_field_and_nothing_is_stored(fields, field, says):
    document = DocumentFactory(text=TEXT)
    start, end = _span("deputies screen")
    with pytest.raises(AnnotationRefused) as refused:
        annotate(document, ResearcherFactory(), **{"start": start, "end": end, **fields})
    assert says in refused.value.errors[field]
    assert not Annotation.objects.exists()


def test_the_public_may_not_annotate_and_known_tags_are_taken_by_name_or_slug():
    document = DocumentFactory(text=TEXT)
    start, end = _span("jail")
    with pytest.raises(AnnotationRefused, match="may not write notes"):
        annotate(document, UserFactory(), start=start, end=end)
    TagFactory(name="Jail model", slug="jail-model")
    note = annotate(document, ResearcherFactory(), start=start, end=end, tags=["JAIL-MODEL"])
    assert [t.name for t in note.tags.all()] == ["Jail model"]


def test_visibility_private_researchers_and_public_after_approval():
    author, other, curator = ResearcherFactory(), ResearcherFactory(), CuratorFactory()
    private = AnnotationFactory(author=author)
    shared = AnnotationFactory(author=author, visibility=Annotation.Visibility.RESEARCHERS)
    public = AnnotationFactory(author=author, visibility=Annotation.Visibility.PUBLIC)

    def seen(user):
        return set(policy.visible_annotations(user))

    assert seen(author) == {private, shared, public}
    assert seen(other) == {shared, public}
    assert seen(curator) == {shared, public}
    assert seen(None) == set()
    review_annotation(public, curator, approve=True)
    assert seen(None) == {public}
    # A flag sends it back to the queue; an edit by its author too.
    flag_annotation(public, other, "Names a private person.")
    assert seen(None) == set()
    review_annotation(public, curator, approve=True)
    update_annotation(public, author, body="Changed after approval.")
    assert seen(None) == set()


def test_only_the_author_changes_a_note():
    note = AnnotationFactory()
    with pytest.raises(AnnotationRefused, match="Only the note's author"):
        update_annotation(note, ResearcherFactory(), body="Mine now.")
    note.refresh_from_db()
    assert note.body == "Screening at booking is the jail model."


def test_a_note_shared_with_chosen_groups_takes_only_the_authors_own_teams():
    document = DocumentFactory(text=TEXT)
    start, end = _span("deputies screen")
    author, teammate = ResearcherFactory(), ResearcherFactory()
    team, other_team = Group.objects.create(name="Jail team"), Group.objects.create(name="Other")
    author.groups.add(team)
    teammate.groups.add(team)
    shared = {"start": start, "end": end, "visibility": Annotation.Visibility.GROUPS}
    refusals = [
        ({"groups": ["Other"]}, "You are not in Other."),
        ({"groups": [policy.RESEARCHERS]}, "is a role, not a group"),
        ({"groups": []}, "Choose at least one group"),
    ]
    for fields, says in refusals:
        with pytest.raises(AnnotationRefused) as refused:
            annotate(document, author, **{**shared, **fields})
        assert says in refused.value.errors["groups"]
    assert not Annotation.objects.exists()

    note = annotate(document, author, **shared, groups=[str(team.pk)])
    assert list(note.groups.all()) == [team]
    assert note in policy.visible_annotations(teammate)
    assert note not in policy.visible_annotations(ResearcherFactory())
    with pytest.raises(AnnotationRefused, match="not in Other"):
        update_annotation(note, author, groups=[other_team.name])
    with pytest.raises(AnnotationRefused, match="Choose at least one group"):
        update_annotation(note, author, groups=[])
    # Leaving the team's name off takes the note from its members; history keeps who it was for.
    update_annotation(note, author, visibility=Annotation.Visibility.PRIVATE, groups=[])
    assert note not in policy.visible_annotations(teammate)
    kept = [[g.group for g in record.groups.all()] for record in note.history.all()]
    assert kept[0] == [] and [team] in kept
