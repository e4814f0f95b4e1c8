#!/usr/bin/python3
"""Independent reader of a TensorBoard event file, used by tests/report/test_tensorboard.cpp.

It shares no code with kdaug's writer: the CRC-32C is computed bit by bit here, the records are
parsed from TFRecord framing, and each Event is decoded by Debian's python3-protobuf from a
descriptor built below with TensorFlow's field numbers (tensorflow/core/util/event.proto and
tensorflow/core/framework/summary.proto). PNG images are decoded with Pillow.

Usage: tb_decode.py EVENT_FILE  -> prints a JSON list of events on stdout; exits 1 with a message
on stderr when the framing, a CRC, or a protobuf is wrong.
"""
import io
import json
import struct
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

try:
    from PIL import Image as PILImage
except ImportError:  # Pillow is optional: without it the PNG is only checked by signature
    PILImage = None


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def masked(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def event_class():
    F = descriptor_pb2.FieldDescriptorProto
    fdp = descriptor_pb2.FileDescriptorProto(name="kdaug_test_event.proto", package="tbtest", syntax="proto3")

    def msg(name, fields):
        m = fdp.message_type.add(name=name)
        for fname, num, ftype, label, tname in fields:
            f = m.field.add(name=fname, number=num, type=ftype, label=label)
            if tname:
                f.type_name = tname
        return m

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    msg("Image", [("height", 1, F.TYPE_INT32, opt, None), ("width", 2, F.TYPE_INT32, opt, None),
                  ("colorspace", 3, F.TYPE_INT32, opt, None), ("encoded_image_string", 4, F.TYPE_BYTES, opt, None)])
    msg("Value", [("node_name", 7, F.TYPE_STRING, opt, None), ("tag", 1, F.TYPE_STRING, opt, None),
                  ("simple_value", 2, F.TYPE_FLOAT, opt, None), ("image", 4, F.TYPE_MESSAGE, opt, ".tbtest.Image")])
    msg("Summary", [("value", 1, F.TYPE_MESSAGE, rep, ".tbtest.Value")])
    msg("Event", [("wall_time", 1, F.TYPE_DOUBLE, opt, None), ("step", 2, F.TYPE_INT64, opt, None),
                  ("file_version", 3, F.TYPE_STRING, opt, None), ("summary", 5, F.TYPE_MESSAGE, opt, ".tbtest.Summary")])
    # simple_value and image are members of TensorFlow's `oneof value`
    value = fdp.message_type[1]
    value.oneof_decl.add(name="value")
    for f in value.field:
        if f.name in ("simple_value", "image"):
            f.oneof_index = 0
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    desc = pool.FindMessageTypeByName("tbtest.Event")
    if hasattr(message_factory, "GetMessageClass"):
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def fail(msg):
    print(msg, file=sys.stderr)
    sys.exit(1)


def main(path):
    data = open(path, "rb").read()
    Event = event_class()
    events, pos, index = [], 0, 0
    while pos < len(data):
        if pos + 12 > len(data):
            fail(f"record {index}: truncated header at byte {pos}")
        header = data[pos:pos + 8]
        (length,) = struct.unpack("<Q", header)
        (length_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
        if length_crc != masked(header):
            fail(f"record {index}: length CRC {length_crc:#x} != {masked(header):#x}")
        body = data[pos + 12:pos + 12 + length]
        if len(body) != length or pos + 16 + length > len(data):
            fail(f"record {index}: truncated body ({len(body)} of {length} bytes)")
        (data_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
        if data_crc != masked(body):
            fail(f"record {index}: data CRC {data_crc:#x} != {masked(body):#x}")
        pos += 16 + length
        ev = Event()
        ev.ParseFromString(body)
        if ev.SerializeToString() != body:
            fail(f"record {index}: the Event does not re-encode to the same bytes (unknown or misnumbered fields)")
        out = {"wall_time": ev.wall_time, "step": ev.step}
        if ev.file_version:
            out["file_version"] = ev.file_version
        if ev.HasField("summary"):
            values = []
            for v in ev.summary.value:
                kind = v.WhichOneof("value")
                item = {"tag": v.tag, "kind": kind}
                if kind == "simple_value":
                    item["simple_value"] = v.simple_value
                elif kind == "image":
                    png = v.image.encoded_image_string
                    item.update(height=v.image.height, width=v.image.width, colorspace=v.image.colorspace,
                                png_bytes=len(png), png_signature=png[:8] == b"\x89PNG\r\n\x1a\n")
                    if PILImage is not None:
                        im = PILImage.open(io.BytesIO(png))
                        im.load()
                        item.update(decoded_width=im.size[0], decoded_height=im.size[1], decoded_mode=im.mode,
                                    pixel_sum=int(sum(sum(px) if isinstance(px, tuple) else px for px in im.getdata())))
                values.append(item)
            out["values"] = values
        events.append(out)
        index += 1
    print(json.dumps(events))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: tb_decode.py EVENT_FILE")
    main(sys.argv[1])
