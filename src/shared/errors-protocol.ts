// The errors of the link between the controller and an agent, by their code in docs/errors.md: the
// wire codec (protocol.ts, frame.ts, block-codec.ts), the request ids (rpc.ts), the handshake and the
// replies (local/peer.ts), and the agent's own errors (AGENT_, sent in its ERROR message with `code`).
// A user meets them only when the other side is not this build of basyn's agent, or the stream between
// was altered (a login script that prints, a broken --rsh command): all exit 2. Raise one with
// basynError(CODE, ...) from errors.ts.

export const PROTOCOL_ERRORS = {
  // The wire codec: a frame or a message that is not what docs/protocol.md says.
  PROTOCOL_FRAME_LENGTH: { code: 'EPROTO', kind: 'protocol', message: (length: number) => `bad frame length ${length} (peer is not a basyn agent, or the stream is corrupt)` },
  PROTOCOL_STRING_TOO_LONG: { code: 'EPROTO', kind: 'protocol', message: () => 'string too long for the wire' },
  /** `what`: the message's name (READ, HELLO, "message type 0x3f"). */
  PROTOCOL_OFFSET_RANGE: { code: 'EPROTO', kind: 'protocol', message: (what: string, offset: bigint | string) => `${what}: offset ${offset} out of range` },
  PROTOCOL_PAYLOAD_SHORT: { code: 'EPROTO', kind: 'protocol', message: (what: string, n: number) => `${what}: payload too short (${n} bytes)` },
  PROTOCOL_TRAILING_BYTES: { code: 'EPROTO', kind: 'protocol', message: (what: string, n: number) => `${what}: ${n} unexpected trailing bytes` },
  PROTOCOL_BLOCK_ENCODING: { code: 'EPROTO', kind: 'protocol', message: (what: string, encoding: number) => `${what}: unknown block encoding ${encoding}` },
  PROTOCOL_RAW_BLOCK_SIZE: { code: 'EPROTO', kind: 'protocol', message: (what: string, n: number, m: number) => `${what}: raw block of ${n} bytes, expected ${m}` },
  PROTOCOL_ZERO_BLOCK_PAYLOAD: { code: 'EPROTO', kind: 'protocol', message: (what: string) => `${what}: zero block with payload` },
  PROTOCOL_BLOCK_TOO_LARGE: { code: 'EPROTO', kind: 'protocol', message: (what: string, n: number) => `${what}: block of ${n} bytes is too large` },
  PROTOCOL_HELLO_MAGIC: { code: 'EPROTO', kind: 'protocol', message: () => 'HELLO: bad magic' },
  PROTOCOL_OPEN_FLAGS: { code: 'EPROTO', kind: 'protocol', message: (flags: string) => `OPEN: unknown flags 0x${flags}` },
  PROTOCOL_OPEN_CREATE: { code: 'EPROTO', kind: 'protocol', message: () => 'OPEN: CREATE without WRITABLE' },
  PROTOCOL_UNKNOWN_MESSAGE: { code: 'EPROTO', kind: 'protocol', message: (what: string) => `unknown ${what}` },
  PROTOCOL_CORRUPT_BLOCK: { code: 'EPROTO', kind: 'protocol', message: (reason: string) => `corrupt compressed block: ${reason}` },
  PROTOCOL_INFLATED_SIZE: { code: 'EPROTO', kind: 'protocol', message: (n: number, m: number) => `compressed block inflated to ${n} bytes, expected ${m}` },
  /** `detail`: which rule of docs/protocol.md §3's runs the block breaks. */
  PROTOCOL_RUNS: { code: 'EPROTO', kind: 'protocol', message: (detail: string) => `RUNS block: ${detail}` },

  // Replies (rpc.ts, peer.ts).
  PROTOCOL_UNEXPECTED_REPLY: { code: 'EPROTO', kind: 'protocol', message: (type: string, id: number) => `unexpected ${type} for request ${id}` },
  PROTOCOL_WRONG_REPLY: { code: 'EPROTO', kind: 'protocol', message: (expected: string, got: string) => `expected ${expected}, got ${got}` },
  /** `what`: "sent 20 bytes of digests for 65536 bytes at offset 0, expected 40". */
  PROTOCOL_BAD_REPLY: { code: 'EPROTO', kind: 'protocol', message: (role: string, what: string) => `Protocol error: the ${role} agent ${what}` },
  PROTOCOL_VERSION: { code: 'EVERSION', message: (role: string, n: number, m: number) => `${role} agent speaks protocol version ${n}, this basyn speaks ${m}` },
  PROTOCOL_BUILD: { code: 'EVERSION', message: (role: string, build: string, ours: string) => `${role} agent is build ${build}, this basyn is build ${ours}` },
  PROTOCOL_NO_HELLO: { code: 'ESTART', message: (role: string, link: string, seconds: string) => `the ${role} agent (${link}) sent no HELLO within ${seconds}` },
  PROTOCOL_HELLO_ABANDONED: { code: 'ESTART', message: (role: string) => `the ${role} agent was abandoned before its HELLO` },
  /** `how`: "closed the connection", with " in the middle of a message" when a frame was cut. */
  LINK_STREAM_ENDED: { code: 'ELINK', message: (how: string) => `agent ${how}` },
  LINK_STREAM_ERROR: { code: 'ELINK', message: (reason: string) => `agent stream error: ${reason}` },

  // The agent's own errors: a request it cannot serve (the ERROR code is the row's `code`).
  AGENT_NOT_OPEN: { code: 'ENOTOPEN', kind: 'agent', message: () => 'no device is open' },
  AGENT_RANGE: { code: 'ERANGE', kind: 'agent', message: (offset: number, length: number, path: string, size: number) => `range ${offset}+${length} is beyond the end of ${path} (${size} bytes)` },
  AGENT_UNKNOWN_HASH: { code: 'EHASH', kind: 'agent', message: (id: number) => `unknown hash id ${id}` },
  AGENT_READ_ONLY: { code: 'EROFS', kind: 'agent', message: (path: string) => `${path} is open read-only` },
  AGENT_END_OF_DEVICE: { code: 'EEOF', kind: 'agent', message: (offset: number) => `unexpected end of device at ${offset}` },
  AGENT_STOPPED: { code: 'ESTOPPED', kind: 'agent', message: () => 'agent stopped' },
  /** A hashing thread failed or died (remote/hash-pool.ts); `why`: its error, or how it ended. */
  AGENT_HASH_THREAD: { code: 'EWORKER', kind: 'agent', message: (why: string) => `hashing thread failed: ${why}` },
  /** `what`: "message type 9", "PATCH_DATA before PATCH_BEGIN". */
  AGENT_UNEXPECTED: { code: 'EPROTO', kind: 'agent', message: (what: string) => `unexpected ${what}` },
} as const;
