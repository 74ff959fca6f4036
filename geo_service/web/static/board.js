// The wall board: sort the cards in place (the choice kept in the address, so a refresh
// keeps it) and reload when the data change (polling /api/changes, as the maps do), or
// every 5 minutes at the latest.
(function () {
  "use strict";
  var POLL_MS = 10000, RELOAD_MS = 300000;
  var cards = document.getElementById("gs-cards");
  var buttons = document.querySelectorAll(".gs-sort button");
  function num(card, key, missing) {
    var v = card.dataset[key];
    return v === "" || v === undefined ? missing : parseFloat(v);
  }
  var orders = {
    rank: function (a, b) { return num(a, "rank", 1e9) - num(b, "rank", 1e9); },
    progress: function (a, b) { return num(b, "progress", -1) - num(a, "progress", -1); },
    behind: function (a, b) {
      return num(b, "behind", 0) - num(a, "behind", 0) || orders.rank(a, b);
    },
    code: function (a, b) { return a.dataset.code < b.dataset.code ? -1 : 1; },
  };
  function sortBy(key) {
    if (!orders[key]) key = "rank";
    Array.prototype.slice.call(cards.children).sort(orders[key]).forEach(function (c) {
      cards.appendChild(c);
    });
    buttons.forEach(function (b) { b.classList.toggle("active", b.dataset.sort === key); });
    document.body.dataset.sort = key;
    history.replaceState(null, "", "#sort=" + key);
  }
  buttons.forEach(function (b) {
    b.addEventListener("click", function () { sortBy(b.dataset.sort); });
  });
  var m = /sort=(\w+)/.exec(location.hash);
  sortBy(m ? m[1] : "rank");

  var token = null;
  function poll() {
    fetch("/api/changes", { cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) return;
        if (token !== null && d.token !== token) location.reload();
        token = d.token;
      })
      .catch(function () { /* the next poll tries again */ });
  }
  poll();
  setInterval(poll, POLL_MS);
  setTimeout(function () { location.reload(); }, RELOAD_MS);
})();
