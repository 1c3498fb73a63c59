// A process-wide storage adapter for oidc-provider.
//
// Why not the built-in MemoryAdapter: key rotation builds a new Provider instance (the signing
// keys are fixed at construction), and sessions, grants and refresh tokens must survive the
// swap. One Store shared by every instance does that. The store can also be dumped to a file
// on shutdown and loaded at start, so that a stop()/start() of the test provider (an outage)
// keeps the refresh tokens the sidecar holds, as Dex does with its database.
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';

const epoch = () => Math.floor(Date.now() / 1000);

export class Store {
  // key `${model}:${id}` -> { payload, expiresAt (epoch seconds) | null }
  #entries = new Map();

  get(model, id) {
    const entry = this.#entries.get(`${model}:${id}`);
    if (!entry) return undefined;
    if (entry.expiresAt !== null && entry.expiresAt <= epoch()) {
      this.#entries.delete(`${model}:${id}`);
      return undefined;
    }
    return entry.payload;
  }

  set(model, id, payload, expiresIn) {
    const expiresAt = typeof expiresIn === 'number' ? epoch() + expiresIn : null;
    this.#entries.set(`${model}:${id}`, { payload, expiresAt });
  }

  delete(model, id) {
    this.#entries.delete(`${model}:${id}`);
  }

  // Yields [model, id, payload] for live entries; used by lookups by uid/grant/account.
  *entries() {
    for (const [key, { payload, expiresAt }] of this.#entries) {
      if (expiresAt !== null && expiresAt <= epoch()) continue;
      const sep = key.indexOf(':');
      yield [key.slice(0, sep), key.slice(sep + 1), payload];
    }
  }

  save(file) {
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, JSON.stringify([...this.#entries]), { mode: 0o600 });
    renameSync(tmp, file);
  }

  load(file) {
    if (!existsSync(file)) return;
    this.#entries = new Map(JSON.parse(readFileSync(file, 'utf8')));
  }
}

// Grant-bound models: revokeByGrantId deletes these.
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode']);

// Builds the adapter class oidc-provider instantiates once per model name.
export function adapterFor(store) {
  return class SharedAdapter {
    constructor(model) {
      this.model = model;
    }

    async upsert(id, payload, expiresIn) {
      store.set(this.model, id, payload, expiresIn);
    }

    async find(id) {
      return store.get(this.model, id);
    }

    async findByUid(uid) {
      for (const [model, , payload] of store.entries()) {
        if (model === this.model && payload.uid === uid) return payload;
      }
      return undefined;
    }

    async findByUserCode(userCode) {
      for (const [model, , payload] of store.entries()) {
        if (model === this.model && payload.userCode === userCode) return payload;
      }
      return undefined;
    }

    // Marks a token used; oidc-provider refuses (and revokes the grant on) a consumed
    // refresh token: the "claimed twice" behaviour of Dex.
    async consume(id) {
      const payload = store.get(this.model, id);
      if (payload) payload.consumed = epoch();
    }

    async destroy(id) {
      store.delete(this.model, id);
    }

    async revokeByGrantId(grantId) {
      for (const [model, id, payload] of [...store.entries()]) {
        if (GRANTABLE.has(model) && payload.grantId === grantId) store.delete(model, id);
      }
    }
  };
}

// Deletes every grant (with its tokens) and every session of an account: the next refresh of
// any of its refresh tokens then fails with invalid_grant.
export function revokeAccount(store, accountId) {
  let grants = 0;
  for (const [model, id, payload] of [...store.entries()]) {
    if (payload.accountId !== accountId) continue;
    if (model === 'Grant') grants += 1;
    if (model === 'Grant' || model === 'Session' || GRANTABLE.has(model)) store.delete(model, id);
  }
  return grants;
}
