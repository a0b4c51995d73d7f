// 2-D points from a user's file: NumPy .npy (float32/float64, shape [n, 2], C order) or CSV
// (two numeric columns, optional header). Every problem is one message naming the file.

const MAX_POINTS = 1_000_000;

function check(name: string, values: Float32Array): Float32Array {
  const n = values.length / 2;
  if (n < 2) throw new Error(`${name}: ${n} point(s); training needs at least 2`);
  if (n > MAX_POINTS) throw new Error(`${name}: ${n} points; at most ${MAX_POINTS}`);
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]) || Math.abs(values[i]) > 1e6) {
      throw new Error(`${name}: value ${values[i]} at row ${Math.floor(i / 2)}; coordinates must be finite and within ±1e6`);
    }
  }
  return values;
}

export function parseNpy(name: string, bytes: Uint8Array): Float32Array {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b)) throw new Error(`${name}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const headerLen = major === 1 ? bytes[8] | (bytes[9] << 8) : bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (bytes[11] << 24);
  const start = major === 1 ? 10 : 12;
  if (start + headerLen > bytes.length) throw new Error(`${name}: truncated .npy header`);
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*True/.test(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (!descr || !shape) throw new Error(`${name}: unreadable .npy header`);
  if (fortran) throw new Error(`${name}: Fortran-ordered arrays are not accepted; save with C order`);
  if (shape.length !== 2 || shape[1] !== 2) throw new Error(`${name}: shape (${shape.join(', ')}); accepted: (n, 2)`);
  const n = shape[0] * 2;
  const data = bytes.subarray(start + headerLen);
  const copy = data.slice().buffer;
  let values: Float32Array;
  if (descr === '<f4') {
    if (data.length < n * 4) throw new Error(`${name}: truncated: ${data.length} data bytes for ${shape[0]} float32 rows`);
    values = new Float32Array(copy, 0, n).slice();
  } else if (descr === '<f8') {
    if (data.length < n * 8) throw new Error(`${name}: truncated: ${data.length} data bytes for ${shape[0]} float64 rows`);
    values = Float32Array.from(new Float64Array(copy, 0, n));
  } else {
    throw new Error(`${name}: dtype ${descr}; accepted: <f4 (float32), <f8 (float64)`);
  }
  return check(name, values);
}

export function parseCsv(name: string, text: string): Float32Array {
  const out: number[] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    const l = line.trim();
    if (l === '' || l.startsWith('#')) return;
    const cells = l.split(/[,;\s]+/);
    if (i === 0 && cells.some((c) => Number.isNaN(Number(c)))) return; // a header
    if (cells.length !== 2) throw new Error(`${name}: line ${i + 1} has ${cells.length} columns; accepted: 2 (x, y)`);
    const [x, y] = cells.map(Number);
    if (Number.isNaN(x) || Number.isNaN(y)) throw new Error(`${name}: line ${i + 1} is not two numbers: '${l.slice(0, 40)}'`);
    out.push(x, y);
  });
  return check(name, Float32Array.from(out));
}

export function parsePoints(name: string, bytes: Uint8Array): Float32Array {
  if (/\.npy$/i.test(name)) return parseNpy(name, bytes);
  return parseCsv(name, new TextDecoder().decode(bytes));
}
