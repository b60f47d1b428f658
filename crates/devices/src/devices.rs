//! Lists the scanners and printers attached to the bench for the settings screen: serial and
//! USB-CDC ports (serialport + libudev) and USB devices with a HID or printer-class interface
//! (rusb). Listing opens nothing except, where permitted, a HID device to read its report
//! descriptor and tell a HID POS scanner (usage page 0x8C) from a keyboard.

use crate::usb::{
    hid_usage_pages, read_hid_report_descriptor, CLASS_HID, CLASS_PRINTER, USAGE_PAGE_POS,
};
use serde::Serialize;
use ts_rs::TS;

/// Zebra Technologies' USB vendor id (printers and scanners).
pub const VID_ZEBRA: u16 = 0x0A5F;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A tty: a serial scanner or printer, or a USB-CDC one (`vendor_id` set).
    SerialPort,
    /// A USB HID device declaring the HID POS usage page: a HID POS scanner.
    HidPosScanner,
    /// A USB HID device that is not (or could not be confirmed as) HID POS: keyboards and
    /// keyboard-wedge scanners, which the webview reads.
    UsbHid,
    /// A USB printer-class interface.
    UsbPrinter,
}

/// One row of the settings screen's device list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    /// The tty path for serial ports.
    pub path: Option<String>,
    pub vendor_id: Option<u16>,
    pub product_id: Option<u16>,
    pub manufacturer: Option<String>,
    pub product: Option<String>,
    pub serial_number: Option<String>,
    /// USB bus and address, to tell two identical devices apart.
    pub usb_location: Option<String>,
    /// Why a HID device could not be classified (typically: no permission to open it).
    pub note: Option<String>,
}

/// Serial ports (ttyS, ttyUSB, ttyACM…), with USB identity where libudev knows it.
pub fn list_serial_ports() -> Vec<DeviceInfo> {
    let Ok(ports) = serialport::available_ports() else {
        return Vec::new();
    };
    ports
        .into_iter()
        .map(|p| {
            let mut d = DeviceInfo {
                kind: DeviceKind::SerialPort,
                path: Some(p.port_name),
                vendor_id: None,
                product_id: None,
                manufacturer: None,
                product: None,
                serial_number: None,
                usb_location: None,
                note: None,
            };
            if let serialport::SerialPortType::UsbPort(u) = p.port_type {
                d.vendor_id = Some(u.vid);
                d.product_id = Some(u.pid);
                d.manufacturer = u.manufacturer;
                d.product = u.product;
                d.serial_number = u.serial_number;
            }
            d
        })
        .collect()
}

/// What a USB device's interface classes (and, for HID, usage pages) make it.
pub fn kinds_for_interfaces(classes: &[u8], hid_pages: Option<&[u16]>) -> Vec<DeviceKind> {
    let mut out = Vec::new();
    if classes.contains(&CLASS_PRINTER) {
        out.push(DeviceKind::UsbPrinter);
    }
    if classes.contains(&CLASS_HID) {
        out.push(match hid_pages {
            Some(p) if p.contains(&USAGE_PAGE_POS) => DeviceKind::HidPosScanner,
            _ => DeviceKind::UsbHid,
        });
    }
    out
}

/// USB devices with HID or printer-class interfaces.
pub fn list_usb_devices() -> Vec<DeviceInfo> {
    let Ok(devices) = rusb::devices() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for dev in devices.iter() {
        let Ok(desc) = dev.device_descriptor() else {
            continue;
        };
        let Ok(config) = dev.active_config_descriptor() else {
            continue;
        };
        let mut classes = Vec::new();
        let mut hid_iface = None;
        for i in config.interfaces() {
            for alt in i.descriptors() {
                classes.push(alt.class_code());
                if alt.class_code() == CLASS_HID && hid_iface.is_none() {
                    hid_iface = Some(alt.interface_number());
                }
            }
        }
        if !classes.contains(&CLASS_HID) && !classes.contains(&CLASS_PRINTER) {
            continue;
        }
        let mut note = None;
        let mut strings = (None, None, None);
        let mut pages = None;
        match dev.open() {
            Ok(h) => {
                strings = (
                    h.read_manufacturer_string_ascii(&desc).ok(),
                    h.read_product_string_ascii(&desc).ok(),
                    h.read_serial_number_string_ascii(&desc).ok(),
                );
                if let Some(iface) = hid_iface {
                    match read_hid_report_descriptor(&h, iface) {
                        Ok(d) => pages = Some(hid_usage_pages(&d)),
                        Err(e) => note = Some(format!("report descriptor: {e}")),
                    }
                }
            }
            Err(e) => note = Some(format!("cannot open: {e}")),
        }
        for kind in kinds_for_interfaces(&classes, pages.as_deref()) {
            out.push(DeviceInfo {
                kind,
                path: None,
                vendor_id: Some(desc.vendor_id()),
                product_id: Some(desc.product_id()),
                manufacturer: strings.0.clone(),
                product: strings.1.clone(),
                serial_number: strings.2.clone(),
                usb_location: Some(format!("{:03}:{:03}", dev.bus_number(), dev.address())),
                note: note.clone(),
            });
        }
    }
    out
}

/// Everything the settings screen lists. Call it again on a refresh (or periodically) to
/// follow hot-plugging.
pub fn list_devices() -> Vec<DeviceInfo> {
    let mut v = list_serial_ports();
    v.extend(list_usb_devices());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_classes_decide_the_kind() {
        assert_eq!(
            kinds_for_interfaces(&[CLASS_PRINTER], None),
            vec![DeviceKind::UsbPrinter]
        );
        assert_eq!(
            kinds_for_interfaces(&[CLASS_HID], Some(&[0x01, 0x8C])),
            vec![DeviceKind::HidPosScanner]
        );
        assert_eq!(
            kinds_for_interfaces(&[CLASS_HID], Some(&[0x01, 0x07])),
            vec![DeviceKind::UsbHid]
        );
        // Unknown pages (no permission): listed as plain HID, never guessed as POS.
        assert_eq!(
            kinds_for_interfaces(&[CLASS_HID], None),
            vec![DeviceKind::UsbHid]
        );
        // A Zebra printer with a HID management interface is listed as both.
        assert_eq!(
            kinds_for_interfaces(&[CLASS_PRINTER, CLASS_HID], None),
            vec![DeviceKind::UsbPrinter, DeviceKind::UsbHid]
        );
        assert!(kinds_for_interfaces(&[0x09, 0x0E], None).is_empty());
    }

    #[test]
    fn listing_this_machine_yields_well_formed_rows() {
        // The build machines have no scanners; whatever is listed must be identifiable.
        for d in list_devices() {
            assert!(d.path.is_some() || d.vendor_id.is_some(), "{d:?}");
        }
    }
}
