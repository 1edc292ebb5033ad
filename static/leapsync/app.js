/* Page behaviour, kept out of the markup: the Content-Security-Policy allows no inline script,
   no event-handler attributes and no style attributes. Markup opts in with data- attributes. */
(function () {
  "use strict";

  // Filter forms (data-drop-empty): leave empty fields out of the request and the pushed URL.
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.target.closest || !event.target.closest("[data-drop-empty]")) return;
    const data = event.detail.formData;
    for (const key of [...data.keys()]) {
      if (data.getAll(key).every(function (value) { return value === ""; })) data.delete(key);
    }
  });

  document.addEventListener("click", function (event) {
    const target = event.target;
    // A "select all" checkbox (data-select-all) ticks every row checkbox of its table.
    if (target.matches && target.matches("input[data-select-all]")) {
      const table = target.closest("table");
      for (const box of table.querySelectorAll("tbody input[name=pk]")) box.checked = target.checked;
      showSelectAllMatching(target.form, target.checked);
    }
    // Unticking a row leaves "all on this page" (and so "all matching the filter") behind.
    if (target.matches && target.matches("tbody input[name=pk]") && !target.checked) {
      const all = target.closest("table").querySelector("input[data-select-all]");
      if (all) all.checked = false;
      showSelectAllMatching(target.form, false);
    }
    // A button that must submit once only (data-submit-once), e.g. sending emails.
    const once = target.closest && target.closest("button[data-submit-once]");
    if (once && !once.disabled) {
      event.preventDefault();
      once.disabled = true;
      once.form.submit();
    }
  });

  // Gmail-style: once the whole page is ticked, offer every action the filter matches
  // (data-bulk-all); the server re-applies the filter, so no ids are posted for them.
  function showSelectAllMatching(form, show) {
    const offer = form && form.querySelector("[data-bulk-all]");
    if (!offer) return;
    offer.hidden = !show;
    if (!show) offer.querySelector("[data-bulk-all-box]").checked = false;
  }

  // A checklist filter's summary names the boxes ticked (data-none when there is none).
  document.addEventListener("change", function (event) {
    const list = event.target.closest && event.target.closest("details.checklist");
    if (!list) return;
    const summary = list.querySelector("summary");
    const ticked = [...list.querySelectorAll("input:checked")].map(function (box) {
      return box.labels[0].textContent.trim();
    });
    summary.textContent = ticked.length ? ticked.join(", ") : summary.dataset.none;
  });

  // Choosing another program (data-resets) clears the dependent field and submits the form.
  document.addEventListener("change", function (event) {
    const select = event.target;
    if (!select.matches || !select.matches("select[data-resets]")) return;
    select.form.elements[select.dataset.resets].value = "";
    select.form.requestSubmit();
  });

  // Timeline bars are positioned from data-left / data-width (percent) through the CSSOM,
  // which the policy allows, instead of style attributes, which it blocks.
  function position(root) {
    const elements = [root, ...root.querySelectorAll("[data-left], [data-width]")];
    for (const element of elements) {
      if (!element.dataset) continue;
      if (element.dataset.left !== undefined) element.style.left = element.dataset.left + "%";
      if (element.dataset.width !== undefined) element.style.width = element.dataset.width + "%";
    }
  }
  document.addEventListener("DOMContentLoaded", function () { position(document.body); });
  document.addEventListener("htmx:load", function (event) { position(event.target); });

  // A table wider (or, in a preview, longer) than its box scrolls inside it (.table-wrap,
  // .scroll-x). A keyboard can scroll only what it can focus, so exactly the boxes that scroll
  // get a tab stop.
  function focusScrollers() {
    for (const box of document.querySelectorAll(".table-wrap, .scroll-x")) {
      const scrolls = box.scrollWidth > box.clientWidth || box.scrollHeight > box.clientHeight;
      if (scrolls) box.setAttribute("tabindex", "0");
      else if (box.getAttribute("tabindex") === "0") box.removeAttribute("tabindex");
    }
  }
  document.addEventListener("DOMContentLoaded", focusScrollers);
  document.addEventListener("htmx:load", focusScrollers);
  window.addEventListener("resize", focusScrollers);
})();
