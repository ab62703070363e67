// The first half of the torch.save round trip (scripts/gen_torch_fixtures.py --roundtrip is the
// second): stride reads torch's every_dtype.pt and writes it again with encodeTorchCheckpoint, as
// test/fixtures/torch/stride_written.pt. Run after `npx tsc -p tsconfig.json`:
//   node scripts/write_torch_roundtrip_fixture.mjs && /usr/bin/python3 scripts/gen_torch_fixtures.py --roundtrip
import { readFileSync, writeFileSync } from "node:fs";
import { readTorchCheckpoint, encodeTorchCheckpoint } from "../dist/src/index.js";

const dir = new URL("../test/fixtures/torch/", import.meta.url);
const entries = readTorchCheckpoint(readFileSync(new URL("every_dtype.pt", dir)), "every_dtype.pt");
writeFileSync(new URL("stride_written.pt", dir), encodeTorchCheckpoint(entries));
console.log(`wrote test/fixtures/torch/stride_written.pt (${entries.size} tensors)`);
