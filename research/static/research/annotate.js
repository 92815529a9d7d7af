/* Annotating a document's text: capture the selection, fill the note form.
 *
 * The server renders the text (#document-text) so that its text content is the
 * document's text exactly, highlights included as <mark> elements; offsets
 * are therefore counted over the container's text content, whatever markup
 * the selection spans. Python counts code points and JavaScript UTF-16 units,
 * so surrogate pairs are counted once. Without this script the page, the
 * highlights and the notes are all there, and a note is written by copying
 * its words into the form's "Passage" field.
 */
(function () {
  "use strict";

  var container = document.getElementById("document-text");
  if (!container) {
    return;
  }

  function codePoints(text) {
    var pairs = text.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g);
    return text.length - (pairs ? pairs.length : 0);
  }

  // Clicking a highlight (not ending a selection) goes to its note in the list.
  container.addEventListener("click", function (event) {
    var mark = event.target.closest ? event.target.closest("mark[data-notes]") : null;
    var selection = window.getSelection();
    if (!mark || (selection && !selection.isCollapsed)) {
      return;
    }
    var first = mark.getAttribute("data-notes").split(" ")[0];
    var note = document.getElementById("annotation-" + first);
    if (note) {
      note.scrollIntoView({ block: "nearest" });
      note.classList.add("note-current");
      window.setTimeout(function () { note.classList.remove("note-current"); }, 2000);
    }
  });

  var form = document.getElementById("note-form");
  var trigger = document.getElementById("note-trigger");
  if (!form || !trigger) {
    return;
  }
  var writer = document.getElementById("note-writer");
  var fields = { start: form.elements.start, end: form.elements.end, exact: form.elements.exact };
  var pending = null;

  // The part of the current selection inside the text, as offsets into it, or null.
  function selectedPassage() {
    var selection = window.getSelection();
    if (!selection || selection.rangeCount === 0 || selection.isCollapsed) {
      return null;
    }
    var range = selection.getRangeAt(0);
    if (!range.intersectsNode(container)) {
      return null;
    }
    var whole = document.createRange();
    whole.selectNodeContents(container);
    var clipped = range.cloneRange();
    if (clipped.compareBoundaryPoints(Range.START_TO_START, whole) < 0) {
      clipped.setStart(whole.startContainer, whole.startOffset);
    }
    if (clipped.compareBoundaryPoints(Range.END_TO_END, whole) > 0) {
      clipped.setEnd(whole.endContainer, whole.endOffset);
    }
    var before = document.createRange();
    before.selectNodeContents(container);
    before.setEnd(clipped.startContainer, clipped.startOffset);
    var exact = clipped.toString();
    // Leading and trailing blanks are not part of what was meant.
    var trimmed = exact.replace(/^\s+/, "");
    var start = codePoints(before.toString()) + codePoints(exact) - codePoints(trimmed);
    trimmed = trimmed.replace(/\s+$/, "");
    if (!trimmed) {
      return null;
    }
    return { start: start, end: start + codePoints(trimmed), exact: trimmed };
  }

  function noticeSelection() {
    pending = selectedPassage();
    trigger.hidden = !pending;
  }

  function fill(passage) {
    fields.start.value = passage.start;
    fields.end.value = passage.end;
    fields.exact.value = passage.exact;
  }

  container.addEventListener("mouseup", noticeSelection);
  container.addEventListener("keyup", noticeSelection);
  container.addEventListener("touchend", noticeSelection);
  document.addEventListener("selectionchange", function () {
    if (pending && !selectedPassage()) {
      // Keep the button while the pointer is away: a click on it clears the selection.
      return;
    }
    noticeSelection();
  });

  trigger.addEventListener("click", function () {
    if (!pending) {
      return;
    }
    fill(pending);
    trigger.hidden = true;
    if (writer) {
      writer.open = true;
    }
    var body = form.elements.body;
    body.scrollIntoView({ block: "center" });
    body.focus();
  });

  // Words changed by hand no longer match the offsets: the server finds them instead.
  fields.exact.addEventListener("input", function () {
    fields.start.value = "";
    fields.end.value = "";
  });
})();
