'use strict';
// orq-otel's baggage wire format v2, for Node.js, written from the project README alone
// ("Across services: the baggage wire format", "Trust: signed identity ..." and the
// "Identity" field table). The codec uses Node built-ins only (crypto, Buffer,
// TextDecoder). The context helpers at the bottom need @opentelemetry/api, which is
// required lazily, only when they are called.
//
// Two groups share one set of rules:
//   identity: orq.identity.{id | id.b64, display_name, tags, metadata, email, logo_url, sig}
//             with enduser.id as a read-only fallback for the id
//   thread:   orq.thread.{id | id.b64, tags, sig}

const crypto = require('node:crypto');

const DEFAULT_TTL_SECONDS = 600; // identity_signature_ttl
const DEFAULT_CLOCK_SKEW_SECONDS = 30; // identity_clock_skew
const MAX_ENTRIES = 64; // the whole header stays within 64 entries,
const MAX_ENTRY_BYTES = 4096; // 4096 bytes an entry
const MAX_HEADER_BYTES = 8192; // and 8192 bytes
const MAC_LENGTH = 43; // base64url, unpadded, of a 32-byte HMAC-SHA256
const MAX_JSON_DEPTH = 64; // not specified by the README; see README.md in this folder
const REJECTION_REASONS = Object.freeze(['missing', 'bad_signature', 'expired']);

const UNRESERVED = /^[A-Za-z0-9._~-]+$/; // RFC 3986 unreserved characters
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const SIGNATURE = /^(v[12])\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]+)$/;
const SIGNATURE_VERSION = 'v2';
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/; // Unicode category Cc
const EDGE_WHITESPACE = /^\s|\s$/u;
const EMAIL = /^[^\s@]+@[^\s@.]+(\.[^\s@.]+)*\.[^\s@.]+$/;

const IDENTITY = Object.freeze({
  name: 'identity',
  prefix: 'orq.identity.',
  // optional fields, in the order they are written after the id entry
  fields: ['display_name', 'tags', 'metadata', 'email', 'logo_url'],
  fallbackIdKey: 'enduser.id',
  clearOnSet: ['enduser.id'],
  binds: null,
});

const THREAD = Object.freeze({
  name: 'thread',
  prefix: 'orq.thread.',
  fields: ['tags'],
  fallbackIdKey: null,
  clearOnSet: [],
  // A thread's signature also covers the identity's entries: valid only beside that identity.
  binds: 'orq.identity.',
});

// ---------------------------------------------------------------------------------------
// warnings: one per kind, not per call (as the README asks)

const warnedKinds = new Set();

function defaultWarn(kind, message) {
  if (warnedKinds.has(kind)) return;
  warnedKinds.add(kind);
  process.emitWarning(message, { type: 'OrqIdentityWarning', code: kind });
}

function makeWarn(options) {
  const user = options && options.onWarning;
  const collected = [];
  const warn = (kind, message) => {
    collected.push({ kind, message });
    if (typeof user === 'function') user(kind, message);
    else if (user !== false) defaultWarn(kind, message);
  };
  return { warn, collected };
}

// ---------------------------------------------------------------------------------------
// enc(value) and its strict inverse

/** base64url (RFC 4648 section 5, no padding) of the UTF-8 bytes of the compact JSON text. */
function enc(value) {
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Strict base64url: only A-Z a-z 0-9 - _, no padding, canonical (a length of 1 modulo 4
 * or stray bits in the last character are errors). Returns a Buffer or throws.
 */
function strictBase64urlDecode(text) {
  if (!BASE64URL.test(text)) throw new Error('not base64url');
  if (text.length % 4 === 1) throw new Error('base64url length is 1 modulo 4');
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.toString('base64url') !== text) throw new Error('non-canonical base64url');
  return bytes;
}

/** The inverse of enc(): base64url, then UTF-8, then JSON. Throws on any error. */
function dec(text) {
  const bytes = strictBase64urlDecode(text);
  const json = utf8Decoder.decode(bytes); // throws on invalid UTF-8
  return JSON.parse(json);
}

// ---------------------------------------------------------------------------------------
// field rules (the README's "Identity" table); each returns an error message or null

function isWellFormed(text) {
  if (typeof text.isWellFormed === 'function') return text.isWellFormed();
  return !/\p{Surrogate}/u.test(text);
}

