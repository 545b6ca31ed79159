// Crossroad patient app service worker, shell {{ version }}.
// Cache-first for the app shell (a versioned cache, old ones removed on activate); the
// network, never a cache, for everything else: API answers hold patient data, and the
// app keeps what it needs of them in IndexedDB on purpose.
import { drain } from "/static/patientapp/js/sync.js";

const VERSION = "{{ version }}";
const CACHE = `crossroad-shell-${VERSION}`;
const SHELL = {{ shell_urls|safe }};

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(names.filter((n) => n.startsWith("crossroad-shell-") && n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/")) return; // patient data: the network only
  if (event.request.mode === "navigate" && url.pathname.startsWith("/app/")) {
    event.respondWith(caches.match("/app/").then((hit) => hit || fetch(event.request)));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(event.request)));
  }
});

// Background sync where the browser has it: the outbox drains even with the app closed.
self.addEventListener("sync", (event) => {
  if (event.tag !== "outbox") return;
  event.waitUntil(
    drain().then(async () => {
      for (const client of await self.clients.matchAll()) client.postMessage("synced");
    }),
  );
});

self.addEventListener("push", (event) => {
  let message = {};
  try {
    message = event.data ? event.data.json() : {};
  } catch {
    message = {};
  }
  event.waitUntil(
    self.registration.showNotification(message.title || "Crossroad", {
      body: message.body || "",
      tag: message.key,
      icon: "/static/patientapp/icons/icon-192.png",
      data: { kind: message.kind },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window" }).then((windows) => {
      const open = windows.find((w) => new URL(w.url).pathname.startsWith("/app/"));
      return open ? open.focus() : self.clients.openWindow(event.notification.data.kind === "reminder" ? "/app/#/checkin" : "/app/");
    }),
  );
});
