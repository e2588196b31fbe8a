/**
 * The broker's secured listeners: SASL_PLAINTEXT, and SSL or SASL_SSL, as server.properties entries and
 * the SCRAM credentials the storage is formatted with.
 */
export type SaslMechanismName = 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
export const SASL_MECHANISMS: readonly SaslMechanismName[] = ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512'];

export interface SaslUser {
  username: string;
  password: string;
}

/**
 * Authentication on the SASL listeners (SASL_PLAINTEXT, and SASL_SSL when `ssl.sasl` is set). PLAIN users
 * go into the listener's JAAS configuration; SCRAM credentials into the cluster metadata when the storage
 * is formatted (`--add-scram`), so they exist only in a data directory formatted with them.
 */
export interface SaslOptions {
  /** Port of the SASL_PLAINTEXT listener. */
  port: number;
  /** Default: all of SASL_MECHANISMS. */
  mechanisms?: readonly SaslMechanismName[];
  users: readonly SaslUser[];
  /**
   * ACLs on: the StandardAuthorizer lets SASL users do only what an ACL grants them (create ACLs through the
   * PLAINTEXT listener, e.g. kafkajs `admin.createAcls`), while PLAINTEXT clients and the controller
   * (User:ANONYMOUS) stay super users. Default false: every authenticated user may do everything.
   */
  acls?: boolean;
}

/** A TLS listener with the broker's key and certificate in a PKCS12 keystore (see makeSelfSignedKeystore). */
export interface SslOptions {
  port: number;
  keystorePath: string;
  keystorePassword: string;
  /** SASL_SSL (authentication by the `sasl` options over TLS) instead of SSL; needs `sasl`. */
  sasl?: boolean;
}

/**
 * The listeners. Clients always get PLAINTEXT on `port` (also the inter-broker listener, so that tools and
 * tests can administer the broker without credentials); `sasl` and `ssl` add listeners on their own ports.
 */
export interface ListenerOptions {
  host?: string;
  port: number;
  controllerPort: number;
  sasl?: SaslOptions;
  ssl?: SslOptions;
  /** The PLAINTEXT listener is always there; kept for callers that name it. */
  securityProtocol?: 'PLAINTEXT';
}

/** Names and passwords go unquoted into JAAS, properties and `--add-scram` syntax: keep them to safe characters. */
const SAFE_CREDENTIAL = /^[A-Za-z0-9._@%+-]{1,128}$/;

function checkSasl(sasl: SaslOptions): readonly SaslMechanismName[] {
  const mechanisms = sasl.mechanisms ?? SASL_MECHANISMS;
  if (mechanisms.length === 0) throw new Error('sasl.mechanisms is empty');
  for (const u of sasl.users) {
    if (!SAFE_CREDENTIAL.test(u.username) || !SAFE_CREDENTIAL.test(u.password)) {
      throw new Error(`SASL user "${u.username.slice(0, 40)}": names and passwords must be 1..128 of [A-Za-z0-9._@%+-]`);
    }
  }
  return mechanisms;
}

/** Broker properties of the SASL and TLS listeners: listener entries and settings, keyed by property. */
export function securedListeners(opts: ListenerOptions, host: string): { listeners: string[]; protocols: string[]; props: Record<string, string> } {
  const listeners: string[] = [];
  const protocols: string[] = [];
  const props: Record<string, string> = {};
  const saslListeners: string[] = [];
  if (opts.sasl) {
    listeners.push(`SASL_PLAINTEXT://${host}:${opts.sasl.port}`);
    protocols.push('SASL_PLAINTEXT:SASL_PLAINTEXT');
    saslListeners.push('sasl_plaintext');
  }
  if (opts.ssl) {
    const name = opts.ssl.sasl ? 'SASL_SSL' : 'SSL';
    if (opts.ssl.sasl && !opts.sasl) throw new Error('ssl.sasl needs the sasl options (users and mechanisms)');
    listeners.push(`${name}://${host}:${opts.ssl.port}`);
    protocols.push(`${name}:${name}`);
    if (opts.ssl.sasl) saslListeners.push('sasl_ssl');
    const prefix = `listener.name.${name.toLowerCase()}`;
    props[`${prefix}.ssl.keystore.type`] = 'PKCS12';
    props[`${prefix}.ssl.keystore.location`] = opts.ssl.keystorePath;
    props[`${prefix}.ssl.keystore.password`] = opts.ssl.keystorePassword;
    props[`${prefix}.ssl.key.password`] = opts.ssl.keystorePassword;
    props[`${prefix}.ssl.client.auth`] = 'none';
  }
  if (opts.sasl) {
    const mechanisms = checkSasl(opts.sasl);
    props['sasl.enabled.mechanisms'] = mechanisms.join(',');
    const plainUsers = opts.sasl.users.map((u) => `user_${u.username}="${u.password}"`).join(' ');
    for (const listener of saslListeners) {
      for (const m of mechanisms) {
        props[`listener.name.${listener}.${m.toLowerCase()}.sasl.jaas.config`] =
          m === 'PLAIN'
            ? `org.apache.kafka.common.security.plain.PlainLoginModule required ${plainUsers};`
            : 'org.apache.kafka.common.security.scram.ScramLoginModule required;';
      }
    }
    if (opts.sasl.acls) {
      props['authorizer.class.name'] = 'org.apache.kafka.metadata.authorizer.StandardAuthorizer';
      props['super.users'] = 'User:ANONYMOUS';
    }
  }
  return { listeners, protocols, props };
}

/** `--add-scram` arguments of the storage format: one credential per user and SCRAM mechanism. */
export function scramFormatArgs(sasl: SaslOptions | undefined): string[] {
  if (!sasl) return [];
  const scram = checkSasl(sasl).filter((m) => m !== 'PLAIN');
  return scram.flatMap((m) => sasl.users.flatMap((u) => ['--add-scram', `${m}=[name=${u.username},password=${u.password}]`]));
}
