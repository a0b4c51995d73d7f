// Models trained in the page, kept in IndexedDB (database "scorelab", store "models",
// key: name, value: the .safetensors bytes), so nothing trained is lost on reload.

function db(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    if (typeof indexedDB === 'undefined') return reject(new Error('this browser has no IndexedDB'));
    const req = indexedDB.open('scorelab', 1);
    req.onupgradeneeded = () => req.result.createObjectStore('models');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error('IndexedDB failed to open'));
  });
}

function run<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  return db().then(
    (d) =>
      new Promise<T>((resolve, reject) => {
        const tx = d.transaction('models', mode);
        const req = f(tx.objectStore('models'));
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error ?? new Error('IndexedDB request failed'));
      }),
  );
}

export function saveModel(name: string, bytes: Uint8Array): Promise<IDBValidKey> {
  return run('readwrite', (s) => s.put(bytes.slice(), name));
}

export async function listModels(): Promise<string[]> {
  return (await run('readonly', (s) => s.getAllKeys())).map(String);
}

export async function loadModel(name: string): Promise<Uint8Array | null> {
  const v = await run('readonly', (s) => s.get(name));
  return v ? new Uint8Array(v as ArrayBuffer | Uint8Array) : null;
}
