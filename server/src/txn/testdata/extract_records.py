# Prints "offset key-hex value-hex" for every record of a v2 .log segment (uncompressed batches),
# as used to capture the golden bytes of server/src/txn/records.rs.
import struct, sys
data = open(sys.argv[1], 'rb').read()
pos = 0
def varint(b, i):
    shift = 0; v = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << shift; shift += 7
        if not c & 0x80: break
    return (v >> 1) ^ -(v & 1), i
while pos + 12 <= len(data):
    base, blen = struct.unpack('>qi', data[pos:pos+12])
    batch = data[pos:pos+12+blen]
    count = struct.unpack('>i', batch[57:61])[0]
    i = 61
    for r in range(count):
        ln, i = varint(batch, i)
        end = i + ln
        i += 1  # attributes
        _, i = varint(batch, i); _, i = varint(batch, i)
        kl, i = varint(batch, i); key = batch[i:i+kl] if kl >= 0 else None; i += max(kl, 0)
        vl, i = varint(batch, i); val = batch[i:i+vl] if vl >= 0 else None; i += max(vl, 0)
        print(base + r, key.hex(), val.hex() if val is not None else 'NULL')
        i = end
    pos += 12 + blen
