/**
 * The stafd lab scenarios of stafd.test.ts, (a) to (i), with stafd's userspace NVMe/TCP host (`kernel-discovery =
 * false`, the opt-in alternative to kernel discovery controllers). stafd.test.ts runs them with stafd's default, the
 * kernel's host; here the same scenarios run once more, every stafd.conf they write carrying kernel-discovery =
 * false (support/stafd-run.ts: stafdConf, labDcHost).
 *
 * Runs inside the kernel lab guest (npm run test:lab); skipped anywhere else.
 */
process.env['STAS_LAB_DC_HOST'] = 'userspace';
await import('./stafd.test.js');
