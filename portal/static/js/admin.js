// Small repairs to Django admin's own scripts, loaded on every admin page by
// templates/admin/base_site.html (a file, no inline script).
(function () {
  "use strict";

  // The filter of a two-list selector (filter_horizontal) puts its hint in an
  // aria-label on a plain <span>, which ARIA forbids (axe: aria-prohibited-attr)
  // and screen readers ignore. As an image it is announced with its hint.
  function labelIcons(root) {
    root.querySelectorAll("span.search-label-icon[aria-label]:not([role])").forEach(function (icon) {
      icon.setAttribute("role", "img");
    });
  }

  // SelectFilter2.js builds the selectors on window load, after this runs.
  var observer = new MutationObserver(function () { labelIcons(document); });
  document.addEventListener("DOMContentLoaded", function () {
    labelIcons(document);
    observer.observe(document.body, { childList: true, subtree: true });
  });
})();
