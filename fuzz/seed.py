#!/usr/bin/env python3
"""Writes the fuzz targets' seed inputs into fuzz/corpus/<target>/seed-*: real shapes taken
from the seeds, the partner contracts and the golden event payloads, so libFuzzer starts from
what the product really receives. Re-run after a format changes; the grown corpus libFuzzer
adds beside them is kept too (fuzz/README.md)."""
import glob
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


# Scanner bytes: AIM ids, GS1 with FNC1 (GS), SSCC, carrier and domestic connotes, a prefix.
GS = b"\x1d"
write("barcode", "ups", b"1Z999AA10123456784")
write("barcode", "sscc", b"]C100106141411234567897")
write("barcode", "gs1", b"]C10100614141999996" + GS + b"10ABC123" + GS + b"21XYZ")
write("barcode", "domestic", b"ABC12345674")
write("barcode", "nz", b"NZ0123456789\r\n")
write("barcode", "prefixed", b"\x02##]C0NZ0123456789")
write("barcode", "s10", b"RR123456785NZ")
write("barcode", "badge", b"BADGE-0007")

# HID POS reports: id 0x02, length, AIM, data, vendor symbology at +60, "more" bit at +62.
def report(data, more=False, report_id=True, aim=b"]C0"):
    body = bytes([len(data)]) + aim + data
    body = body + bytes(60 - len(body)) + b"\x00\x00" + bytes([1 if more else 0, 0])
    return (b"\x02" if report_id else b"") + body[: 64 - (1 if report_id else 0)]

long_code = b"1Z999AA10123456784" * 4
write("hid_reports", "one", report(b"1Z999AA10123456784"))
write("hid_reports", "two_parts", report(long_code[:56], more=True) + report(long_code[56:]))
write("hid_reports", "no_report_id", report(b"NZ0123456789", report_id=False))
write("hid_reports", "other_report", b"\x05" + bytes(63))

# Partner bodies: first byte picks Shopify (0), Loop (1), Increff (2), tracking API (3).
shopify = {"id": 820982911946154508, "admin_graphql_api_id": "gid://shopify/Order/820982911946154508",
           "updated_at": "2026-11-24T01:00:00+13:00"}
write("webhook_bodies", "shopify", b"\x00" + json.dumps(shopify).encode())
write("webhook_bodies", "loop_closed", b"\x01" + b'{"topic":"return.closed","return":{"id":7001}}')
write("webhook_bodies", "loop_failed",
      b"\x01" + b'{"topic":"return.processing.failed","return":{"id":"7002"},"error":"card declined"}')
write("webhook_bodies", "increff_pickup", b"\x02" + json.dumps({
    "eventType": "RETURN_PICKED_UP", "returnOrderCode": "CP-I1", "awbNumber": "incawb1",
    "courierName": "Delhivery", "eventTime": "2026-11-23T08:00:00Z"}).encode())
write("webhook_bodies", "increff_rto", b"\x02" + b'{"eventType":"RTO","awbNumber":"BOLT1"}')
write("webhook_bodies", "tracking", b"\x03" + json.dumps([
    {"ConsignmentNo": "NZ0123456789", "Code": "RT", "Status": "In transit",
     "EventDT": "2026-11-23T08:00:00+13:00", "Carrier": "nzpost"},
    {"ConsignmentNo": "nz0123456789 ", "Code": "RP", "EventDT": "2026-11-24T09:30:00Z"}]).encode())

# Upload API bodies: first byte picks the currency (AUD, NZD, JPY, KWD) and reasons listed (bit 2).
row = {"ConsignmentNo": "NZ0123456789", "OrderNumber": "#1001", "Sku": "TEE-BLK-M",
       "EAN": "9421234567890", "Reason": "WRONG_SIZE", "SubReason": "too small",
       "ReturnAction": "REFUND", "ItemValue": "49.95", "Quantity": 2,
       "ItemDescription": "Tee, black, M", "HubId": "hub-akl", "CustomerName": "Aroha Ngata",
       "Email": "aroha@example.co.nz", "Country": "NZ"}
write("upload_rows", "two_rows", b"\x05" + json.dumps([row, dict(row, Sku="CAP-RED", ItemValue="19",
                                                           ReturnAction="CREDIT NOTE PLUS")]).encode())
write("upload_rows", "yen", b"\x02" + json.dumps([dict(row, ItemValue="4900", Country=None)]).encode())
write("upload_rows", "dinar", b"\x03" + json.dumps([dict(row, ItemValue="12.345", Reason="DAMAGED")]).encode())

# Sync pages: each golden payload as a pushed event, then all of them as one pull page.
events = []
for i, path in enumerate(sorted(glob.glob(os.path.join(HERE, "..", "crates", "protocol", "tests",
                                                        "golden", "events", "*.json")))):
    kind, version = os.path.basename(path).rsplit(".", 2)[0:2]
    version = int(version.lstrip("v"))
    with open(path) as f:
        payload = json.dumps(json.load(f), separators=(",", ":"))
    event = {"id": f"E-{i}", "device_id": "dev-akl-1", "hlc": f"{1780000000000 + i:015d}-{i:06d}-dev-akl-1",
             "actor": "U-1", "station": "bench-1", "kind": kind, "aggregate_id": "R-L1",
             "payload": payload, "recorded_at": "2026-11-23T08:00:00Z", "version": version}
    events.append(event)
    write("sync_wire", kind, json.dumps({"events": [event]}))
write("sync_wire", "pull_page", json.dumps({"events": events, "tracking": [],
                                            "cursor": {"events": 42, "tracking": 3}, "more": False}))

# hub.toml as setup writes it, and as an installer may extend it.
write("hub_toml", "setup", '[hub]\nid = "hub-akl"\nname = "Auckland"\nstation = "bench-1"\n'
      'lock_after_minutes = 15\n')
write("hub_toml", "central", '[hub]\nid = "hub-akl"\nname = "Auckland \\"North\\""\n'
      'station = "bench-1"\nlock_after_minutes = 15\n\n[central]\nurl = "https://central.example"\n')
write("hub_toml", "everything", '[hub]\nid = "hub-akl"\nname = "Tāmaki"\nstation = "b1"\n'
      'lock_after_minutes = 30\ndemo = false\n\n[central]\nurl = "http://10.0.0.5:8700"\n'
      'insecure = true\n\n[webhooks]\nretry_base_seconds = 5\nretry_max_seconds = 3600\n'
      'retry_budget = 20\n\n[dispatch]\nbackoff_base_ms = 500\nbackoff_max_ms = 60000\n'
      'max_attempts = 5\n')
