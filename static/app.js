// The little plain JS htmx cannot do: open <dialog>s that htmx swaps in as modals (focus in,
// Escape out, focus back), enable "Yes, ..." once "I Understand" is ticked, move schools
// between the Exclude Schools lists, say at once that PowerSchool shares no parents, and
// show error answers (htmx 2 does not swap 4xx/5xx) where the admin is looking.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var opener = null;

  function each(root, selector, fn) {
    if (root && root.querySelectorAll) { Array.prototype.forEach.call(root.querySelectorAll(selector), fn); }
  }

  function openDialogs(root) {
    each(root, "dialog[data-autoopen]", function (dialog) {
      if (dialog.open) { return; }
      dialog.showModal();
      each(dialog, "ol.log", function (log) { log.scrollTop = log.scrollHeight; });  // tail first
      var target = dialog.querySelector("[aria-invalid=true]") || dialog.querySelector("[autofocus]");
      if (target) { target.focus(); }
    });
  }

  // PowerSchool shares no parents over OneRoster: say so as soon as it is chosen and take
  // the option away (the server refuses it too, for a page without JavaScript).
  function syncParentRule(root) {
    each(root, "select#sis_vendor", function (vendor) {
      var form = vendor.form;
      var box = form && form.querySelector("#sync_parents");
      var hint = form && form.querySelector("#sync_parents-hint");
      if (!box || !hint) { return; }
      var powerschool = vendor.value === "powerschool";
      if (powerschool) { box.checked = false; }
      box.disabled = powerschool;
      hint.hidden = !powerschool;
    });
  }

  function syncConfirmButtons(root) {
    each(root, "input[data-enables]", function (box) {
      var button = document.getElementById(box.getAttribute("data-enables"));
      if (button) { button.disabled = !box.checked; }
    });
  }

  function enhance(root) {
    syncConfirmButtons(root);
    syncParentRule(root);
  }

  document.addEventListener("DOMContentLoaded", function () { enhance(document); });
  document.addEventListener("htmx:load", function (event) { enhance(event.target); });
  document.addEventListener("htmx:afterSwap", function (event) { openDialogs(event.target); });

  // Remember what opened a dialog, to give focus back when it closes.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail.target;
    if (target && target.id === "dialogs" && !event.detail.elt.closest("dialog")) { opener = event.detail.elt; }
  });

  document.addEventListener("click", function (event) {
    var closer = event.target.closest && event.target.closest("[data-close-dialog]");
    if (!closer) { return; }
    var dialog = closer.closest("dialog");
    if (dialog && dialog.hasAttribute("data-autoopen")) { event.preventDefault(); dialog.close(); }
  });

  // Escape (the native "cancel") and close buttons both end here: drop the dialog, refocus.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!(dialog instanceof HTMLDialogElement) || !dialog.hasAttribute("data-autoopen")) { return; }
    dialog.remove();
    if (opener && document.body.contains(opener)) { opener.focus(); }
    opener = null;
  }, true);

  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches("input[data-enables]")) { syncConfirmButtons(box.closest("form")); return; }
    if (box.matches("select#sis_vendor")) { syncParentRule(box.closest("form")); return; }
    if (!box.matches(".schools input[type=checkbox]")) { return; }
    var to = document.querySelector('.schools[data-checked="' + box.checked + '"]');
    var item = box.closest("li");
    if (!to || !item) { return; }
    to.appendChild(item);
    box.focus();
    each(box.closest("form"), "[data-count-for]", function (count) {
      var list = document.getElementById(count.getAttribute("data-count-for"));
      count.textContent = list ? list.children.length : "";
    });
  });

  function errorBox(elt) {
    var dialog = elt && elt.closest && elt.closest("dialog[open]");
    return (dialog && dialog.querySelector(".dialog-errors")) || document.getElementById("htmx-errors");
  }

  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.responseURL && xhr.responseURL.indexOf("/auth/login") !== -1) {
      event.detail.shouldSwap = false;  // signed out meanwhile: go to the sign-in page
      window.location.href = xhr.responseURL;
      return;
    }
    if (xhr.status >= 500) { retryPoll(event); }
    if (xhr.status >= 400) {
      var box = errorBox(event.detail.requestConfig && event.detail.requestConfig.elt);
      if (box) {
        event.detail.shouldSwap = true;
        event.detail.isError = false;
        event.detail.target = box;
        event.detail.swapOverride = "innerHTML";
      }
    }
  });

  // A status fragment that lost the server (restart, network) keeps polling, more slowly.
  function retryPoll(event) {
    var elt = event.detail.elt;
    if (!elt || !elt.classList || !elt.classList.contains("run-status") || !elt.getAttribute("hx-get")) { return; }
    setTimeout(function () {
      if (document.body.contains(elt)) {
        htmx.ajax("GET", elt.getAttribute("hx-get"), { source: elt, target: elt, swap: "outerHTML" });
      }
    }, 10000);
  }
  document.addEventListener("htmx:sendError", function (event) {
    var box = document.getElementById("htmx-errors");
    if (box) { box.innerHTML = '<div class="notice notice-error" role="alert">The server could not be reached. Retrying…</div>'; }
    retryPoll(event);
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.successful) {
      var box = document.getElementById("htmx-errors");
      if (box && box.textContent.indexOf("could not be reached") !== -1) { box.innerHTML = ""; }
    }
  });
  document.addEventListener("htmx:responseError", retryPoll);
})();
