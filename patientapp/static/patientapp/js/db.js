// The phone's own storage (IndexedDB), shared by the page and the service worker.
// Stores: kv (tokens, profile, catalog, checkpoints, settings), outbox (records saved on
// the phone and not yet accepted by the server), records (the local copy of the diary).
const NAME = "crossroad";
const VERSION = 1;
let opening = null;

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(NAME, VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        db.createObjectStore("kv");
        db.createObjectStore("outbox", { keyPath: "id" }).createIndex("saved", "saved_at");
        db.createObjectStore("records", { keyPath: "id" }).createIndex("patient", "patient");
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading or deleting the database: let it, and reopen next time.
        db.onversionchange = () => { db.close(); opening = null; };
        resolve(db);
      };
      request.onerror = () => { opening = null; reject(request.error); };
    });
  }
  return opening;
}

function done(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function store(name, mode = "readonly") {
  return (await open()).transaction(name, mode).objectStore(name);
}

export async function get(name, key) { return done((await store(name)).get(key)); }
export async function all(name) { return done((await store(name)).getAll()); }
export async function count(name) { return done((await store(name)).count()); }
export async function put(name, value, key) {
  return done((await store(name, "readwrite")).put(value, key));
}
export async function remove(name, key) { return done((await store(name, "readwrite")).delete(key)); }

// Several rows in one transaction: all are written or none.
export async function putMany(name, values) {
  const tx = (await open()).transaction(name, "readwrite");
  const target = tx.objectStore(name);
  for (const value of values) target.put(value);
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

// Rows into several stores in one transaction: {outbox: [...], records: [...]}.
export async function putInto(rows) {
  const names = Object.keys(rows);
  const tx = (await open()).transaction(names, "readwrite");
  for (const name of names) for (const value of rows[name]) tx.objectStore(name).put(value);
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

export const kv = {
  get: (key) => get("kv", key),
  set: (key, value) => put("kv", value, key),
  remove: (key) => remove("kv", key),
};

// Logout on a shared family phone: nothing of this person stays behind.
export async function wipe() {
  const db = await open();
  const tx = db.transaction(["kv", "outbox", "records"], "readwrite");
  for (const name of ["kv", "outbox", "records"]) tx.objectStore(name).clear();
  await new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}
