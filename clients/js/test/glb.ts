// Test fixture: the smallest valid GLB the server accepts (glTF 2.0 binary: one red
// triangle, its positions in the BIN chunk). Shared with clients/web's tests.

export function triangleGlb(): Uint8Array {
  const positions = new Float32Array([0, 0, 0, 1, 0, 0, 0, 1, 0]);
  const bin = new Uint8Array(positions.buffer);
  const json = JSON.stringify({
    asset: { version: "2.0", generator: "plaza-test" },
    buffers: [{ byteLength: bin.length }],
    bufferViews: [{ buffer: 0, byteLength: bin.length }],
    accessors: [{ bufferView: 0, componentType: 5126, count: 3, type: "VEC3", min: [0, 0, 0], max: [1, 1, 0] }],
    materials: [{ pbrMetallicRoughness: { baseColorFactor: [0.9, 0.1, 0.1, 1] }, doubleSided: true }],
    meshes: [{ primitives: [{ attributes: { POSITION: 0 }, material: 0 }] }],
    nodes: [{ mesh: 0 }],
    scenes: [{ nodes: [0] }],
    scene: 0,
  });
  const pad = (n: number) => (4 - (n % 4)) % 4;
  const jsonBytes = new TextEncoder().encode(json + " ".repeat(pad(json.length)));
  const binBytes = new Uint8Array(bin.length + pad(bin.length));
  binBytes.set(bin);
  const total = 12 + 8 + jsonBytes.length + 8 + binBytes.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode("glTF"), 0);
  view.setUint32(4, 2, true);
  view.setUint32(8, total, true);
  let at = 12;
  for (const [data, type] of [
    [jsonBytes, "JSON"],
    [binBytes, "BIN\0"],
  ] as const) {
    view.setUint32(at, data.length, true);
    out.set(new TextEncoder().encode(type), at + 4);
    out.set(data, at + 8);
    at += 8 + data.length;
  }
  return out;
}
