// The portal's service worker. The app serves this file at /sw.js with SHELL filled in
// (portal/web/pwa/shell.py): the release's version and the URLs of the shell to keep.
//
// What it keeps: only the shell — the offline page (drawn with nothing personal on it),
// the stylesheets, scripts, icons and the manifest, all public. Pages are personal and
// always come from the network; a POST and the sign-in page are never stored.
"use strict";

const SHELL = /* shell */ {"version": "dev", "offline": "/offline", "precache": ["/offline"]} /* shell */;
const CACHE_PREFIX = "shell-";
const CACHE = CACHE_PREFIX + SHELL.version;

self.addEventListener("install", (event) => {
  // All or nothing: a shell with a file missing would not open offline.
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(SHELL.precache)).then(() => self.skipWaiting())
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    Promise.all([deleteOtherCaches(), enableNavigationPreload()]).then(() => self.clients.claim())
  );
});

// A new release replaces the old shell whole: every other cache goes.
async function deleteOtherCaches() {
  const names = await caches.keys();
  await Promise.all(names.filter((name) => name !== CACHE).map((name) => caches.delete(name)));
}

// The page request starts while the worker is still waking up.
async function enableNavigationPreload() {
  if (self.registration.navigationPreload) {
    await self.registration.navigationPreload.enable();
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return; // a POST goes to the network and nowhere else
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(pageOrOffline(event));
  } else if (url.searchParams.has("v")) {
    event.respondWith(fingerprinted(request));
  }
  // Anything else (htmx fragments, /ping): the network, as if there were no worker.
});

// Network first: pages are personal and never stored; with no network, the offline page.
async function pageOrOffline(event) {
  try {
    const preloaded = await event.preloadResponse;
    return preloaded || (await fetch(event.request));
  } catch (error) {
    const cache = await caches.open(CACHE);
    const offline = await cache.match(SHELL.offline, { ignoreVary: true });
    return offline || Response.error();
  }
}

// Cache first: a fingerprinted URL's content never changes, so a kept copy is current.
async function fingerprinted(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreVary: true });
  if (kept) return kept;
  const response = await fetch(request);
  // Only what the server itself calls immutable is kept: a "?v=" added to a personal
  // page's URL does not make it a static file.
  if (response.ok && /immutable/.test(response.headers.get("Cache-Control") || "")) {
    await cache.put(request, response.clone());
  }
  return response;
}

// --- Web push (portal/domain/push/sending.py sends {title, body, url, tag, icon, badge}).
self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch (error) {
    message = { body: event.data ? event.data.text() : "" };
  }
  const options = {
    body: message.body || "",
    icon: message.icon,
    badge: message.badge,
    tag: message.tag,
    data: { url: message.url || self.registration.scope },
  };
  event.waitUntil(self.registration.showNotification(message.title || "", options));
});

// A click focuses a window of the app already open (and takes it to the notification's
// page), or opens one.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = new URL(event.notification.data && event.notification.data.url || "/", self.location.origin);
  if (target.origin !== self.location.origin) return; // only the portal's own pages
  event.waitUntil(openOrFocus(target.href));
});

async function openOrFocus(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const mine = windows.find((client) => new URL(client.url).origin === self.location.origin);
  if (mine) {
    // Focusing needs the click's activation; without it the window is still taken there.
    const focused = await mine.focus().catch(() => null);
    return (focused || mine).navigate(url);
  }
  return self.clients.openWindow(url);
}