function codePointLength(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

function checkString(value) {
  if (typeof value !== 'string') return 'must be a string';
  if (!isWellFormed(value)) return 'must not contain lone surrogates';
  return null;
}

function checkId(value) {
  const bad = checkString(value);
  if (bad) return bad;
  const length = codePointLength(value);
  if (length < 1 || length > 255) return 'must be 1-255 characters';
  if (CONTROL.test(value)) return 'must not contain control characters';
  if (EDGE_WHITESPACE.test(value)) return 'must not have leading or trailing whitespace';
  return null;
}

function checkTags(value) {
  if (!Array.isArray(value)) return 'must be a list of strings';
  if (value.length > 10) return 'must have at most 10 items';
  for (const tag of value) {
    const bad = checkString(tag);
    if (bad) return `items ${bad}`;
  }
  return null;
}

function isPlainObject(value) {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Any JSON value: no NaN/Infinity, no lone surrogates, no undefined/functions/Dates. */
function checkJsonValue(value, depth) {
  if (depth > MAX_JSON_DEPTH) return `must not be nested deeper than ${MAX_JSON_DEPTH} levels`;
  if (value === null || typeof value === 'boolean') return null;
  if (typeof value === 'number') return Number.isFinite(value) ? null : 'must not contain NaN or infinities';
  if (typeof value === 'string') return isWellFormed(value) ? null : 'must not contain lone surrogates';
  if (Array.isArray(value)) {
    for (const item of value) {
      const bad = checkJsonValue(item, depth + 1);
      if (bad) return bad;
    }
    return null;
  }
  if (isPlainObject(value)) {
    for (const key of Object.keys(value)) {
      if (!isWellFormed(key)) return 'keys must not contain lone surrogates';
      const bad = checkJsonValue(value[key], depth + 1);
      if (bad) return bad;
    }
    return null;
  }
  return 'must contain JSON values only';
}

function checkMetadata(value) {
  if (!isPlainObject(value)) return 'must be a JSON object';
  if (Object.keys(value).length > 20) return 'must have at most 20 top-level keys';
  return checkJsonValue(value, 1);
}

function checkEmail(value) {
  const bad = checkString(value);
  if (bad) return bad;
  if (value.length > 254) return 'must be at most 254 characters';
  if (!EMAIL.test(value)) return 'must be in name@domain.tld format';
  return null;
}

function checkLogoUrl(value) {
  const bad = checkString(value);
  if (bad) return bad;
  let url;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http:// or https:// URL';
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.host) {
    return 'must be an absolute http:// or https:// URL';
  }
  if (!/^https?:\/\//i.test(value)) return 'must be an absolute http:// or https:// URL';
  return null;
}

const CHECKS = {
  id: checkId,
  display_name: checkString,
  tags: checkTags,
  metadata: checkMetadata,
  email: checkEmail,
  logo_url: checkLogoUrl,
};

/** Validates an identity/thread object; throws a TypeError naming the field and the limit. */
function validate(group, object) {
  if (!isPlainObject(object)) throw new TypeError(`${group.name} must be an object`);
  const allowed = new Set(['id', ...group.fields]);
  for (const key of Object.keys(object)) {
    if (!allowed.has(key)) throw new TypeError(`${group.name}: unknown field ${JSON.stringify(key)}`);
  }
  const clean = {};
  for (const field of ['id', ...group.fields]) {
    const value = object[field];
    if (value === undefined || (value === null && field !== 'id')) continue; // unset
    const bad = CHECKS[field](value);
    if (bad) throw new TypeError(`${group.name}.${field} ${bad}`);
    clean[field] = value;
  }
  if (clean.id === undefined) throw new TypeError(`${group.name}.id is required`);
  return clean;
}

// ---------------------------------------------------------------------------------------
// signing

function toSecretList(secrets) {
  if (secrets === undefined || secrets === null || secrets === '') return [];
  const list = Array.isArray(secrets) ? secrets : [secrets];
  return list.filter((s) => typeof s === 'string' && s.length > 0);
}

/** Parses ORQ_OTEL_IDENTITY_SECRET: a comma-separated list, the first signs. */
function parseSecretList(text) {
  if (!text) return [];
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function compareCodePoints(a, b) {
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (d !== 0) return d;
  }
}

/** The entries a group's signature covers: its own but the signature and, for a group that
 * binds another (the thread binds the identity), the other's but its signature. */
function signedPairs(group, pairs) {
  const own = (prefix) => ([key]) => key.startsWith(prefix) && key !== prefix + 'sig';
  const signed = pairs.filter(own(group.prefix));
  if (group.binds) signed.push(...pairs.filter(own(group.binds)));
  return signed.sort(([a], [b]) => compareCodePoints(a, b));
}

/**
 * The v2 signed message: every item length-prefixed, `<UTF-8 byte length>:<text>`, in
 * order: "v2", the signature's key, each signed entry's key and value (sorted by key),
 * "exp" and the expiry. Length prefixes make it unambiguous: no key or value, whatever it
 * holds, can fold two entries into one.
 */
function signedMessage(group, pairs, expiry) {
  const items = [SIGNATURE_VERSION, group.prefix + 'sig'];
  for (const [key, value] of signedPairs(group, pairs)) items.push(key, value);
  items.push('exp', String(expiry));
  return Buffer.concat(
    items.map((text) => {
      const bytes = Buffer.from(text, 'utf8');
      return Buffer.concat([Buffer.from(`${bytes.length}:`, 'utf8'), bytes]);
    }),
  );
}

/** The previous release's (v1) message, or null where lines could be read two ways. */
function signedMessageV1(group, pairs, expiry) {
  const sigKey = group.prefix + 'sig';
  const own = pairs.filter(([key]) => key.startsWith(group.prefix) && key !== sigKey);
  if (own.some(([key, value]) => /[=\n]/.test(key) || value.includes('\n'))) return null;
  const lines = own
    .sort(([a], [b]) => compareCodePoints(a, b))
    .map(([key, value]) => `${key}=${value}`);
  lines.push(`exp=${expiry}`);
  return Buffer.from(lines.join('\n'), 'utf8');
}

function mac(secret, message) {
  return crypto.createHmac('sha256', Buffer.from(secret, 'utf8')).update(message).digest();
}

function checkExpiry(expiry) {
  if (!Number.isSafeInteger(expiry) || expiry < 1 || expiry > 999999999999) {
    throw new TypeError('expiry must be Unix seconds, an integer of 1-12 digits');
  }
}

function nowSeconds(options) {
  if (options && options.now !== undefined) return Number(options.now);
  return Math.floor(Date.now() / 1000);
}

// ---------------------------------------------------------------------------------------
// writing

function entryBytes([key, value]) {
  return Buffer.byteLength(`${key}=${value}`, 'utf8');
}

/**
 * Encodes one group into baggage entries, in order: the id entry, the optional fields in
 * the README's order (only those present), and the signature last when a secret is given.
 * Returns a plain object {key: value} (insertion-ordered).
 */
function encodeGroup(group, object, options = {}) {
  const clean = validate(group, object);
  const { warn } = makeWarn(options);
  const pairs = [];
  if (UNRESERVED.test(clean.id)) pairs.push([group.prefix + 'id', clean.id]);
  else pairs.push([group.prefix + 'id.b64', enc(clean.id)]);
  for (const field of group.fields) {
    if (clean[field] !== undefined) pairs.push([group.prefix + field, enc(clean[field])]);
  }

  const secrets = toSecretList(options.secret !== undefined ? options.secret : options.secrets);
  let expiry = null;
  let sigLength = 0;
  if (secrets.length > 0) {
    const ttl = options.ttlSeconds !== undefined ? options.ttlSeconds : DEFAULT_TTL_SECONDS;
    expiry = options.expiry !== undefined ? options.expiry : nowSeconds(options) + ttl;
    checkExpiry(expiry);
    sigLength = entryBytes([group.prefix + 'sig', `v2.${expiry}.${'x'.repeat(MAC_LENGTH)}`]);
  }

  // Limits: keep the id, drop whole optional entries, largest first; never truncate.
  const maxEntries = options.maxEntries !== undefined ? options.maxEntries : MAX_ENTRIES;
  const maxHeaderBytes = options.maxHeaderBytes !== undefined ? options.maxHeaderBytes : MAX_HEADER_BYTES;
  const fits = () => {
    const count = pairs.length + (sigLength ? 1 : 0);
    const sizes = pairs.map(entryBytes);
    if (sigLength) sizes.push(sigLength);
    const total = sizes.reduce((a, b) => a + b, 0) + Math.max(0, sizes.length - 1);
    return count <= maxEntries && total <= maxHeaderBytes && sizes.every((s) => s <= MAX_ENTRY_BYTES);
  };
  while (!fits() && pairs.length > 1) {
    let largest = 1;
    for (let i = 2; i < pairs.length; i++) if (entryBytes(pairs[i]) > entryBytes(pairs[largest])) largest = i;
    const [key] = pairs.splice(largest, 1)[0];
    warn(`${group.name}-too-large`, `${group.name} too large for baggage: dropped ${key}`);
  }

  if (secrets.length > 0) {
    const bound = options.boundPairs || [];
    const digest = mac(secrets[0], signedMessage(group, [...bound, ...pairs], expiry)).toString('base64url');
    pairs.push([group.prefix + 'sig', `${SIGNATURE_VERSION}.${expiry}.${digest}`]);
  }
  return Object.fromEntries(pairs);
}

/** Serialises entries to a header the way every SDK writes them (they are all unreserved). */
function toHeader(entries) {
  return Object.entries(entries)
    .map(([key, value]) => `${encodeURIComponent(key)}=${encodeURIComponent(value)}`)
    .join(',');
}

// ---------------------------------------------------------------------------------------
// reading

/**
 * Normalises what a propagator delivers into a Map key -> value "as read in step 1":
 * the value without any W3C property (from the first ';' on) and surrounding whitespace.
 * Accepts a plain object (key -> string or {value}), a Map, or an array of [key, value]
 * pairs such as Baggage.getAllEntries() returns.
 */
function readEntries(entries, propertiesRemoved = false) {
  const map = new Map();
  if (!entries) return map;
  let list;
  if (entries instanceof Map) list = [...entries];
  else if (Array.isArray(entries)) list = entries;
  else if (typeof entries === 'object') list = Object.keys(entries).map((k) => [k, entries[k]]);
  else return map;
  for (const pair of list) {
    if (!Array.isArray(pair) || typeof pair[0] !== 'string') continue;
    let value = pair[1];
    if (value && typeof value === 'object') value = value.value;
    if (typeof value !== 'string') continue;
    // Only a literal ';' in the header starts properties: JavaScript's propagator has
    // split them off already, and a ';' left in its value was percent-encoded (`%3B`).
    const semicolon = propertiesRemoved ? -1 : value.indexOf(';');
    if (semicolon !== -1) value = value.slice(0, semicolon);
    map.set(pair[0], value.trim());
  }
  return map;
}

/** Decodes a field value: previous-format plain JSON, else strict enc(). Throws. */
function decodeValue(text) {
  if (text.startsWith('"') || text.startsWith('[') || text.startsWith('{')) return JSON.parse(text);
  return dec(text);
}

function verifySignature(group, map, secrets, options) {
  const sig = map.get(group.prefix + 'sig');
  if (sig === undefined) return 'missing';
  const match = SIGNATURE.exec(sig);
  if (!match || match[3].length !== MAC_LENGTH) return 'bad_signature';
  let given;
  try {
    given = strictBase64urlDecode(match[3]);
  } catch {
    return 'bad_signature';
  }
  const expiry = Number(match[2]);
  const message =
    match[1] === SIGNATURE_VERSION ? signedMessage(group, [...map], match[2]) : signedMessageV1(group, [...map], match[2]);
  if (message === null) return 'bad_signature';
  let verified = false;
  for (const secret of secrets) {
    // every secret is tried, so the time taken does not tell which one matched
    if (crypto.timingSafeEqual(mac(secret, message), given)) verified = true;
  }
  if (!verified) return 'bad_signature';
  const now = nowSeconds(options);
  const ttl = options.ttlSeconds !== undefined ? options.ttlSeconds : DEFAULT_TTL_SECONDS;
  const skew = options.clockSkewSeconds !== undefined ? options.clockSkewSeconds : DEFAULT_CLOCK_SKEW_SECONDS;
  if (now > expiry + skew) return 'expired'; // expired, allowing the skew
  if (expiry > now + ttl + skew) return 'bad_signature'; // too far away: no writer signs for that long (README)
  return null;
}

/**
 * Decodes one group from baggage entries. Returns {value, rejected, warnings}; rejected
 * is null or one of "missing", "bad_signature", "expired" (only when secrets are given).
 * Nothing throws, whatever the entries hold.
 */
function decodeGroup(group, entries, options = {}) {
  const { warn, collected } = makeWarn(options);
  const result = (value, rejected = null) => ({ value, rejected, warnings: collected });
  let map;
  try {
    map = readEntries(entries, options.propertiesRemoved === true);
  } catch {
    return result(null);
  }
  const idKey = group.prefix + 'id';
  const b64Key = group.prefix + 'id.b64';
  const hasPlain = map.has(idKey);
  const hasB64 = map.has(b64Key);
  const hasFallback = group.fallbackIdKey !== null && map.has(group.fallbackIdKey);
  if (!hasPlain && !hasB64 && !hasFallback) return result(null);

  const secrets = toSecretList(options.secrets !== undefined ? options.secrets : options.secret);
  if (secrets.length > 0) {
    // enduser.id is never signed: with secrets only a signed id entry is trusted.
    const rejected = !hasPlain && !hasB64 ? 'missing' : verifySignature(group, map, secrets, options);
    if (rejected) {
      warn(`${group.name}-${rejected}`, `${group.name} from baggage ignored: ${rejected}`);
      return result(null, rejected);
    }
  }

  // The id: orq.<group>.id as it is, else the decoded .id.b64, else enduser.id.
  let id;
  let plain;
  let decoded;
  if (hasPlain) plain = map.get(idKey);
  if (hasB64) {
    try {
      decoded = dec(map.get(b64Key));
      if (typeof decoded !== 'string') throw new Error('not a JSON string');
    } catch (error) {
      warn(`${group.name}-bad-id`, `${group.name} ${b64Key} is malformed: ${error.message}`);
      decoded = undefined;
      if (!hasPlain) return result(null);
    }
  }
  if (hasPlain && hasB64 && plain !== decoded) {
    warn(`${group.name}-id-conflict`, `${group.name}: ${idKey} and ${b64Key} differ; no ${group.name}`);
    return result(null);
  }
  if (hasPlain) id = plain;
  else if (hasB64) id = decoded;
  else id = map.get(group.fallbackIdKey);
  const badId = checkId(id);
  if (badId) {
    warn(`${group.name}-bad-id`, `${group.name} id from baggage ignored: ${badId}`);
    return result(null);
  }

  const value = { id };
  for (const field of group.fields) {
    const key = group.prefix + field;
    if (!map.has(key)) continue;
    let fieldValue;
    try {
      fieldValue = decodeValue(map.get(key));
    } catch (error) {
      warn(`${group.name}-malformed-${field}`, `${key} from baggage dropped: malformed (${error.message})`);
      continue;
    }
    const bad = CHECKS[field](fieldValue);
    if (bad) {
      warn(`${group.name}-invalid-${field}`, `${key} from baggage dropped: ${bad}`);
      continue;
    }
    value[field] = fieldValue;
  }
  return result(value);
}

// ---------------------------------------------------------------------------------------
// public codec API

function encodeIdentity(identity, options) {
  return encodeGroup(IDENTITY, identity, options);
}

function decodeIdentity(entries, options) {
  const { value, rejected, warnings } = decodeGroup(IDENTITY, entries, options);
  return { identity: value, rejected, warnings };
}

function encodeThread(thread, options) {
  return encodeGroup(THREAD, thread, options);
}

function decodeThread(entries, options) {
  const { value, rejected, warnings } = decodeGroup(THREAD, entries, options);
  return { thread: value, rejected, warnings };
}

// ---------------------------------------------------------------------------------------
// OpenTelemetry Baggage helpers (they use only the Baggage interface's methods)

/** Baggage -> plain object key -> value, as decodeIdentity/decodeThread take it. */
function entriesFromBaggage(baggage) {
  const out = Object.create(null);
  if (!baggage) return out;
  for (const [key, entry] of baggage.getAllEntries()) out[key] = entry.value;
  return out;
}

function usedBudget(baggage) {
  let count = 0;
  let bytes = 0;
  for (const [key, entry] of baggage.getAllEntries()) {
    let pair = `${encodeURIComponent(key)}=${encodeURIComponent(entry.value)}`;
    if (entry.metadata !== undefined) pair += ';' + entry.metadata.toString();
    bytes += Buffer.byteLength(pair, 'utf8') + (count > 0 ? 1 : 0);
    count += 1;
  }
  return { count, bytes };
}

function setGroupInBaggage(group, baggage, object, options = {}) {
  let bag = baggage;
  for (const [key] of bag.getAllEntries()) {
    if (key.startsWith(group.prefix) || group.clearOnSet.includes(key)) bag = bag.removeEntry(key);
  }
  if (object === null || object === undefined) return bag;
  const used = usedBudget(bag);
  const entries = encodeGroup(group, object, {
    ...options,
    boundPairs: group.binds ? pairsOf(bag).filter(([key]) => key.startsWith(group.binds)) : [],
    maxEntries: (options.maxEntries !== undefined ? options.maxEntries : MAX_ENTRIES) - used.count,
    maxHeaderBytes:
      (options.maxHeaderBytes !== undefined ? options.maxHeaderBytes : MAX_HEADER_BYTES) -
      used.bytes -
      (used.count > 0 ? 1 : 0),
  });
  for (const [key, value] of Object.entries(entries)) bag = bag.setEntry(key, { value });
  return group === IDENTITY ? resignThread(bag, options) : bag;
}

function pairsOf(baggage) {
  return baggage.getAllEntries().map(([key, entry]) => [key, entry.value]);
}

/** A signed thread is bound to the identity: sign it again when the identity changes. */
function resignThread(baggage, options) {
  const secrets = toSecretList(options.secret !== undefined ? options.secret : options.secrets);
  if (secrets.length === 0 || baggage.getEntry(THREAD.prefix + 'sig') === undefined) return baggage;
  const ttl = options.ttlSeconds !== undefined ? options.ttlSeconds : DEFAULT_TTL_SECONDS;
  const expiry = options.expiry !== undefined ? options.expiry : nowSeconds(options) + ttl;
  const digest = mac(secrets[0], signedMessage(THREAD, pairsOf(baggage), expiry)).toString('base64url');
  return baggage.setEntry(THREAD.prefix + 'sig', { value: `${SIGNATURE_VERSION}.${expiry}.${digest}` });
}

/** Returns a new Baggage with the identity's entries (old identity entries and enduser.id removed). */
function setIdentityInBaggage(baggage, identity, options) {
  return setGroupInBaggage(IDENTITY, baggage, identity, options);
}

/** Returns a new Baggage with the thread's entries (old thread entries removed). */
function setThreadInBaggage(baggage, thread, options) {
  return setGroupInBaggage(THREAD, baggage, thread, options);
}

// Values from a JavaScript Baggage hold no properties: its propagator split them off.
function identityFromBaggage(baggage, options) {
  return decodeIdentity(entriesFromBaggage(baggage), { ...options, propertiesRemoved: true });
}

function threadFromBaggage(baggage, options) {
  return decodeThread(entriesFromBaggage(baggage), { ...options, propertiesRemoved: true });
}

// Context-level helpers: these need @opentelemetry/api, loaded on first use.

function otelApi() {
  return require('@opentelemetry/api');
}

/** A new Context whose baggage carries the identity and/or thread: {identity, thread}. */
function contextWith(ctx, { identity, thread } = {}, options = {}) {
  const { propagation } = otelApi();
  let bag = propagation.getBaggage(ctx) || propagation.createBaggage();
  if (identity !== undefined) bag = setIdentityInBaggage(bag, identity, options);
  if (thread !== undefined) bag = setThreadInBaggage(bag, thread, options);
  return propagation.setBaggage(ctx, bag);
}

/** {identity, thread, rejected, threadRejected} read from a Context's baggage. */
function readFromContext(ctx, options = {}) {
  const { propagation } = otelApi();
  const entries = entriesFromBaggage(propagation.getBaggage(ctx));
  const i = decodeIdentity(entries, { ...options, propertiesRemoved: true });
  const t = decodeThread(entries, { ...options, propertiesRemoved: true });
  return { identity: i.identity, thread: t.thread, rejected: i.rejected, threadRejected: t.rejected };
}

module.exports = {
  // codec
  encodeIdentity,
  decodeIdentity,
  encodeThread,
  decodeThread,
  toHeader,
  enc,
  dec,
  parseSecretList,
  validateIdentity: (identity) => validate(IDENTITY, identity),
  validateThread: (thread) => validate(THREAD, thread),
  // Baggage helpers
  entriesFromBaggage,
  setIdentityInBaggage,
  setThreadInBaggage,
  identityFromBaggage,
  threadFromBaggage,
  // Context helpers (need @opentelemetry/api)
  contextWith,
  readFromContext,
  // constants
  DEFAULT_TTL_SECONDS,
  DEFAULT_CLOCK_SKEW_SECONDS,
  REJECTION_REASONS,
};
