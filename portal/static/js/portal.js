// The portal's own script: small progressive enhancements. Everything works without it.
"use strict";

(function () {
  const SUMMARY_KEY = "portal:summary"; // the last known balance, kept until sign-out
  const SHELL_CACHE_PREFIX = "shell-"; // the service worker's public shell (sw.js)
  const SWITCHED_OFF = "data-offline-off";
  const PROBE_EVERY_MS = 10000;

  // --- Sign-in hints while typing: Caps Lock, and Russian letters where the password is Latin.

  // Caps Lock is on when the browser says so, or when a letter comes out in the case
  // that Shift would not give (phones and some browsers do not report the lock itself).
  function capsLockFrom(event) {
    if (typeof event.getModifierState === "function" && event.getModifierState("CapsLock")) {
      return true;
    }
    const key = event.key || "";
    if (key.length !== 1 || key.toLowerCase() === key.toUpperCase()) return null; // not a letter
    const upper = key !== key.toLowerCase();
    return upper !== event.shiftKey;
  }

  function watchPassword(input) {
    const caps = document.getElementById("caps-warning");
    const layout = document.getElementById("layout-warning");
    if (!caps || !layout) return;
    const cyrillic = /[\u0400-\u04FF]/;
    function onKey(event) {
      const on = capsLockFrom(event);
      if (on !== null) caps.hidden = !on;
      else if (event.key === "CapsLock") caps.hidden = !event.getModifierState("CapsLock");
      layout.hidden = !cyrillic.test(input.value);
    }
    input.addEventListener("keydown", onKey);
    input.addEventListener("keyup", onKey); // some systems report the lock's new state only here
    input.addEventListener("input", () => { layout.hidden = !cyrillic.test(input.value); });
    input.addEventListener("blur", () => { caps.hidden = true; });
  }

  // --- The last known balance: saved from the home page, shown when offline.

  function saveSummary(card) {
    // A staff member's view of a subscriber's pages keeps nothing of them on the device.
    if (document.body.dataset.viewAs) return;
    const balance = document.getElementById("balance");
    const daysLeft = document.getElementById("days-left");
    if (!balance || !daysLeft) return;
    const summary = {
      balance: balance.textContent.trim(),
      daysLeft: daysLeft.textContent.trim(),
      contract: card.dataset.contract || "",
      readAt: card.dataset.readAt,
    };
    try {
      localStorage.setItem(SUMMARY_KEY, JSON.stringify(summary));
    } catch (error) { /* private mode or full storage: the app works without it */ }
  }

  function loadSummary() {
    try {
      return JSON.parse(localStorage.getItem(SUMMARY_KEY) || "null");
    } catch (error) {
      return null;
    }
  }

  // Everything personal this device keeps: the last known balance, and any cache other
  // than the worker's public shell (there should be none; a later feature may add one).
  function forgetPersonalData() {
    try { localStorage.removeItem(SUMMARY_KEY); } catch (error) { /* nothing kept */ }
    if ("caches" in window) {
      caches.keys().then((names) => Promise.all(
        names.filter((name) => !name.startsWith(SHELL_CACHE_PREFIX)).map((name) => caches.delete(name))
      )).catch(() => {});
    }
  }

  function readAtText(template, summary) {
    const when = new Date(summary.readAt);
    const time = isNaN(when) ? "" : new Intl.DateTimeFormat(document.documentElement.lang || "ru", {
      day: "numeric", month: "long", hour: "2-digit", minute: "2-digit",
    }).format(when);
    return template.replace("{time}", time).replace("{contract}", summary.contract || "");
  }

  // The offline page: what the home page showed last, and when it was read.
  function showLastKnown() {
    const section = document.getElementById("last-known");
    const summary = loadSummary();
    if (!section || !summary) return;
    document.getElementById("last-balance").textContent = summary.balance;
    document.getElementById("last-days-left").textContent = summary.daysLeft;
    const readAt = document.getElementById("last-read-at");
    readAt.textContent = readAtText(readAt.dataset.template, summary);
    section.hidden = false;
  }

  // The home page, when the connection drops while it is open: the figures are as of.
  function showBalanceReadAt(visible) {
    const line = document.getElementById("balance-read-at");
    const card = document.querySelector("[data-summary]");
    if (!line || !card) return;
    line.textContent = readAtText(line.dataset.template, { readAt: card.dataset.readAt });
    line.hidden = !visible;
  }

  // --- Offline mode: actions that need the network are switched off, with the banner
  // saying why, and come back by themselves when the server answers again.

  let offline = false;
  let probe = null;

  function isPageLink(link) {
    const href = link.getAttribute("href") || "";
    if (href.startsWith("#")) return false; // the skip link stays
    return link.origin === location.origin; // tel: and other sites need no server of ours
  }

  function describedByBanner(element, on) {
    const ids = (element.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
    const others = ids.filter((id) => id !== "offline-banner");
    const next = on ? [...others, "offline-banner"] : others;
    if (next.length) element.setAttribute("aria-describedby", next.join(" "));
    else element.removeAttribute("aria-describedby");
  }

  function switchOffNetworkActions() {
    document.querySelectorAll("form button, form input[type=submit]").forEach((button) => {
      if (button.disabled || button.type === "button") return;
      button.disabled = true;
      button.setAttribute(SWITCHED_OFF, "");
      describedByBanner(button, true);
    });
    document.querySelectorAll("a[href]").forEach((link) => {
      if (!isPageLink(link) || link.getAttribute("aria-disabled") === "true") return;
      link.setAttribute("aria-disabled", "true");
      link.setAttribute(SWITCHED_OFF, "");
      describedByBanner(link, true);
    });
  }

  function switchOnNetworkActions() {
    document.querySelectorAll(`[${SWITCHED_OFF}]`).forEach((element) => {
      if (element.tagName === "A") element.removeAttribute("aria-disabled");
      else element.disabled = false;
      element.removeAttribute(SWITCHED_OFF);
      describedByBanner(element, false);
    });
  }

  function goOffline() {
    if (offline) return;
    offline = true;
    const banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = false;
    switchOffNetworkActions();
    showBalanceReadAt(true);
    probe = setInterval(checkServer, PROBE_EVERY_MS);
  }

  function goOnline() {
    if (!offline) return;
    offline = false;
    clearInterval(probe);
    if (document.body.dataset.shell === "offline") {
      location.reload(); // the page that was asked for, now from the network
      return;
    }
    const banner = document.getElementById("offline-banner");
    if (banner) banner.hidden = true;
    switchOnNetworkActions();
    showBalanceReadAt(false);
  }

  // navigator.onLine says only that some network is there: ask our server itself.
  // A connection that swallows requests counts as none after a while, not never.
  const PING_WAIT_MS = 5000;

  function serverAnswers() {
    const signal = AbortSignal.timeout ? AbortSignal.timeout(PING_WAIT_MS) : undefined;
    return fetch(document.body.dataset.ping, { cache: "no-store", signal })
      .then((response) => response.ok, () => false);
  }

  function checkServer() {
    if (!navigator.onLine) return;
    serverAnswers().then((answers) => { if (answers) goOnline(); });
  }

  // A click on a switched-off link goes nowhere; the banner says why.
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest(`a[${SWITCHED_OFF}]`);
    if (!link) return;
    event.preventDefault();
    event.stopPropagation();
  }, true);

  window.addEventListener("offline", goOffline);
  window.addEventListener("online", checkServer);
  document.addEventListener("htmx:sendError", goOffline);
  document.addEventListener("htmx:beforeRequest", (event) => { if (offline) event.preventDefault(); });

  // --- A new release while the app is open (on a phone it stays open for days): a tap
  // swaps the next page's body under the head this page was opened with, the old
  // release's stylesheets and scripts. A page that names other ones is loaded whole.
  function namesOurShellFiles(html) {
    return [...document.querySelectorAll("head link[rel=stylesheet], head script[src]")]
      .every((element) => html.includes(element.getAttribute("href") || element.getAttribute("src")));
  }

  // A gateway's own error page (nginx's 502 while the app restarts for a deploy) is no
  // page of ours to draw in place of the open one: the server is out of reach, as when
  // offline. Every answer of the portal's carries its CSP; a gateway's does not.
  function fromTheGateway(xhr) {
    return xhr.status >= 502 && xhr.status <= 504 && !xhr.getResponseHeader("Content-Security-Policy");
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    if (fromTheGateway(detail.xhr)) {
      detail.shouldSwap = false;
      goOffline();
      return;
    }
    const html = typeof detail.serverResponse === "string" ? detail.serverResponse : "";
    if (!detail.boosted || !detail.shouldSwap || !html.includes("</head>")) return;
    if (namesOurShellFiles(html)) return;
    // Loading a form's answer again would lose what it says (the message, the errors):
    // it is swapped in this once, and the next page, still of another release, loads whole.
    if (detail.requestConfig && detail.requestConfig.verb !== "get") return;
    detail.shouldSwap = false;
    location.assign(detail.xhr.responseURL);
  });

  // --- "Install the app": the browser's own prompt where there is one, the steps on iPhone.

  let installPrompt = null;

  function runsInstalled() {
    return window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  }

  function isIphone() {
    return /iPhone|iPad|iPod/.test(navigator.userAgent) ||
      (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  }

  function showInstall() {
    const box = document.getElementById("install");
    if (!box || runsInstalled()) return;
    const button = document.getElementById("install-button");
    const steps = document.getElementById("install-ios");
    button.hidden = !installPrompt;
    steps.hidden = Boolean(installPrompt) || !isIphone();
    box.hidden = button.hidden && steps.hidden;
  }

  window.addEventListener("beforeinstallprompt", (event) => {
    event.preventDefault(); // our button asks at a better moment than the browser's bar
    installPrompt = event;
    showInstall();
  });

  window.addEventListener("appinstalled", () => {
    installPrompt = null;
    const box = document.getElementById("install");
    if (box) box.hidden = true;
  });

  document.addEventListener("click", (event) => {
    if (!installPrompt || !event.target.closest || !event.target.closest("#install-button")) return;
    const prompt = installPrompt;
    installPrompt = null;
    prompt.prompt();
    Promise.resolve(prompt.userChoice).finally(showInstall);
  });

  // --- Notifications on this device (components/push_prompt.html): shown only where the
  // page includes the prompt, i.e. after a payment, in the profile and in the
  // notification settings; never on its own on a first load.
  function base64UrlBytes(text) {
    const padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (ch) => ch.charCodeAt(0));
  }

  function csrfHeader() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}");
    } catch (error) {
      return {};
    }
  }

  function pushMessage(box, name) {
    const messages = box.querySelector("#push-messages");
    box.querySelector("#push-state").textContent = messages ? messages.dataset[name] || "" : "";
  }

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json" }, csrfHeader()),
      body: JSON.stringify(body),
    }).then((response) => {
      if (!response.ok) throw new Error("HTTP " + response.status);
      return response;
    });
  }

  async function showPush() {
    const box = document.getElementById("push");
    if (!box || box.dataset.ready) return;
    box.dataset.ready = "1";
    const on = box.querySelector("#push-on");
    const off = box.querySelector("#push-off");
    if (isIphone() && !runsInstalled()) {
      box.querySelector("#push-ios").hidden = false; // Safari pushes to home-screen apps only
      box.hidden = false;
      return;
    }
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
    const registration = await navigator.serviceWorker.ready;
    const current = await registration.pushManager.getSubscription();
    const mine = current ? await isThisPersons(box, current) : false;
    // After a payment the prompt only offers: nothing to show once on, or when blocked.
    if ("offerOnly" in box.dataset && (mine || Notification.permission === "denied")) return;
    on.hidden = mine || Notification.permission === "denied";
    off.hidden = !mine;
    box.querySelector("#push-blocked").hidden = Notification.permission !== "denied" || mine;
    box.hidden = false;
    on.addEventListener("click", () => turnPushOn(box, registration));
    off.addEventListener("click", () => turnPushOff(box, registration));
  }

  // The browser's subscription may be left from the person who used this phone before
  // (signed out without this script, or never signed out): push is on for this person
  // only when the server holds it as theirs. Turning it on hands the device over.
  async function isThisPersons(box, subscription) {
    try {
      const response = await postJson(box.dataset.state, { endpoint: subscription.endpoint });
      return Boolean((await response.json()).on);
    } catch (error) {
      return false; // unknown: rather offer to turn it on than claim that it is on
    }
  }

  async function turnPushOn(box, registration) {
    try {
      if ((await Notification.requestPermission()) !== "granted") {
        box.querySelector("#push-blocked").hidden = false;
        box.querySelector("#push-on").hidden = true;
        return;
      }
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlBytes(box.dataset.pushKey),
      });
      await postJson(box.dataset.subscribe, subscription.toJSON());
      box.querySelector("#push-on").hidden = true;
      box.querySelector("#push-off").hidden = false;
      pushMessage(box, "on");
    } catch (error) {
      pushMessage(box, "failed");
    }
  }

  async function turnPushOff(box, registration) {
    const subscription = await registration.pushManager.getSubscription();
    if (subscription) {
      await postJson(box.dataset.unsubscribe, { endpoint: subscription.endpoint }).catch(() => {});
      await subscription.unsubscribe();
    }
    box.querySelector("#push-off").hidden = true;
    box.querySelector("#push-on").hidden = false;
    pushMessage(box, "off");
  }

  // --- Sign-out forgets the device's copy of personal data as the form goes, and ends
  // this browser's push subscription: on a shared phone the next person must not get the
  // notifications of the one who signed out. The push service drops the subscription
  // (a later push gets 410 and the server forgets any device left), and the form tells
  // the server its endpoint (push_endpoint), so that it forgets the device at once.
  const SIGN_OUT_PUSH_WAIT_MS = 3000; // a stuck push service never holds the sign-out

  async function endThisBrowsersPush(field) {
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) return;
    const registration = await navigator.serviceWorker.getRegistration();
    const subscription = registration ? await registration.pushManager.getSubscription() : null;
    if (!subscription) return;
    field.value = subscription.endpoint;
    await subscription.unsubscribe();
  }

  // The server is asked first: with some network but not ours (a flaky connection) the
  // form would leave the app for the browser's error page, the person still signed in.
  // Then nothing is forgotten or ended; the page goes to offline mode, which says why
  // the button is off and brings it back with the server.
  async function signOut(form) {
    if (!(await serverAnswers())) {
      goOffline();
      return false;
    }
    forgetPersonalData();
    const field = form.querySelector("input[name=push_endpoint]");
    if (field) {
      // Ending a staff member's view has no field: no push of theirs to end.
      const waited = new Promise((resolve) => setTimeout(resolve, SIGN_OUT_PUSH_WAIT_MS));
      await Promise.race([endThisBrowsersPush(field), waited]).catch(() => {});
    }
    return true;
  }

  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.matches || !form.matches("form[data-sign-out]")) return;
    event.preventDefault();
    if (form.dataset.signingOut) return; // a second press while the first goes on
    form.dataset.signingOut = "1";
    signOut(form).catch(() => true).then((go) => {
      if (go) form.submit(); // submit() fires no submit event: no second round
      else delete form.dataset.signingOut;
    });
  }, true);

  // --- Toasts the server asks for with HX-Trigger: {"toast": "text"}.
  document.addEventListener("toast", (event) => {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = document.createElement("p");
    item.className = "toast";
    item.textContent = String(event.detail.value || "");
    box.appendChild(item);
    setTimeout(() => item.remove(), 5000);
  });

  // --- Each page, loaded or swapped in by htmx.
  function enhance(root) {
    if (!root.querySelector) return;
    const password = root.querySelector("#password");
    if (password && !password.dataset.watched) {
      password.dataset.watched = "1";
      watchPassword(password);
    }
    const card = root.matches && root.matches("[data-summary]") ? root : root.querySelector("[data-summary]");
    if (card) saveSummary(card);
    showInstall();
    showPush().catch(() => {});
  }

  function start() {
    const body = document.body;
    if (body.dataset.signedIn === "no" && !body.dataset.shell) forgetPersonalData();
    enhance(document);
    if (body.dataset.shell === "offline") {
      showLastKnown();
      document.getElementById("retry").addEventListener("click", () => location.reload());
      goOffline();
    } else if (!navigator.onLine) {
      goOffline();
    }
  }

  // Print buttons (the receipt): no inline handlers under the strict CSP.
  document.addEventListener("click", (event) => {
    const button = event.target.closest ? event.target.closest("[data-print]") : null;
    if (button) window.print();
  });

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:load", (event) => enhance(event.target));

  if ("serviceWorker" in navigator) {
    window.addEventListener("load", () => {
      const body = document.body;
      navigator.serviceWorker.register(body.dataset.sw, { scope: body.dataset.scope }).catch(() => {});
    });
  }
})();
