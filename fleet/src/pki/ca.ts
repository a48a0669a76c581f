/**
 * The fleet's own certificate authority, made at first start: a CA (RSA 2048, 10 years) and a server
 * certificate for the MQTT TLS listener signed by it (2 years; re-issued when the host names change
 * or it nears expiry). Node's crypto makes the keys and can parse X.509 but cannot issue
 * certificates; node-forge (pure JS, no dependencies) builds and signs them. Keys are written 0600
 * in `<dataDir>/pki/`.
 */
import forge from 'node-forge';
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';

const DAY = 86_400_000;

export interface FleetPki {
  /** PEM of the CA certificate: what gateways (and mosquitto_pub --cafile) trust. */
  caCert: string;
  serverCert: string;
  serverKey: string;
  dir: string;
}

function writeSecret(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function newKeys(): { privatePem: string; publicPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function baseCert(publicPem: string, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicPem);
  // Positive serial: first byte < 0x80.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  cert.validity.notBefore = new Date(Date.now() - DAY);
  cert.validity.notAfter = new Date(Date.now() + days * DAY);
  return cert;
}

function issueCa(dir: string): void {
  const keys = newKeys();
  const cert = baseCert(keys.publicPem, 3650);
  const name = [{ name: 'commonName', value: 'CityGate fleet CA' }];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privatePem), forge.md.sha256.create());
  writeSecret(join(dir, 'ca.key'), keys.privatePem);
  writeFileSync(join(dir, 'ca.crt'), forge.pki.certificateToPem(cert), { mode: 0o644 });
}

function issueServer(dir: string, hosts: readonly string[]): void {
  const ca = forge.pki.certificateFromPem(readFileSync(join(dir, 'ca.crt'), 'utf8'));
  const caKey = forge.pki.privateKeyFromPem(readFileSync(join(dir, 'ca.key'), 'utf8'));
  const keys = newKeys();
  const cert = baseCert(keys.publicPem, 730);
  cert.setSubject([{ name: 'commonName', value: hosts[0] ?? 'localhost' }]);
  cert.setIssuer(ca.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    {
      name: 'subjectAltName',
      altNames: hosts.map((h) => (isIP(h) ? { type: 7, ip: h } : { type: 2, value: h })),
    },
    { name: 'authorityKeyIdentifier', keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  writeSecret(join(dir, 'server.key'), keys.privatePem);
  writeFileSync(join(dir, 'server.crt'), forge.pki.certificateToPem(cert), { mode: 0o644 });
  writeFileSync(join(dir, 'server.hosts'), JSON.stringify([...hosts]) + '\n');
}

/** Does the stored server certificate still fit: same host names, signed by our CA, > 30 days left? */
function serverCertFits(dir: string, hosts: readonly string[]): boolean {
  try {
    const stored = JSON.parse(readFileSync(join(dir, 'server.hosts'), 'utf8')) as string[];
    if (JSON.stringify(stored) !== JSON.stringify([...hosts])) return false;
    const cert = new X509Certificate(readFileSync(join(dir, 'server.crt')));
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    return cert.verify(ca.publicKey) && Date.parse(cert.validTo) - Date.now() > 30 * DAY;
  } catch {
    return false;
  }
}

/** Load the CA and server certificate from `<dataDir>/pki`, creating what is missing. */
export function loadOrCreatePki(
  dataDir: string,
  hosts: readonly string[] = ['localhost', '127.0.0.1'],
): FleetPki {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (!existsSync(join(dir, 'ca.key')) || !existsSync(join(dir, 'ca.crt'))) issueCa(dir);
  if (!serverCertFits(dir, hosts)) issueServer(dir, hosts);
  return {
    dir,
    caCert: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    serverCert: readFileSync(join(dir, 'server.crt'), 'utf8'),
    serverKey: readFileSync(join(dir, 'server.key'), 'utf8'),
  };
}
