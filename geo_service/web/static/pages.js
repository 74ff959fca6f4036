/* Every workbench page: tables read as cards on a phone, and sign-off, dispute and bulk
   moves asked once more before they are sent. Without this script the tables scroll in
   their own box and the forms are sent at once: the pages still work. */
(function () {
  "use strict";

  /* A card shows each value under its column's name: the name is copied from the table's
     header onto each cell (data-label), which web.css shows before the value on a phone. */
  document.querySelectorAll("table.list").forEach(function (table) {
    var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.replace(/[▲▼]/g, "").trim();
    });
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (names[i] && !cell.hasAttribute("data-label")) cell.setAttribute("data-label", names[i]);
      });
    });
    table.classList.add("cards");
  });

  /* A form with data-confirm is sent only once the person says yes in the dialog; its
     texts come from the page (the catalogs), the dialog is the page's own <dialog>. */
  var dialog = document.getElementById("confirm-dialog");
  if (!dialog || typeof dialog.showModal !== "function") return;
  var text = dialog.querySelector(".confirm-text");
  var yes = dialog.querySelector(".confirm-yes");
  var asking = null;

  function question(form) {
    var words = form.getAttribute("data-confirm");
    var count = form.querySelectorAll("input[name=ids]:checked").length;
    var to = form.querySelector("select[name=to]");
    var chosen = to && to.selectedIndex >= 0 ? to.options[to.selectedIndex].text : "";
    return words.replace("{count}", String(count)).replace("{to}", chosen);
  }

  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-confirmed") === "1") return;
      // Nothing selected: nothing to ask; the page says to select parcels first.
      if (form.querySelector("input[name=ids]") && !form.querySelector("input[name=ids]:checked")) return;
      event.preventDefault();
      asking = { form: form, submitter: event.submitter || null };
      text.textContent = question(form);
      yes.textContent = form.getAttribute("data-confirm-yes") || yes.getAttribute("data-default");
      dialog.showModal();
    });
  });
  dialog.addEventListener("close", function () {
    var chosen = asking;
    asking = null;
    if (!chosen || dialog.returnValue !== "yes") return;
    chosen.form.setAttribute("data-confirmed", "1");
    if (chosen.form.requestSubmit) chosen.form.requestSubmit(chosen.submitter);
    else chosen.form.submit();
  });
}());
