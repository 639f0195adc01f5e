/**
 * The NBFT of the kernel lab's nBFT boot (lab/run-lab-tests.sh writes it on the host with
 * `node dist/test/support/nbft-fixture.js FILE` and boots the guest with `lab/vm-run.sh --acpitable FILE`):
 * - a host descriptor whose host NQN is flagged as administratively configured (stafd must use it);
 * - one HFI whose MAC is lo's 00:00:00:00:00:00 (the guest has no NIC): stafd binds the DC to `lo`;
 * - discovery entry 1: nvmet's discovery port, nvme+tcp://127.0.0.1:8009/, no NQN (the well-known one);
 * - discovery entry 2: a hostile URI that tries to inject a connect option: stafd must drop it with a warning;
 * - one SSNS (an I/O namespace), which stafd does not use.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildNbft, type NbftSpec } from './nbft-builder.js';

export const LAB_NBFT_HOST_NQN = 'nqn.2014-08.io.stas-lab:nbft-boot-host';
export const LAB_NBFT_HOSTILE_URI = 'nvme+tcp://127.0.0.1,hostnqn=nqn.2014-08.io.evil:x:8009/';

export const LAB_NBFT_SPEC: NbftSpec = {
  host: {
    nqn: LAB_NBFT_HOST_NQN,
    id: '6b1d3a52-8f0e-4c1e-9d43-5a1f0c2b7e90',
    idConfigured: true,
    nqnConfigured: true,
  },
  hfi: [{ index: 1, mac: '00:00:00:00:00:00', ipaddr: '127.0.0.1', prefix: 8, ipOrigin: 1 }],
  discovery: [
    { index: 1, hfiIndex: 1, uri: 'nvme+tcp://127.0.0.1:8009/' },
    { index: 2, hfiIndex: 1, uri: LAB_NBFT_HOSTILE_URI },
  ],
  ssns: [
    {
      index: 1,
      traddr: '127.0.0.1',
      trsvcid: '4420',
      nqn: 'nqn.2024-01.io.stas-lab:nbft-boot',
      primaryHfi: 1,
      nsid: 1,
    },
  ],
};

export function labNbft(): Buffer {
  return buildNbft(LAB_NBFT_SPEC);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: node dist/test/support/nbft-fixture.js FILE\n');
    process.exit(2);
  }
  writeFileSync(out, labNbft());
}
