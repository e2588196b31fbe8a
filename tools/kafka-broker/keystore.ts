/** TLS material for a broker's SSL listener in tests: a self-signed certificate made with the JDK's keytool. */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { packagePath } from '../../src/config/package-root.ts';
import { run } from './processes.ts';

export interface SelfSignedKeystore {
  /** PKCS12 keystore with the broker's key and its self-signed certificate (for SslOptions). */
  keystorePath: string;
  keystorePassword: string;
  /** The certificate in PEM: what clients trust (KAFKA_TLS_CA_FILE). */
  certificatePath: string;
}

/**
 * A key pair and a self-signed certificate for `host` (as IP and DNS subject alternative names), made with
 * the JDK's keytool into `dir`: enough for a TLS listener that clients verify against the certificate.
 */
export async function makeSelfSignedKeystore(dir: string, host = '127.0.0.1', validityDays = 2): Promise<SelfSignedKeystore> {
  const root = packagePath(dir);
  await mkdir(root, { recursive: true });
  const keystorePath = join(root, 'broker.p12');
  const certificatePath = join(root, 'broker-cert.pem');
  const keystorePassword = randomBytes(12).toString('hex');
  const keytool = process.env.KEYTOOL ?? 'keytool';
  const san = /^[\d.]+$/.test(host) ? `IP:${host},DNS:localhost` : `DNS:${host}`;
  const store = ['-keystore', keystorePath, '-storetype', 'PKCS12', '-storepass', keystorePassword];
  await rm(keystorePath, { force: true });
  await run(keytool, ['-genkeypair', '-alias', 'broker', '-keyalg', 'RSA', '-keysize', '2048', '-validity', String(validityDays), '-dname', `CN=${host}`, '-ext', `SAN=${san}`, '-keypass', keystorePassword, ...store], { timeoutMs: 60_000 });
  await run(keytool, ['-exportcert', '-rfc', '-alias', 'broker', '-file', certificatePath, ...store], { timeoutMs: 60_000 });
  return { keystorePath, keystorePassword, certificatePath };
}
