// openhss console: theme choice (before first paint, no flash) and small keyboard helpers.
// Everything works without this file; htmx (served beside it) only swaps fragments.
(function () {
  "use strict";
  var KEY = "openhss-theme";
  var root = document.documentElement;
  try {
    var saved = localStorage.getItem(KEY);
    if (saved === "light" || saved === "dark") root.dataset.theme = saved;
  } catch (e) { /* storage disabled: follow the system preference */ }

  function current() {
    if (root.dataset.theme) return root.dataset.theme;
    return window.matchMedia && matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("DOMContentLoaded", function () {
    var toggle = document.getElementById("theme-toggle");
    if (toggle) {
      toggle.setAttribute("aria-pressed", current() === "dark" ? "true" : "false");
      toggle.addEventListener("click", function () {
        var next = current() === "dark" ? "light" : "dark";
        root.dataset.theme = next;
        toggle.setAttribute("aria-pressed", next === "dark" ? "true" : "false");
        try { localStorage.setItem(KEY, next); } catch (e) { /* ignore */ }
      });
    }
    // "/" focuses the first filter field, as in most consoles.
    document.addEventListener("keydown", function (ev) {
      if (ev.key !== "/" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
      var t = ev.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "SELECT" || t.tagName === "TEXTAREA")) return;
      var field = document.querySelector("form.filters input:not([type=hidden])");
      if (field) { ev.preventDefault(); field.focus(); }
    });
  });
  // After htmx swaps a tab body, move focus to it so keyboard users land on the new content.
  document.addEventListener("htmx:afterSwap", function (ev) {
    var target = ev.detail && ev.detail.target;
    if (target && target.id === "tab-body") {
      var current = target.querySelector('.tabs [aria-current="page"]');
      if (current) current.focus();
    }
  });
})();
