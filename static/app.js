// The little plain JS htmx cannot do: open <dialog>s that htmx swaps in as modals.
document.addEventListener("htmx:afterSwap", function (event) {
  var dialog = event.target.querySelector && event.target.querySelector("dialog[data-autoopen]");
  if (dialog && !dialog.open) { dialog.showModal(); }
});
document.addEventListener("click", function (event) {
  var closer = event.target.closest && event.target.closest("[data-close-dialog]");
  if (closer) { var d = closer.closest("dialog"); if (d) { d.close(); d.remove(); } }
});
