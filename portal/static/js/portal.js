// The portal's own script: small progressive enhancements. Everything works without it.
"use strict";

(function () {
  // Sign-in hints while typing: Caps Lock, and Russian letters where the password is Latin.
  function watchPassword(input) {
    const caps = document.getElementById("caps-warning");
    const layout = document.getElementById("layout-warning");
    if (!caps || !layout) return;
    const cyrillic = /[\u0400-\u04FF]/;
    function onKey(event) {
      if (typeof event.getModifierState === "function") {
        caps.hidden = !event.getModifierState("CapsLock");
      }
      layout.hidden = !cyrillic.test(input.value);
    }
    input.addEventListener("keydown", onKey);
    input.addEventListener("keyup", onKey);
    input.addEventListener("input", () => { layout.hidden = !cyrillic.test(input.value); });
    input.addEventListener("blur", () => { caps.hidden = true; });
  }

  function enhance(root) {
    const password = root.querySelector ? root.querySelector("#password") : null;
    if (password && !password.dataset.watched) {
      password.dataset.watched = "1";
      watchPassword(password);
    }
  }

  // Toasts the server asks for with HX-Trigger: {"toast": "text"}.
  document.addEventListener("toast", (event) => {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("p");
    item.className = "toast";
    item.textContent = String(event.detail.value || "");
    box.appendChild(item);
    setTimeout(() => item.remove(), 5000);
  });

  // Print buttons (the receipt): no inline handlers under the strict CSP.
  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) window.print();
  });

  document.addEventListener("DOMContentLoaded", () => enhance(document));
  document.addEventListener("htmx:load", (event) => enhance(document));

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
    });
  }
})();
