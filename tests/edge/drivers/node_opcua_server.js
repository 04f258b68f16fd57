// An OPC UA server of another implementation than the agent's client (node-opcua), for
// tests/edge/drivers/node_opcua.py. Usage: node node_opcua_server.js PORT PKI_DIR
// Offers the security modes None and Basic256Sha256/SignAndEncrypt only (not Sign).
// Prints "READY" when listening; stops when its standard input closes.
// Only the server's packages, and the small standard nodeset node-opcua ships for tests:
// the full umbrella package and nodeset take several times longer to load.
const path = require("path");
const { OPCUAServer } = require("node-opcua-server");
const { OPCUACertificateManager } = require("node-opcua-certificate-manager");
const { MessageSecurityMode } = require("node-opcua-service-secure-channel");
const { SecurityPolicy } = require("node-opcua-secure-channel");
const { DataType } = require("node-opcua-variant");

async function main() {
  const port = parseInt(process.argv[2], 10);
  const pki = process.argv[3];
  const serverCertificateManager = new OPCUACertificateManager({
    rootFolder: path.join(pki, "pki"),
    automaticallyAcceptUnknownCertificate: true,
  });
  const server = new OPCUAServer({
    nodeset_filename: [require.resolve("node-opcua-address-space/nodesets/mini.Nodeset2.xml")],
    port,
    hostname: "127.0.0.1",
    resourcePath: "/ua",
    serverCertificateManager,
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
  });
  await server.initialize();
  const space = server.engine.addressSpace;
  const ns = space.getOwnNamespace();
  const line = ns.addObject({ organizedBy: space.rootFolder.objects, browseName: "Line" });
  const v = (name, dataType, value) =>
    ns.addVariable({
      componentOf: line,
      browseName: name,
      nodeId: `s=${name}`,
      dataType,
      accessLevel: "CurrentRead | CurrentWrite",
      userAccessLevel: "CurrentRead | CurrentWrite",
      value: { dataType: DataType[dataType], value },
    });
  v("Speed", "Double", 12.5);
  v("Product", "String", "WIDGET-A");
  v("Count", "UInt32", 4711);
  v("Setpoint", "Int16", 100);
  v("Limit", "UInt32", 5);
  await server.start();
  console.log("READY");
  process.stdin.on("end", () => process.exit(0)); // the test (or its process) is gone
  process.stdin.resume();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
