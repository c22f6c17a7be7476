// Text typed but not saved survives an automatic logoff, on this device and for this user only:
// kept in the tab's sessionStorage under the user's id, restored when the same user comes back to
// the same page, dropped when saved. Another user signing in on the device removes them all.
// Passwords and files are never kept.
(function () {
  "use strict";
  var PREFIX = "rightlevel-draft:";
  var store = window.sessionStorage;
  var user = document.body.getAttribute("data-user-id");
  if (!store || !user) { return; }
  var mine = PREFIX + user + ":";
  for (var i = store.length - 1; i >= 0; i--) {
    var key = store.key(i);
    if (key && key.indexOf(PREFIX) === 0 && key.indexOf(mine) !== 0) { store.removeItem(key); }
  }
  function keyOf(form) { return mine + window.location.pathname + "|" + form.getAttribute("action"); }
  function kept(el) {
    return el.name && !/^(csrfmiddlewaretoken|expected_version|shown)$/.test(el.name) &&
      el.type !== "password" && el.type !== "file" && el.type !== "hidden" && el.type !== "submit";
  }
  function forms() { return document.querySelectorAll("form[action*='/do/']"); }
  function save(form) {
    var values = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) { return; }
      if (el.type === "radio" || el.type === "checkbox") { if (el.checked) { values[el.name + "=" + el.value] = true; } }
      else if (el.value) { values[el.name] = el.value; }
    });
    if (Object.keys(values).length) { store.setItem(keyOf(form), JSON.stringify(values)); }
    else { store.removeItem(keyOf(form)); }
  }
  function restore(form) {
    var raw = store.getItem(keyOf(form));
    if (!raw) { return; }
    var values = JSON.parse(raw);
    var restored = false;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!kept(el)) { return; }
      if (el.type === "radio" || el.type === "checkbox") {
        if (values[el.name + "=" + el.value]) { el.checked = true; restored = true; }
      } else if (values[el.name] !== undefined && !el.value) { el.value = values[el.name]; restored = true; }
    });
    var panel = form.closest("details");
    if (restored && panel) {
      panel.open = true;
      var note = document.createElement("p");
      note.className = "notice draft-note";
      note.setAttribute("role", "status");
      note.textContent = "Restored what you typed before you were signed out: check it, then save.";
      form.insertBefore(note, form.firstChild);
    }
  }
  Array.prototype.forEach.call(forms(), restore);
  document.addEventListener("input", function (event) {
    var form = event.target && event.target.form;
    if (form && form.matches("form[action*='/do/']")) { save(form); }
  }, true);
  document.addEventListener("change", function (event) {
    var form = event.target && event.target.form;
    if (form && form.matches("form[action*='/do/']")) { save(form); }
  }, true);
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form && form.getAttribute("action")) { store.removeItem(keyOf(form)); }
  }, true);
})();
