// An independent Sparkplug B codec for the tests: Eclipse Tahu's JavaScript
// `sparkplug-payload` (protobufjs), not Lineside's Python encoder.
//
// stdin: JSON list of requests, one of
//   {"decode": "<base64 payload>"}                         -> the decoded payload
//   {"encode": {"timestamp": ms, "metrics": [{"name": ..., "type": "Boolean", "value": ...}]}}
//                                                          -> {"base64": "<payload>"}
// stdout: JSON list of answers, in order. 64-bit integers are given as numbers.
"use strict";
const path = require("path");
const sparkplug = require(path.join(process.env.SPARKPLUG_PAYLOAD_DIR, "node_modules", "sparkplug-payload")).get("spBv1.0");

function plain(v) {
  if (v === null || v === undefined) return v === undefined ? null : v;
  if (typeof v === "object" && typeof v.toNumber === "function" && "low" in v && "high" in v) return v.toNumber();
  if (v instanceof Uint8Array) return Buffer.from(v).toString("base64");
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) out[k] = plain(x);
    return out;
  }
  return v;
}

let input = "";
process.stdin.on("data", (c) => (input += c));
process.stdin.on("end", () => {
  const answers = JSON.parse(input).map((req) => {
    if (req.decode !== undefined) return plain(sparkplug.decodePayload(Buffer.from(req.decode, "base64")));
    return { base64: Buffer.from(sparkplug.encodePayload(req.encode)).toString("base64") };
  });
  process.stdout.write(JSON.stringify(answers));
});
