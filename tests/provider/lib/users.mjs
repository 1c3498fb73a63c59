// Static users from the config file, the way Dex's `staticPasswords` works.
import { createHash } from 'node:crypto';

// Dex's `sub` is base64url(protobuf{1: user id, 2: connector id}): opaque to clients. Doing the
// same keeps tests honest about treating `sub` as opaque.
function dexSubject(userId, connectorId) {
  const field = (tag, s) => Buffer.concat([Buffer.from([tag, Buffer.byteLength(s)]), Buffer.from(s)]);
  return Buffer.concat([field(0x0a, userId), field(0x12, connectorId)]).toString('base64url');
}

export class Users {
  constructor(list) {
    this.all = list.map((u) => ({
      groups: [],
      email_verified: true,
      name: u.email.split('@')[0],
      preferred_username: u.email.split('@')[0],
      ...u,
      sub: u.sub ?? dexSubject(createHash('sha256').update(u.email).digest('hex').slice(0, 32), 'local'),
    }));
  }

  byEmail(email) {
    return this.all.find((u) => u.email === email);
  }

  bySub(sub) {
    return this.all.find((u) => u.sub === sub);
  }

  // oidc-provider's findAccount: which claims each scope releases is in `claims` config.
  account(sub) {
    const user = this.bySub(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      claims: async () => ({
        sub,
        email: user.email,
        email_verified: user.email_verified,
        name: user.name,
        preferred_username: user.preferred_username,
        groups: user.groups,
      }),
    };
  }

  // Public view for the control API (no passwords).
  describe() {
    return this.all.map(({ password, ...u }) => u);
  }
}
