// The SSH wire encoding (RFC 4251 §5): uint32, length-prefixed strings and mpints, read and written.
// Shared by the SSHSIG signature format and the OpenSSH private key format (common/sshsig.ts,
// common/openssh-private-key.ts). Reading past the end throws the error the caller's `bad` makes.

export class WireReader {
  private at = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly bad: (why: string) => Error,
  ) {}

  get remaining(): number {
    return this.buf.length - this.at;
  }

  bytes(n: number): Buffer {
    if (this.at + n > this.buf.length) throw this.bad('the data is truncated');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  uint32(): number {
    return this.bytes(4).readUInt32BE(0);
  }

  string(): Buffer {
    return this.bytes(this.uint32());
  }

  text(): string {
    return this.string().toString('utf8');
  }

  /** An mpint as an unsigned big-endian integer without leading zeros. */
  mpint(): Buffer {
    const b = this.string();
    if (b.length > 0 && b[0]! & 0x80) throw this.bad('negative integer');
    let i = 0;
    while (i < b.length && b[i] === 0) i++;
    return b.subarray(i);
  }

  end(): void {
    if (this.at !== this.buf.length) throw this.bad('trailing bytes');
  }
}

export class WireWriter {
  private readonly parts: Buffer[] = [];

  raw(b: Buffer | string): this {
    this.parts.push(typeof b === 'string' ? Buffer.from(b, 'utf8') : b);
    return this;
  }

  uint32(n: number): this {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    this.parts.push(b);
    return this;
  }

  string(b: Buffer | string): this {
    const buf = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
    return this.uint32(buf.length).raw(buf);
  }

  toBuffer(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Unsigned big-endian bytes → BigInt, and back (for RSA CRT parameters). */
export function toBigInt(b: Buffer): bigint {
  return b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`);
}

export function fromBigInt(n: bigint): Buffer {
  let hex = n.toString(16);
  if (hex.length % 2) hex = `0${hex}`;
  return Buffer.from(hex, 'hex');
}
