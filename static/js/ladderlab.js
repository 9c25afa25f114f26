// Small helpers for the keyboard-first screens; htmx does the requests.
window.ladderlab = {
  secondsOnCard() {
    const card = document.getElementById("card");
    const shown = card ? Number(card.dataset.shownAt) : 0;
    return shown ? Math.max(0, Date.now() / 1000 - shown) : 0;
  },
  // Keys typed into a form field are text, not shortcuts.
  typing(event) {
    const target = event.target;
    return event.ctrlKey || event.metaKey || event.altKey ||
      (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)));
  },
  toggleHelp() {
    const help = document.getElementById("help");
    if (help) help.hidden = !help.hidden;
  },
};

// One listener for the whole page: a key presses the current card's button
// bound to it, so a freshly swapped card needs no listeners of its own.
document.addEventListener("keyup", (event) => {
  if (window.ladderlab.typing(event)) return;
  if (event.key === "?") return window.ladderlab.toggleHelp();
  if (event.key === "Escape") {
    const help = document.getElementById("help");
    if (help) help.hidden = true;
    return;
  }
  const button = document.querySelector(`#card [data-key="${CSS.escape(event.key)}"]`);
  if (button && !button.disabled) button.click();
});

// A card's timer starts when the browser shows it, not when the server rendered it;
// `settled` tells scripts and tests the card is live.
function cardShown() {
  const card = document.getElementById("card");
  if (!card) return;
  card.dataset.shownAt = String(Date.now() / 1000);
  card.dataset.settled = "1";
}
document.addEventListener("htmx:afterSettle", cardShown);
document.addEventListener("DOMContentLoaded", cardShown);

// A label refused as stale (409) answers with a fresh card to swap in, and a
// preview of invalid settings (422) with the errors; htmx 2 swaps no 4xx
// response by itself.
document.addEventListener("htmx:beforeSwap", (event) => {
  const target = event.detail.target;
  const status = event.detail.xhr.status;
  if (target && ((status === 409 && target.id === "card") || (status === 422 && target.id === "preprocess-preview"))) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  }
});
