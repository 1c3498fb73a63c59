// Signing keys, kept in a file in the test's temporary directory (never committed): a restart
// of the provider (an outage test) keeps the same keys, as Dex keeps them in its storage.
//
// Like Dex: RS256 over RSA-2048; the newest key signs; a rotated-out key stays published in
// the JWKS until it is dropped explicitly.
import { generateKeyPairSync, randomBytes, createPublicKey } from 'node:crypto';
import { readFileSync, writeFileSync, renameSync, existsSync } from 'node:fs';

function newSigningKey() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  // Opaque hex kid, like Dex's.
  return { ...jwk, kid: randomBytes(20).toString('hex'), alg: 'RS256', use: 'sig' };
}

export class KeyRing {
  constructor(file) {
    this.file = file;
    if (existsSync(file)) {
      const saved = JSON.parse(readFileSync(file, 'utf8'));
      this.signing = saved.signing;
      this.cookieKeys = saved.cookieKeys;
    } else {
      this.signing = [newSigningKey()];
      this.cookieKeys = [randomBytes(32).toString('base64url')];
      this.save();
    }
  }

  save() {
    const tmp = `${this.file}.tmp`;
    const data = { signing: this.signing, cookieKeys: this.cookieKeys };
    writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  // A new key signs from now on; the previous ones stay published.
  rotate() {
    this.signing = [newSigningKey(), ...this.signing];
    this.save();
    return this.signing[0].kid;
  }

  // Keeps only the signing key: tokens signed by older keys stop verifying.
  dropOld() {
    const dropped = this.signing.slice(1).map((k) => k.kid);
    this.signing = this.signing.slice(0, 1);
    this.save();
    return dropped;
  }

  // What oidc-provider signs with: the first key of the set is the one it picks.
  privateJwks() {
    return { keys: this.signing.map((k) => ({ ...k })) };
  }

  // What the JWKS endpoint publishes: public parts only.
  publicJwks() {
    return {
      keys: this.signing.map(({ kid, alg, use, ...jwk }) => ({
        ...createPublicKey({ key: jwk, format: 'jwk' }).export({ format: 'jwk' }),
        kid,
        alg,
        use,
      })),
    };
  }
}
