// A throwaway CA and serving certificate for `--self-signed` (demos, tests, single replicas).
// Keys come from node:crypto; node-forge only assembles and signs the X.509 structures, which
// node:crypto cannot create.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface ServingCertificates {
  caPem: string;
  certPem: string;
  keyPem: string;
}

export interface SelfSignedRequest {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  validityDays?: number;
  now?: Date;
}

function rsaKeyPair(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const key = forge.pki.privateKeyFromPem(pem) as forge.pki.rsa.PrivateKey;
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e), pem };
}

function baseCertificate(publicKey: forge.pki.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // A positive serial: the high bit cleared so DER does not read it as negative.
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  return cert;
}

export function generateSelfSignedCertificates(request: SelfSignedRequest): ServingCertificates {
  const now = request.now ?? new Date();
  const days = request.validityDays ?? 365;
  const ca = rsaKeyPair();
  const caCert = baseCertificate(ca.publicKey, now, days);
  const caSubject = [{ name: 'commonName', value: 'meshinit self-signed CA' }];
  caCert.setSubject(caSubject);
  caCert.setIssuer(caSubject);
  caCert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const serving = rsaKeyPair();
  const cert = baseCertificate(serving.publicKey, now, days);
  cert.setSubject([{ name: 'commonName', value: request.dnsNames[0] ?? request.ipAddresses[0] ?? 'meshinit' }]);
  cert.setIssuer(caSubject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    // Kubernetes API servers check subjectAltName only, never the common name.
    { name: 'subjectAltName', altNames: [...request.dnsNames.map((value) => ({ type: 2, value })), ...request.ipAddresses.map((ip) => ({ type: 7, ip }))] },
  ]);
  cert.sign(ca.privateKey, forge.md.sha256.create());
  return { caPem: forge.pki.certificateToPem(caCert), certPem: forge.pki.certificateToPem(cert), keyPem: serving.pem };
}
