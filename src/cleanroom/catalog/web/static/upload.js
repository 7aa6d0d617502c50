// The "Upload a dataset file" page of the admin pages: hashes the chosen file (SHA-256, in
// the browser), declares it, sends it in chunks with a progress bar, resumes from the
// server's offset when a chunk fails, asks the server to check it, then registers it with
// the page's form (a plain POST to the register page) when a dataset name is given.
// Served by the catalog service itself; the page's CSP allows this file and nothing inline.
"use strict";

(function () {
  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2,
  ]);

  // SHA-256 fed in pieces (the browser's crypto.subtle wants the whole file in memory).
  class Sha256 {
    constructor() {
      this.h = new Uint32Array([
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
      ]);
      this.w = new Uint32Array(64);
      this.buf = new Uint8Array(64);
      this.bufLen = 0;
      this.bytes = 0;
    }

    block(d, off) {
      const w = this.w;
      const H = this.h;
      for (let t = 0; t < 16; t++) {
        const j = off + 4 * t;
        w[t] = (d[j] << 24) | (d[j + 1] << 16) | (d[j + 2] << 8) | d[j + 3];
      }
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15];
        const y = w[t - 2];
        const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
        const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) | 0;
      }
      let a = H[0], b = H[1], c = H[2], d0 = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (let t = 0; t < 64; t++) {
        const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
        const ch = (e & f) ^ (~e & g);
        const t1 = (h + S1 + ch + K[t] + w[t]) | 0;
        const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
        const maj = (a & b) ^ (a & c) ^ (b & c);
        const t2 = (S0 + maj) | 0;
        h = g;
        g = f;
        f = e;
        e = (d0 + t1) | 0;
        d0 = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      H[0] += a;
      H[1] += b;
      H[2] += c;
      H[3] += d0;
      H[4] += e;
      H[5] += f;
      H[6] += g;
      H[7] += h;
    }

    update(data) {
      const n = data.length;
      let i = 0;
      this.bytes += n;
      if (this.bufLen) {
        const take = Math.min(64 - this.bufLen, n);
        this.buf.set(data.subarray(0, take), this.bufLen);
        this.bufLen += take;
        i = take;
        if (this.bufLen === 64) {
          this.block(this.buf, 0);
          this.bufLen = 0;
        }
      }
      for (; i + 64 <= n; i += 64) this.block(data, i);
      if (i < n) {
        this.buf.set(data.subarray(i), 0);
        this.bufLen = n - i;
      }
    }

    hex() {
      const size = this.bufLen < 56 ? 64 : 128;
      const tail = new Uint8Array(size);
      tail.set(this.buf.subarray(0, this.bufLen));
      tail[this.bufLen] = 0x80;
      const view = new DataView(tail.buffer);
      view.setUint32(size - 8, Math.floor(this.bytes / 0x20000000));
      view.setUint32(size - 4, (this.bytes * 8) >>> 0);
      for (let i = 0; i < size; i += 64) this.block(tail, i);
      return Array.from(this.h, (x) => x.toString(16).padStart(8, "0")).join("");
    }
  }

  // For a test runner outside the browser (node): the hash alone.
  if (typeof module !== "undefined") {
    module.exports = { Sha256 };
    return;
  }

  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("upload-input");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const fileField = document.getElementById("upload-file-name");
  const button = document.getElementById("upload-button");
  const api = form.dataset.uploads;
  const prefix = form.dataset.prefix;
  const maxBytes = Number(form.dataset.max);
  const chunkBytes = Number(form.dataset.chunk);
  const xsrf = form.querySelector('input[name="_xsrf"]').value;
  const RETRIES = 3;
  let current = null; // {key, id}: the upload to resume when Upload is pressed again
  let busy = false;

  class Refused extends Error {}

  const field = (name) => form.elements.namedItem(name);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const percent = (done, total) => Math.floor((done * 100) / Math.max(1, total));

  function say(text, bad, link) {
    status.textContent = text;
    status.className = bad ? "error" : "notice";
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      status.append(" ", a);
    }
  }

  function show(done, total) {
    bar.max = total;
    bar.value = done;
    bar.textContent = `${percent(done, total)}%`;
  }

  async function call(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method,
        body,
        credentials: "same-origin",
        headers: { "X-XSRFToken": xsrf, "Content-Type": "application/json" },
      });
    } catch (error) {
      return { status: 0, data: { error: "the connection to the server dropped" } };
    }
    let data = {};
    try {
      data = await response.json();
    } catch (error) {
      data = { error: `the server answered ${response.status}` };
    }
    return { status: response.status, data };
  }

  function putChunk(url, blob, onProgress) {
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-XSRFToken", xsrf);
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = (event) => onProgress(event.loaded);
      xhr.onload = () => {
        let data = {};
        try {
          data = JSON.parse(xhr.responseText);
        } catch (error) {
          data = { error: `the server answered ${xhr.status}` };
        }
        resolve({ status: xhr.status, data });
      };
      xhr.onerror = () => resolve({ status: 0, data: { error: "the connection dropped" } });
      xhr.send(blob);
    });
  }

  async function hashFile(file) {
    const sha = new Sha256();
    for (let offset = 0; offset < file.size; offset += chunkBytes) {
      const piece = file.slice(offset, Math.min(file.size, offset + chunkBytes));
      sha.update(new Uint8Array(await piece.arrayBuffer()));
      say(`Computing the file's SHA-256: ${percent(offset + piece.size, file.size)}%`);
    }
    return sha.hex();
  }

  async function declare(file, key) {
    const sha256 = await hashFile(file);
    const r = await call(
      "POST",
      api,
      JSON.stringify({
        filename: file.name,
        size: file.size,
        sha256,
        contributor_column: field("contributor_column").value,
        mapping: field("mapping").value,
        values_are_orgs: field("values_are_orgs").checked,
      }),
    );
    if (r.status !== 201) throw new Refused(r.data.error || `the server answered ${r.status}`);
    current = { key, id: r.data.id };
    return r.data;
  }

  async function send(file, url, from) {
    let offset = from;
    let failures = 0;
    show(offset, file.size);
    while (offset < file.size) {
      const end = Math.min(file.size, offset + chunkBytes);
      const start = offset;
      const r = await putChunk(`${url}?offset=${start}`, file.slice(start, end), (loaded) =>
        show(start + loaded, file.size),
      );
      if (r.status === 200) {
        offset = r.data.offset;
        failures = 0;
        show(offset, file.size);
        say(`Uploading ${file.name}: ${percent(offset, file.size)}%`);
        continue;
      }
      if (r.status === 409 && typeof r.data.offset === "number") {
        offset = r.data.offset; // the server has another offset: resume from there
        continue;
      }
      if (r.status >= 400 && r.status < 500) throw new Refused(r.data.error);
      failures += 1;
      if (failures > RETRIES) {
        show(offset, file.size);
        throw new Refused(
          `The upload stopped at ${percent(offset, file.size)}% (${r.data.error}). ` +
            "Press Upload again to resume from what the server has.",
        );
      }
      say(`The connection dropped; trying again (${failures} of ${RETRIES})…`);
      await sleep(500 * 2 ** failures);
      const s = await call("GET", url);
      if (s.status === 200) offset = s.data.offset;
    }
  }

  async function check(url, start) {
    say("Checking the file on the server (SHA-256, type, contributors)…");
    if (start) {
      const r = await call("POST", `${url}/check`);
      if (r.status !== 202) throw new Refused(r.data.error);
    }
    for (;;) {
      await sleep(500);
      const s = await call("GET", url);
      if (s.status === 0) continue;
      if (s.status !== 200) throw new Refused(s.data.error);
      if (s.data.state === "done") return s.data;
      if (s.data.state === "refused") {
        current = null;
        throw new Refused(`Refused: ${s.data.message}. Nothing was added to the import directory.`);
      }
    }
  }

  async function upload(file) {
    const key = `${file.name}|${file.size}|${file.lastModified}`;
    let state = null;
    if (current && current.key === key) {
      const s = await call("GET", `${api}/${current.id}`);
      if (s.status === 200) state = s.data;
      else if (s.status !== 404) throw new Refused(s.data.error);
    }
    if (!state || state.state === "refused") state = await declare(file, key);
    const url = `${api}/${state.id}`;
    let done = state;
    if (state.state === "receiving") {
      await send(file, url, state.offset);
      done = await check(url, true);
    } else if (state.state === "checking") {
      done = await check(url, false);
    }
    current = null;
    fileField.value = done.file;
    if (field("name").value.trim()) {
      say(`${done.file} is uploaded and checked; registering it…`);
      form.submit();
      return;
    }
    say(`${done.file} is uploaded, checked and in the import directory.`, false, {
      href: `${prefix}datasets/new-dataset`,
      text: "Register it",
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    const file = input.files[0];
    if (!file) {
      say("Choose a file first.", true);
      return;
    }
    if (file.size > maxBytes) {
      say(`${file.name} has ${file.size} bytes, more than the ${maxBytes} an upload may have.`, true);
      return;
    }
    busy = true;
    button.disabled = true;
    try {
      await upload(file);
    } catch (error) {
      say(error instanceof Refused ? error.message : `The upload failed: ${error}`, true);
    } finally {
      busy = false;
      button.disabled = false;
    }
  });
})();
