// Stream Portal office pages: the few behaviours htmx attributes cannot say without eval
// (the CSP forbids eval and inline scripts, so they live here).
(function () {
  "use strict";

  // Escape in an inline editor cancels it: its Cancel control fetches the display fragment again.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var editor = event.target.closest && event.target.closest("[data-inline-editor]");
    if (!editor) return;
    var cancel = editor.querySelector("[data-cancel]");
    if (cancel) {
      event.preventDefault();
      cancel.click();
    }
  });

  // A new editor takes the focus, so typing can start at once.
  document.addEventListener("htmx:afterSwap", function (event) {
    var field = event.target.querySelector && event.target.querySelector("[data-inline-editor] textarea");
    if (field) field.focus();
  });

  // Self-refresh never replaces a list while someone is editing in it.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var poller = event.detail && event.detail.elt;
    if (!poller || !poller.hasAttribute("data-poll")) return;
    var region = document.querySelector(poller.getAttribute("data-poll"));
    if (!region) return;
    var busy = region.querySelector("[data-inline-editor]") ||
      (document.activeElement && region.contains(document.activeElement) &&
        /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) ||
      region.querySelector("input[type=checkbox]:checked");
    if (busy) event.preventDefault();
  });

  // Copy buttons: data-copy names the input whose value goes to the clipboard.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    input.select();
    var done = function () {
      var status = button.parentNode.querySelector("[data-copy-status]");
      if (status) status.textContent = "Copied.";
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });

  // The search box asks as you type (debounced); leaving it must not ask again and replace the
  // results under an editor that was just opened, so its "change" never reaches the filter form.
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("[data-no-change-submit]")) event.stopPropagation();
  }, true);

  // A line marked for removal is shown struck through until the form is saved.
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("input[type=checkbox][name$='-DELETE']")) return;
    var row = box.closest("tr, fieldset");
    if (row) row.classList.toggle("removed", box.checked);
  });

  // "Select all" on the movement board.
  document.addEventListener("change", function (event) {
    var all = event.target;
    if (!all.matches || !all.matches("[data-select-all]")) return;
    var scope = document.getElementById(all.getAttribute("data-select-all"));
    if (!scope) return;
    scope.querySelectorAll("input[type=checkbox][name=reference]").forEach(function (box) {
      if (!box.disabled) box.checked = all.checked;
    });
  });
})();
